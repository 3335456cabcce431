"""Forms and fields of the schedule pages (schedules.admin_schedules): times in the schedule's
time zone, and people from the schedule's team.

Times on these pages are wall-clock times in the schedule's time zone (a layer's own, when it
names one: LayerTimesForm): a manager in Berlin types the 09:00 handoff they mean, not its UTC
equivalent of the day. Django's admin would use
settings.TIME_ZONE; SchedulePage activates the schedule's zone while a page is handled, and
LocalSplitDateTimeField reads local times by the rules of schedules.oncall.
"""

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from functools import cache, partial
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin import widgets
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import timezone

from schedules.access import can, managed_teams, perm_name, team_members, visible
from schedules.admin_access import TeamScopedForm
from schedules.limits import MAX_PARTICIPANTS, RANGE_MESSAGE, taken_too_early
from schedules.models import (
    Override,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
    time_zone_names,
)
from schedules.oncall import local_naive, to_utc, zone
from schedules.selectors import people_named
from schedules.services import rotation_set_participants

_ZONE = "_schedule_page_zone"  # request attribute: the zone the page is handled in
# Request attribute on a layer's own page: the layer's own zone ("" when it names none).
LAYER_ZONE = "_layer_page_zone"
_REQUESTED = "_requested_schedule"


def person_label(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


# --- Local times ------------------------------------------------------------------------------


def zone_names() -> frozenset[str]:
    return time_zone_names()  # exactly what the model's validator accepts


@cache
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zone_names())]


class LocalSplitDateTimeField(forms.SplitDateTimeField):
    """A date and a time read as wall-clock time in the active zone by the schedule rules: a
    time the clocks skip means the first instant after it, an ambiguous one its first
    occurrence. Django's own field refuses both, so a page holding such an instant (an
    override taken at a 02:00 handoff on the night the clocks go back) could not be saved
    again even untouched."""

    # Read in this zone instead of the page's (a layer's own zone: LayerTimesForm).
    zone_name: str | None = None
    # Refuse a time the clocks skip instead of moving it (a layer's first handoff).
    must_exist = False

    def compress(self, data_list: tuple[date, time] | None) -> datetime | None:
        if not data_list:
            return None
        day, clock = data_list
        if day in self.empty_values:
            raise ValidationError(self.error_messages["invalid_date"], code="invalid_date")
        if clock in self.empty_values:
            raise ValidationError(self.error_messages["invalid_time"], code="invalid_time")
        name = self.zone_name or timezone.get_current_timezone_name()
        local = datetime.combine(day, clock)
        try:
            instant = to_utc(local, zone(name))
        except OverflowError:  # a date near year 1 or 9999: its UTC instant is past datetime's
            raise ValidationError(RANGE_MESSAGE, code="range") from None
        if self.must_exist and local_naive(instant, zone(name)) != local:
            raise ValidationError(skipped_message(local, instant, name), code="skipped")
        return instant


def skipped_message(local: datetime, change: datetime, name: str) -> str:
    """Why `local` cannot be a first handoff: the clocks skip it (`change` is when)."""
    second = timedelta(seconds=1)  # offsets change at whole seconds
    jumps_from = local_naive(change - second, zone(name)) + second
    jumps_to = local_naive(change, zone(name))
    return (
        f"There is no {local:%H:%M} on {local.day} {local:%B %Y} in {name}: the clocks go from "
        f"{jumps_from:%H:%M} straight to {jumps_to:%H:%M}. A layer hands off "
        "at its first handoff's local time every day or week, so start it on another day "
        "(the handoff on a day that skips it is made at the change)."
    )


class UntouchedInstants(forms.BaseForm):
    """A stored row's times that a POST leaves as they were shown keep their instants.

    Read back from their wall-clock text, an instant in the second pass of a repeated hour
    (02:30 CET on the night the clocks go back) would become the first one, an hour earlier,
    whenever anything else on the row changed: Django writes every field of a changed row."""

    instance: Any  # a ModelForm's

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None:
            return cleaned
        for name, field in self.fields.items():
            untouched = name in cleaned and name not in self.changed_data
            if untouched and isinstance(field, LocalSplitDateTimeField):
                cleaned[name] = getattr(self.instance, name)
        return cleaned


def local_help(db_field: models.Field, request: HttpRequest) -> str:
    name = request.__dict__.get(_ZONE)
    where = f"{name}, the schedule's time zone" if name else "the schedule's time zone"
    return f"{db_field.help_text} Local time in {where}.".strip()


