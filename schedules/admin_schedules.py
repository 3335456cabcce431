"""The managers' main screen: schedules, their layers (rotations) and overrides in the admin,
with the schedule's timeline on its page.

Rotations and overrides have no permissions of their own: they are their schedule's
(schedules.admin_access.ParentScopedAdmin, and ParentScopedInline with owner_path). Times are
the schedule's local times (schedules.admin_forms).
"""

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from schedules.access import perm_name, team_members
from schedules.admin_access import (
    ParentScopedAdmin,
    ParentScopedInline,
    TeamScopedAdmin,
    holds_any,
    is_active_staff,
    is_team_member,
    request_can,
)
from schedules.admin_forms import (
    LAYER_FIELDS,
    LAYER_ZONE,
    LayerLocalTimes,
    LayerTimesForm,
    LocalTimes,
    OverrideForm,
    ParticipantForm,
    ScheduleFeedForm,
    ScheduleForm,
    SchedulePage,
    TeamPeopleChoices,
    TeamPeopleInline,
    person_label,
    requested_schedule,
    rotation_people_form,
    shift_schedules,
    zone_choices,
    zone_names,
)
from schedules.feeds import rotate_feed_token, schedule_feed_url
from schedules.limits import EARLIEST, LATEST, MAX_PARTICIPANTS, MAX_RESTRICTIONS
from schedules.models import (
    Override,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from schedules.oncall import UNCOMPUTABLE, ScheduleRules, gaps
from schedules.selectors import oncall_user_ids, schedule_rules
from schedules.timeline import (
    DAY_CHOICES,
    Timeline,
    build_timeline,
    days_shown,
    local_span,
    local_time,
    window,
)

User = get_user_model()
GAP_HORIZON = timedelta(days=28)
GAPS_LISTED = 3
OVERRIDES_LISTED = 50  # on the schedule page
MEMBERS_LISTED = 30  # in the help of a layer's participants field
ZONE_HELP = (
    " Changing it keeps every handoff, end and override at the same instant: this page's "
    "times are read in the zone the schedule had, and show in the new one once saved. "
    "Restrictions of layers without a zone of their own keep their clock times, in the new "
    "zone."
)


# --- Gaps --------------------------------------------------------------------------------------


def uncomputable_message(error: Exception) -> str:
    return (
        "This schedule's rules cannot be computed, so nobody is on call through it and its "
        f"timeline cannot be drawn ({error}). They were stored past what the admin and the API "
        "accept: correct its time zone, or its layers' time zones, turns and dates."
    )


def warn_about_gaps(request: HttpRequest, schedule: Schedule) -> None:
    """After a save: tell the manager when nobody will be on call in the next 28 days."""
    now = timezone.now()
    end = now + GAP_HORIZON
    rules = schedule_rules([schedule.pk], window=(now, end)).get(schedule.pk)
    try:
        found = gaps(rules, now, end) if rules else []
    except UNCOMPUTABLE as error:
        messages.error(request, uncomputable_message(error))
        return
    if not found:
        return
    listed = "; ".join(
        local_span(gap.start, gap.end, schedule.time_zone) for gap in found[:GAPS_LISTED]
    )
    if len(found) > GAPS_LISTED:
        listed += f"; and {len(found) - GAPS_LISTED} more"
    messages.warning(
        request,
        f"Nobody is on call for “{schedule}” at these times in the next 28 days "
        f"({schedule.time_zone}): {listed}.",
    )


# --- The timeline ------------------------------------------------------------------------------


def _utc_stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def take_shift_url(start: datetime, end: datetime, *, schedule_id: int, user_id: int | None) -> str:
    """The override form, filled in for the person clicking to cover [start, end)."""
    query: dict[str, Any] = {"schedule": schedule_id, "start": _utc_stamp(start)}
    query["end"] = _utc_stamp(end)
    if user_id is not None:
        query["user"] = user_id
    return f"{reverse('admin:schedules_override_add')}?{urlencode(query)}"


def people_names(rules: ScheduleRules) -> dict[int, str]:
    ids = {user for layer in rules.layers for user in layer.participants if user is not None}
    ids |= {override.user_id for override in rules.overrides}
    return {user.pk: person_label(user) for user in User.objects.filter(pk__in=ids)}


def schedule_timeline(request: HttpRequest, schedule: Schedule, *, may_take: bool) -> Timeline:
    now = timezone.now()
    span = window(now, schedule.time_zone, days_shown(request.GET.get("days")))
    rules = schedule_rules([schedule.pk], window=(span.start, span.end))[schedule.pk]
    take = (
        partial(take_shift_url, schedule_id=schedule.pk, user_id=request.user.pk)
        if may_take
        else None
    )
    return build_timeline(
        rules,
        start=span.start,
        end=span.end,
        now=now,
        names=people_names(rules),
        layer_names={
            pk: f"{name} ({zone})" if zone else name
            for pk, name, zone in schedule.rotations.values_list("pk", "name", "time_zone")
        },
        take=take,
    )


# --- Schedule ----------------------------------------------------------------------------------


def team_usernames(schedule: Schedule | None) -> list[str]:
    """The usernames a layer of `schedule` may name (a few of them, for the field's help)."""
    if schedule is None or schedule.team_id is None:
        return []
    members = team_members(Team.objects.filter(pk=schedule.team_id)).order_by("username")
    names = list(members.values_list("username", flat=True)[: MEMBERS_LISTED + 1])
    return names if len(names) <= MEMBERS_LISTED else [*names[:MEMBERS_LISTED], "…"]


class RotationInline(LayerLocalTimes, ParentScopedInline, admin.TabularInline):
    """The layers, each with its participants in turn order (admin_forms.RotationPeopleForm)
    and its times in its own zone when it names one. Restrictions, and the participants as
    rows, are on the layer's own page."""

    model = Rotation
    fields = [*LAYER_FIELDS, "people"]
    extra = 0
    show_change_link = True
    verbose_name_plural = "layers (rotations): the highest priority that has someone wins"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rotation]:
        rotations = super().get_queryset(request).select_related("schedule")  # str(row)
        return rotations.prefetch_related("participants__user")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["form"] = rotation_people_form(team_usernames(obj))
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="participants, in turn order")
    def people(self, rotation: Rotation) -> str:
        """Shown instead of the field to those who may only view the schedule."""
        return " → ".join(person_label(p.user) for p in rotation.participants.all()) or "nobody"


