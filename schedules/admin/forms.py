"""Forms and fields of the schedule pages (schedules.admin.schedules, .layers and
.overrides): people from the schedule's team, and the schedule's own form. Their times, in the
schedule's time zone, are in schedules.admin.times.
"""

import re
from abc import abstractmethod
from collections.abc import Sequence
from functools import partial
from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from schedules.access import can, managed_teams, perm_name, team_members
from schedules.admin.access import TeamScopedForm
from schedules.admin.times import LayerTimesForm, UntouchedInstants
from schedules.limits import (
    EARLIEST,
    LATEST,
    MAX_PARTICIPANTS,
    override_too_long,
    taken_too_early,
)
from schedules.models import (
    Override,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from schedules.selectors import people_named
from schedules.services import rotation_set_participants


def person_label(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


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

    @abstractmethod  # for mypy and the reader: ABCMeta would clash with Django's metaclasses
    def schedule_of_row(self) -> Schedule | None:
        """The schedule the row belongs to (each form says how to reach it)."""

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
        if why := self._too_long(cleaned):
            self.add_error("end", why)
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

    def _too_long(self, cleaned: dict[str, Any]) -> str | None:
        """Why the override's new times make it too long (schedules.limits.MAX_OVERRIDE). Not
        its stored times, for what they were; nor times out of bounds, which are the model's
        range error to tell."""
        start, end = cleaned.get("start"), cleaned.get("end")
        if not ({"start", "end"} & set(self.changed_data)) or not (start and end):
            return None
        if start < EARLIEST or end >= LATEST:
            return None
        return override_too_long(start, end)


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

    @abstractmethod  # for mypy and the reader: ABCMeta would clash with Django's metaclasses
    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        """The team whose people the page offers (each admin says how to reach it)."""

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