def layer_local_help(db_field: models.Field, request: HttpRequest) -> str:
    name = request.__dict__.get(_ZONE)
    schedules = f"the schedule's, {name}" if name else "the schedule's"
    return (
        f"{db_field.help_text} Local time in the layer's time zone ({schedules}, when the "
        "layer names none)."
    ).strip()


class LocalTimes:
    """Datetime inputs in the schedule's zone, saying which (for admins and inlines)."""

    def local_help_text(self, db_field: models.Field, request: HttpRequest) -> str:
        return local_help(db_field, request)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.DateTimeField) and db_field.editable:
            kwargs.setdefault("form_class", LocalSplitDateTimeField)
            kwargs.setdefault("widget", widgets.AdminSplitDateTime)
            kwargs.setdefault("help_text", self.local_help_text(db_field, request))
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]


class LayerLocalTimes(LocalTimes):
    """A layer's page or rows: its times are in its own zone when it names one
    (LayerTimesForm), and its zone is chosen from the IANA names or left to the schedule."""

    def local_help_text(self, db_field: models.Field, request: HttpRequest) -> str:
        own = request.__dict__.get(LAYER_ZONE)
        if own is None:  # a new layer, or the rows of several
            return layer_local_help(db_field, request)
        if own:
            return f"{db_field.help_text} Local time in {own}, the layer's time zone.".strip()
        return local_help(db_field, request)  # it names none: the schedule's

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "time_zone":
            return layer_zone_field(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


def layer_zone_field(db_field: models.Field) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", "the schedule's"), *zone_choices()],
        required=False,
        label="Time zone",
        help_text=f"{db_field.help_text} Changing it keeps the layer's start and end at the "
        "same instant; its restrictions keep their clock times, in the new zone.",
    )


class LayerTimesForm(UntouchedInstants, forms.ModelForm):
    """A layer's start and end, read and shown in the layer's own zone when it names one (a
    region's layer of a follow-the-sun schedule: its manager types Sydney's 09:00), else in
    the page's (the schedule's).

    As on the schedule page, a stored layer is read in the zone it has, even by the POST that
    changes it: its times were shown, and typed, in that zone, so they keep their instants. A
    new layer's times are typed for the zone its row names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(start := self.fields.get("start"), LocalSplitDateTimeField):
            start.must_exist = True
        name = self.reading_zone()
        if name is None:
            return
        for field_name in ("start", "end"):
            field = self.fields.get(field_name)
            if not isinstance(field, LocalSplitDateTimeField):
                continue
            field.zone_name = name
            # Shown in the layer's zone: handed to the widget as its two parts (which it would
            # otherwise compute in the page's zone), to the second like Django's own.
            if isinstance(value := self.initial.get(field_name), datetime):
                local = value.astimezone(zone(name))
                self.initial[field_name] = [local.date(), local.time().replace(microsecond=0)]

    def reading_zone(self) -> str | None:
        if self.instance.pk is not None:
            # A zone stored around validation that is not one reads as the page's: the page
            # must open for the manager to choose a real one.
            name = self.instance.time_zone
        else:
            name = self.data.get(self.add_prefix("time_zone"), "") if self.is_bound else ""
        return name if name in zone_names() else None


class SchedulePage(LocalTimes):
    """An add or change page about one schedule's times: handled, and rendered, in that
    schedule's zone (settings.TIME_ZONE until the page knows its schedule)."""

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        raise NotImplementedError

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        name = self.page_zone(request, object_id)
        if name not in zone_names():  # none yet, or stored around validation: not a zone
            name = None
        request.__dict__[_ZONE] = name
        with timezone.override(zone(name or settings.TIME_ZONE)):
            response = super().changeform_view(  # type: ignore[misc]
                request, object_id, form_url, extra_context
            )
            if isinstance(response, SimpleTemplateResponse):
                response.render()  # now: rendering is lazy, and the zone ends with the block
        return response  # type: ignore[no-any-return]


def requested_schedule(
    request: HttpRequest, among: QuerySet[Schedule] | None = None
) -> Schedule | None:
    """The schedule a rotation or override form is for (POSTed, or ?schedule= on an add
    page), if it is one of `among`: by default, those the user may change. Looked up once
    per request (a page asks with the same `among` each time)."""
    key = _REQUESTED if among is None else f"{_REQUESTED}_among"
    if key not in request.__dict__:
        raw = request.POST.get("schedule") or request.GET.get("schedule") or ""
        if among is None:
            among = visible(request.user, perm_name(Schedule, "change"), Schedule.objects.all())
        request.__dict__[key] = among.filter(pk=raw).first() if raw.isdigit() else None
    schedule: Schedule | None = request.__dict__[key]
    return schedule


