"""The managers' main screen: the schedules list, with who is on call now, and a
schedule's page, with its layers (rotations) and overrides inline and its timeline.
"""

from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from schedules.access import team_members
from schedules.admin.access import (
    ParentScopedInline,
    TeamScopedAdmin,
    is_active_staff,
)
from schedules.admin.forms import (
    LAYER_FIELDS,
    OverrideForm,
    ScheduleFeedForm,
    ScheduleForm,
    TeamPeopleInline,
    person_label,
    rotation_people_form,
)
from schedules.admin.gaps import uncomputable_message, warn_about_gaps
from schedules.admin.times import (
    LayerLocalTimes,
    LocalTimes,
    SchedulePage,
    zone_choices,
    zone_names,
)
from schedules.feeds import rotate_feed_token, schedule_feed_url
from schedules.models import Override, Rotation, Schedule, Team, TeamMembership
from schedules.oncall import UNCOMPUTABLE, ScheduleRules
from schedules.selectors import oncall_user_ids, schedule_rules
from schedules.timeline import (
    DAY_CHOICES,
    Timeline,
    build_timeline,
    days_shown,
    window,
)

User = get_user_model()
OVERRIDES_LISTED = 50  # on the schedule page
MEMBERS_LISTED = 30  # in the help of a layer's participants field
ZONE_HELP = (
    " Changing it keeps every handoff, end and override at the same instant: this page's "
    "times are read in the zone the schedule had, and show in the new one once saved. "
    "Restrictions of layers without a zone of their own keep their clock times, in the new "
    "zone."
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
    """The layers, each with its participants in turn order
    (schedules.admin.forms.RotationPeopleForm) and its times in its own zone when it names one.
    Restrictions, and the participants as rows, are on the layer's own page."""

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
        return overrides.filter(pk__in=first).select_related("user")  # str(row)

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