class OverrideInline(LocalTimes, TeamPeopleInline, ParentScopedInline, admin.TabularInline):
    model = Override
    form = OverrideForm
    fields = ["user", "start", "end", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0
    verbose_name_plural = (
        f"overrides, current and the next {OVERRIDES_LISTED} (where they overlap, the newest "
        "wins; all of them are in the Overrides list)"
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Override]:
        # Past overrides stay in the overrides list; the schedule page is about what's ahead,
        # and shows a page's worth of it (a form per row: thousands of rows took seconds).
        overrides = super().get_queryset(request)
        upcoming = overrides.filter(end__gt=timezone.now()).order_by("start", "pk")
        first = upcoming.values("pk")[:OVERRIDES_LISTED]
        return overrides.filter(pk__in=first).select_related("user", "schedule")  # str(row)

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        return obj.team_id if obj is not None else None


class ScheduleChangeList(ChangeList):
    """Works out who is on call now for the whole page at once: a constant number of queries
    however many schedules it shows."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        ids = [schedule.pk for schedule in self.result_list]
        on_call = oncall_user_ids(ids, timezone.now()) if ids else {}
        people = User.objects.in_bulk({pk for pk in on_call.values() if pk is not None})
        for schedule in self.result_list:
            schedule.on_call = people.get(on_call.get(schedule.pk))  # type: ignore[arg-type]


class ScheduleAdmin(SchedulePage, TeamScopedAdmin):
    form = ScheduleForm
    list_display = ["name", "team", "time_zone", "on_call_now"]
    list_filter = [("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]
    fields = ["team", "name", "time_zone", "description"]
    inlines = [RotationInline, OverrideInline]
    change_form_template = "admin/schedules/schedule/change_form.html"  # type: ignore[misc]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ScheduleChangeList

    @admin.display(description="on call now")
    def on_call_now(self, schedule: Schedule) -> str:
        person = getattr(schedule, "on_call", None)  # set by ScheduleChangeList
        if person is None:
            return format_html('<strong style="color: var(--error-fg)">{}</strong>', "nobody")
        return person_label(person)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "time_zone":
            return forms.ChoiceField(
                # The blank first: a zone stored around validation must be chosen again, not
                # silently replaced by the first of the list.
                choices=[("", "---------"), *zone_choices()],
                initial=db_field.default,
                label="Time zone",
                help_text=db_field.help_text + ZONE_HELP,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        """An existing schedule's page is read in its stored zone, even by the POST that
        changes it: the times on the page were shown, and typed, in that zone, so its layers
        and overrides keep their instants. A new schedule's times are typed for the zone
        its form names."""
        if object_id:
            schedule = self.get_object(request, unquote(object_id))
            return schedule.time_zone if schedule else None
        posted = request.POST.get("time_zone", "")
        return posted if posted in zone_names() else None

    # The calendar feed, for those who may change the schedule: the URL is a secret that
    # reads the whole schedule, and replacing it cuts every subscriber off.

    def _shows_feed(self, request: HttpRequest, obj: Schedule | None) -> bool:
        return obj is not None and self.has_change_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = list(super().get_fields(request, obj))
        if self._shows_feed(request, obj):
            fields += ["calendar_url", "new_calendar_url"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), "calendar_url"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        if self._shows_feed(request, obj):
            kw["form"] = ScheduleFeedForm
        return super().get_form(request, obj, change, **kw)

    @admin.display(description="calendar feed")
    def calendar_url(self, schedule: Schedule) -> str:
        return format_html(
            "<code>{}</code><br>The final schedule, for calendar apps (iCal). Keep it secret: "
            "anyone with the URL can read the schedule.",
            schedule_feed_url(schedule),
        )

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "time_zone" in form.changed_data:
            self.message_user(
                request,
                f"The time zone is now {obj.time_zone}: handoffs and overrides kept their "
                "instants and show in that zone; restrictions of layers without a zone of "
                "their own keep their clock times in it.",
            )
        if form.cleaned_data.get("new_calendar_url"):
            rotate_feed_token(obj)  # audited
            self.message_user(
                request, "A new calendar URL was issued; the old one no longer works."
            )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Schedule | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            may_take = self.has_change_permission(request, obj) or takes_own_shifts(request, obj)
            try:
                context["timeline"] = schedule_timeline(request, obj, may_take=may_take)
            except UNCOMPUTABLE as error:
                context["timeline_error"] = uncomputable_message(error)
            context["day_choices"] = DAY_CHOICES
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        warn_about_gaps(request, form.instance)


def takes_own_shifts(request: HttpRequest, schedule: Schedule) -> bool:
    """Whether the user may cover shifts of `schedule` themselves ("take this shift"): any
    member of its team may, as in the API; OverrideAdmin then fixes the person to them."""
    membership = TeamMembership.objects.filter(
        team_id=schedule.team_id, user_id=request.user.pk or 0
    )
    return is_active_staff(request) and membership.exists()


# --- A schedule's parts: their own pages -------------------------------------------------------


class BackToSchedule:
    """After a plain Save, go back to the schedule's page: its timeline shows the result."""

    def _back(self, request: HttpRequest, obj: Any, response: HttpResponse) -> HttpResponse:
        stays = {"_continue", "_addanother", "_saveasnew", IS_POPUP_VAR} & set(request.POST)
        if isinstance(response, HttpResponseRedirect) and not stays:
            return HttpResponseRedirect(
                reverse("admin:schedules_schedule_change", args=[obj.schedule_id])
            )
        return response

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        response = super().response_add(request, obj, post_url_continue)  # type: ignore[misc]
        return self._back(request, obj, response)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        return self._back(request, obj, super().response_change(request, obj))  # type: ignore[misc]


class ScheduleChildAdmin(BackToSchedule, TeamPeopleChoices, SchedulePage, ParentScopedAdmin):
    """Rotations and overrides: their schedule's permissions, zone, people and gap warnings."""

    owner_model = Schedule
    owner_path = "schedule"
    list_filter = [("schedule", admin.RelatedOnlyFieldListFilter)]

    def requested(self, request: HttpRequest) -> Schedule | None:
        """The schedule an add page is for (?schedule=, or the one POSTed), if the user may
        add to it."""
        return requested_schedule(request)

    def _schedule_of(self, request: HttpRequest, object_id: str | None) -> Schedule | None:
        if object_id:  # a change page: the row's own schedule, which it keeps
            obj = self.get_object(request, unquote(object_id))
            return obj.schedule if obj else None
        return self.requested(request)

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        schedule = self._schedule_of(request, object_id)
        return schedule.time_zone if schedule else None

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        schedule = obj.schedule if obj is not None else self.requested(request)
        return schedule.team_id if schedule else None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A part stays with its schedule, as in the API: moved, it would take its people to
        # another team's schedule, checked against the old team. Create it there instead.
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "schedule"] if obj is not None else readonly

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        kw["formfield_callback"] = self._people_callback(request, obj)
        return super().get_form(request, obj, change, **kw)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        warn_about_gaps(request, form.instance.schedule)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        schedule = obj.schedule
        super().delete_model(request, obj)
        warn_about_gaps(request, schedule)

    @admin.display(description="schedule", ordering="schedule__name")
    def schedule_link(self, obj: Any) -> str:
        url = reverse("admin:schedules_schedule_change", args=[obj.schedule_id])
        return format_html('<a href="{}">{}</a>', url, obj.schedule)