def shift_schedules(user: Any) -> QuerySet[Schedule]:
    """The schedules `user` may add overrides to: those they may change (for anyone), and
    their own teams' (for themselves: "take this shift", as the API allows)."""
    editable = visible(user, perm_name(Schedule, "change"), Schedule.objects.all())
    own = models.Q(team__memberships__user=user.pk) if user.is_active else models.Q(pk__in=[])
    return Schedule.objects.filter(models.Q(pk__in=editable.values("pk")) | own).distinct()


def _related(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except ObjectDoesNotExist:  # an unsaved row whose parent is not set yet
        return None


# --- People ------------------------------------------------------------------------------------


def selectable_people(request: HttpRequest, team_id: int | None) -> QuerySet[Any]:
    """The active members of the schedule's team; of the teams the editor manages while the
    schedule is not known yet (the row's form checks the team when it is)."""
    teams = Team.objects.filter(pk=team_id) if team_id else managed_teams(request.user)
    return team_members(teams).order_by("username")


def is_active_member(user: Any, team_id: int) -> bool:
    return bool(
        user.is_active and TeamMembership.objects.filter(team_id=team_id, user=user).exists()
    )


class TeamMemberForm(forms.ModelForm):
    """The row's person must be an active member of the schedule's team. The dropdown offers
    no one else; this refuses a forged POST, and a row moved to another team's schedule."""

    def schedule_of_row(self) -> Schedule | None:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        user, schedule = cleaned.get("user"), self.schedule_of_row()
        if user is None or schedule is None or schedule.team_id is None:
            return cleaned
        if not is_active_member(user, schedule.team_id):
            self.add_error("user", f"{user} is not an active member of {schedule.team}.")
        return cleaned


class OverrideForm(UntouchedInstants, TeamMemberForm):
    # Who saves the form, where a member who may not change the schedule may add an override
    # all the same, covering themselves (OverrideAdmin sets it; None: only editors get here).
    editor: Any = None

    class Meta:
        model = Override
        fields = ["schedule", "user", "start", "end"]

    def schedule_of_row(self) -> Schedule | None:
        return self.cleaned_data.get("schedule") or _related(self.instance, "schedule")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user, schedule, editor = cleaned.get("user"), self.schedule_of_row(), self.editor
        if editor is None or user is None or schedule is None:
            return cleaned
        if can(editor, perm_name(Schedule, "change"), schedule):
            return cleaned
        if user.pk != editor.pk:
            self.add_error(
                "user",
                "You may take a shift yourself; only the team's managers may put someone "
                "else on call.",
            )
        elif (start := cleaned.get("start")) and (why := taken_too_early(start, timezone.now())):
            self.add_error("start", why)
        return cleaned


class ParticipantForm(TeamMemberForm):
    class Meta:
        model = RotationParticipant
        fields = ["position", "user"]

    def schedule_of_row(self) -> Schedule | None:
        return _related(_related(self.instance, "rotation"), "schedule")


# --- A layer's people, typed on the schedule's page ----------------------------------------

_SEPARATORS = re.compile(r"[\s,]+")  # no username holds a space or a comma
PEOPLE_HELP = (
    "Usernames in turn order, separated by commas or new lines; a person may take several "
    "places. Active members of the schedule's team"
)


def usernames_in(text: str | None) -> list[str]:
    return [name for name in _SEPARATORS.split(text or "") if name]


class UsernamesField(forms.CharField):
    """Usernames in order, repeats kept. Changed only when the list is: "alice,bob" is what
    "alice, bob" was."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 28}))
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return usernames_in(super().to_python(value))

    def validate(self, value: Any) -> None:
        if len(value) > MAX_PARTICIPANTS:
            raise ValidationError(f"A rotation takes at most {MAX_PARTICIPANTS} participants.")

    def has_changed(self, initial: Any, data: Any) -> bool:
        return usernames_in(initial) != usernames_in(data)


def team_people_named(team: Team, usernames: Sequence[str]) -> list[Any]:
    """The active members of `team` with these usernames, in the order given, repeats kept
    (one query). A ValidationError names everyone who is not one."""
    found, unknown = people_named(team_members(Team.objects.filter(pk=team.pk)), usernames)
    if unknown:
        raise ValidationError(f"Not active members of {team}: {', '.join(unknown)}.")
    return found


# A layer's own fields, as its row on the schedule page and its own page show them.
# The zone before the times: they are read in it.
LAYER_FIELDS = ["name", "priority", "time_zone", "start", "end", "turn_length", "turn_unit"]


class RotationPeopleForm(LayerTimesForm):
    """A layer on its schedule's page, its participants typed in turn order: the admin cannot
    nest the rotation page's participants inline in the schedule's. Checked against the team
    the schedule has after this POST (a team changed on the same page counts), and saved by
    services.rotation_set_participants only when the list changed."""

    people = UsernamesField(label="Participants, in turn order", help_text=f"{PEOPLE_HELP}.")

    class Meta:
        model = Rotation
        fields = LAYER_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen: list[Any] | None = None  # the people to save, once checked
        if self.instance.pk is not None:  # participants__user prefetched by the inline
            names = [place.user.username for place in self.instance.participants.all()]
            self.initial["people"] = ", ".join(names)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        names, schedule = cleaned.get("people"), cleaned.get("schedule")  # schedule: the page's
        if names is None or schedule is None or schedule.team_id is None:
            return cleaned  # the field's own error, or no team yet (the schedule form's error)
        if not names and (self.instance.pk is None or "people" in self.changed_data):
            self.add_error("people", "Give at least one person: a layer without people is a gap.")
        elif "people" in self.changed_data:
            try:
                self.chosen = team_people_named(schedule.team, names)
            except ValidationError as error:
                self.add_error("people", error)
        return cleaned

    def _save_m2m(self) -> None:
        # Runs once the rotation is saved (and has a pk), whether the formset saves with
        # commit or calls save_m2m() later.
        super()._save_m2m()  # type: ignore[misc]
        if self.chosen is not None:
            rotation_set_participants(self.instance, self.chosen)


def rotation_people_form(members: Sequence[str]) -> type[RotationPeopleForm]:
    """RotationPeopleForm whose help names the team's members (its usernames), when known."""
    if not members:
        return RotationPeopleForm
    help_text = f"{PEOPLE_HELP}: {', '.join(members)}."

    class TeamRotationPeopleForm(RotationPeopleForm):
        people = UsernamesField(label="Participants, in turn order", help_text=help_text)

    return TeamRotationPeopleForm


# --- Calendar feeds ----------------------------------------------------------------------------


def replace_calendar_url_field() -> forms.BooleanField:
    """The checkbox that gives a calendar feed a new secret URL (feeds.rotate_feed_token)."""
    return forms.BooleanField(
        required=False,
        label="Replace the calendar URL",
        help_text="Issue a new secret URL; calendars subscribed to the old one stop updating.",
    )


class ScheduleForm(TeamScopedForm):
    """Moving a schedule to another team is refused while it names people outside that team,
    or other teams' escalation levels page through it (the move guards of schedules.apps
    and escalation.apps)."""

    class Meta:
        model = Schedule
        fields = ["team", "name", "time_zone", "description"]


class ScheduleFeedForm(ScheduleForm):
    """The schedule page of those who may change it: also replaces its calendar URL."""

    new_calendar_url = replace_calendar_url_field()


class TeamPeopleChoices:
    """The `user` field offers the people of the team whose schedule the page is about."""

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        raise NotImplementedError

    def _people_callback(self, request: HttpRequest, obj: Any) -> Any:
        return partial(
            self.formfield_for_dbfield, request=request, team_id=self.team_id_for(request, obj)
        )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        team_id = kwargs.pop("team_id", None)  # from _people_callback
        if db_field.name == "user":
            kwargs["queryset"] = selectable_people(request, team_id)
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]


class SharedChoicesFormSet(forms.BaseInlineFormSet):
    """Every row of the inline offers the same people: their choices are read once for the
    formset. Django runs each row's query again as it renders it (and again for the empty
    row that "Add another" copies), so a page would cost a query per row. Rows posted are
    still checked against the field's queryset."""

    shared_choice_fields = ("user",)

    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)
        shared: dict[str, list[Any]] = self.__dict__.setdefault("_shared_choices", {})
        for name in self.shared_choice_fields:
            field = form.fields.get(name)
            if isinstance(field, forms.ModelChoiceField):
                if name not in shared:
                    choices: Any = field.choices  # a ModelChoiceIterator: one query
                    shared[name] = list(choices)
                field.choices = shared[name]


class TeamPeopleInline(TeamPeopleChoices):
    formset: Any = SharedChoicesFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["formfield_callback"] = self._people_callback(request, obj)
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