class CappedInline:
    """At most `max_num` rows (schedules.limits), and at least `min_num`, refused on save:
    max_num alone only hides the add button, and a scripted or forged POST may carry any
    number of rows."""

    max_num: int
    min_num: int | None = None
    too_many: str  # with %(num)d
    too_few = ""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("validate_max", True)
        kwargs.setdefault("validate_min", bool(self.min_num))
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        # A class of its own per call (inlineformset_factory), so this stays with it.
        formset.default_error_messages = {
            "too_many_forms": self.too_many,
            "too_few_forms": self.too_few,
        }
        return formset


class ParticipantInline(CappedInline, TeamPeopleInline, ParentScopedInline, admin.TabularInline):
    model = RotationParticipant
    form = ParticipantForm
    owner_path = "schedule"
    fields = ["position", "user"]
    ordering = ["position", "pk"]
    extra = 1
    # A layer has someone, as on the schedule page and in the API: deleting every row is
    # refused, not saved as a layer of nobody.
    min_num = 1
    max_num = MAX_PARTICIPANTS
    too_many = "A rotation takes at most %(num)d participants."
    too_few = "A rotation needs at least one participant."
    verbose_name = "participant"
    verbose_name_plural = (
        "participants, in turn order (lowest position first; a person may take several places)"
    )

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        schedule = obj.schedule if obj is not None else requested_schedule(request)
        return schedule.team_id if schedule else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[RotationParticipant]:
        return super().get_queryset(request).select_related("user")  # str(row)


class RestrictionInline(CappedInline, ParentScopedInline, admin.TabularInline):
    model = Restriction
    owner_path = "schedule"
    fields = ["start_day", "start_time", "end_day", "end_time"]
    extra = 0
    max_num = MAX_RESTRICTIONS
    too_many = "A rotation takes at most %(num)d restrictions."
    verbose_name_plural = (
        "restrictions: the layer is on only in these windows, in its time zone (no day: "
        "every day; none at all: always on)"
    )

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is not None:  # say which zone (the admin makes its inlines anew per request)
            whose = "its own" if obj.time_zone else "the schedule's"
            self.verbose_name_plural = (
                f"restrictions: the layer is on only in these windows, in {obj.zone_name} "
                f"({whose} time zone; no day: every day; none at all: always on)"
            )
        return super().get_formset(request, obj, **kwargs)


class RotationAdmin(LayerLocalTimes, ScheduleChildAdmin):
    """A layer's own page: its times, and its restrictions' clock times, are in its own zone
    when it names one (LayerTimesForm), else in the schedule's."""

    form = LayerTimesForm
    list_display = ["name", "schedule_link", "priority", "starts", "zone", "turn", "people"]
    list_select_related = ["schedule"]
    search_fields = ["name", "schedule__name"]
    fields = ["schedule", *LAYER_FIELDS]
    inlines = [ParticipantInline, RestrictionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rotation]:
        return super().get_queryset(request).prefetch_related("participants__user")

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        if object_id and (rotation := self.get_object(request, unquote(object_id))):
            request.__dict__[LAYER_ZONE] = rotation.time_zone  # for the fields' help
            # Every time on the page is the layer's: the date widgets' "Now" and their note
            # about the browser's offset go by the page's zone.
            return rotation.zone_name
        return super().page_zone(request, object_id)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        schedule = requested_schedule(request)
        return {"schedule": schedule.pk} if schedule else {}

    @admin.display(description="first handoff", ordering="start")
    def starts(self, rotation: Rotation) -> str:
        return local_time(rotation.start, rotation.zone_name)

    @admin.display(description="time zone", ordering="time_zone")
    def zone(self, rotation: Rotation) -> str:
        return rotation.time_zone or f"{rotation.schedule.time_zone} (the schedule's)"

    @admin.display(description="turns")
    def turn(self, rotation: Rotation) -> str:
        unit = rotation.turn_unit.removesuffix("s") if rotation.turn_length == 1 else None
        return f"{rotation.turn_length} {unit or rotation.turn_unit}"

    @admin.display(description="participants, in turn order")
    def people(self, rotation: Rotation) -> str:
        return " → ".join(person_label(p.user) for p in rotation.participants.all())


def _instant(raw: str | None) -> datetime | None:
    """The aware instant `raw` names, if an override may hold it (schedules.limits); else None,
    and the field starts empty: one near year 1 or 9999 cannot even be shown in local time."""
    try:
        value = parse_datetime(raw or "")
    except ValueError:
        return None
    if value is None or timezone.is_naive(value):
        return None
    return value if EARLIEST <= value < LATEST else None


class OverrideAdmin(ScheduleChildAdmin):
    """Managers put anyone of their team on call; any member of a team may also cover a shift
    of its schedules themselves ("take this shift", as the API allows): for them the form
    offers their teams' schedules and only themselves. Changing and deleting overrides stays
    with the managers."""

    form = OverrideForm
    list_display = ["user", "schedule_link", "starts", "ends", "created_at"]
    list_select_related = ["schedule", "user"]
    search_fields = ["schedule__name", "user__username", "user__first_name", "user__last_name"]
    fields = ["schedule", "user", "start", "end"]
    ordering = ["-start"]

    def requested(self, request: HttpRequest) -> Schedule | None:
        return requested_schedule(request, shift_schedules(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) or (
            is_active_staff(request) and is_team_member(request)
        )

    def _puts_anyone_on_call(self, request: HttpRequest) -> bool:
        """Whether the user may put others on call from this page: they may change its
        schedule, or (before one is chosen) some schedule. Else only themselves."""
        if schedule := self.requested(request):
            return request_can(request, perm_name(Schedule, "change"), schedule)
        return holds_any(request, Schedule, "change")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "schedule":
            kwargs["queryset"] = shift_schedules(request.user)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "user" and field and not self._puts_anyone_on_call(request):
            field.queryset = User.objects.filter(pk=request.user.pk or 0)
        return field

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kw)
        form.editor = request.user  # a class of its own per call (modelform_factory)
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """What "take this shift" on the timeline fills in: ?schedule=&start=&end=&user=
        (instants in ISO 8601 with their offset)."""
        initial: dict[str, Any] = {}
        if schedule := self.requested(request):
            initial["schedule"] = schedule.pk
        for name in ("start", "end"):
            if instant := _instant(request.GET.get(name)):
                initial[name] = instant
        if (user := request.GET.get("user", "")).isdigit():
            initial["user"] = int(user)
        return initial

    @admin.display(description="start", ordering="start")
    def starts(self, override: Override) -> str:
        return local_time(override.start, override.schedule.time_zone)

    @admin.display(description="end", ordering="end")
    def ends(self, override: Override) -> str:
        return local_time(override.end, override.schedule.time_zone)


def register(site: admin.AdminSite) -> None:
    site.register(Schedule, ScheduleAdmin)
    site.register(Rotation, RotationAdmin)
    site.register(Override, OverrideAdmin)
