from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils import timezone
from rest_framework import serializers

from schedules.access import managed_teams, move_refusal, perm_name, visible
from schedules.api.fields import (
    AwareDateTimeField,
    ParticipantsField,
    PersonRefField,
    VisibleScheduleField,
    WallClockTimeField,
    resolve_members,
)
from schedules.feeds import person_feed_url, schedule_feed_url
from schedules.limits import MAX_RESTRICTIONS, override_too_long, turn_out_of_bounds
from schedules.models import (
    Override,
    PersonSettings,
    Restriction,
    Rotation,
    Schedule,
    Team,
    TeamMembership,
)
from schedules.oncall import LAYER, OVERRIDE
from schedules.services import rotation_set_participants, sync_rows

# Ranges of the shifts and gaps endpoints: the default when none is given (the admin
# timeline's default too), and the most one request may ask for.
DEFAULT_RANGE = timedelta(days=14)
MAX_RANGE = timedelta(days=366)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = TeamMembership
        fields = ["username", "role"]


class TeamSerializer(serializers.ModelSerializer):
    memberships = MembershipSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "memberships"]


class ManagedTeamField(serializers.PrimaryKeyRelatedField):
    """A team the requesting user manages: the only teams they may put things in."""

    def get_queryset(self) -> Any:
        return managed_teams(self.context["request"].user)


def refuse_move(instance: models.Model | None, team: Team | None, field: str = "team") -> None:
    """A 400, with the reason, when `instance` may not move to `team` (a policy or schedule
    another team's objects rely on: schedules.access.move_refusal). Nothing for a new object
    or a team that stays. Moving is otherwise fine: its permissions follow (access)."""
    if instance is not None and (reason := move_refusal(instance, team)):
        raise serializers.ValidationError({field: reason})


# --- Schedules, rotations, overrides --------------------------------------------------------


class ScheduleSerializer(serializers.ModelSerializer):
    team = ManagedTeamField()
    feed_url = serializers.SerializerMethodField(
        help_text="iCal subscription URL of the final shifts, for those who may change the "
        "schedule (null for others, as in the admin). Secret: anyone holding it can read the "
        "schedule, even after leaving the team; rotate-feed-token revokes it. Everyone has "
        "their own feed of their shifts (me/)."
    )

    class Meta:
        model = Schedule
        fields = ["id", "name", "description", "team", "time_zone", "feed_url"]

    def get_feed_url(self, schedule: Schedule) -> str | None:
        if schedule.pk not in self._changeable():
            return None
        return schedule_feed_url(schedule)

    def _changeable(self) -> frozenset[int]:
        """The ids of the schedules shown that the caller may change: one query for a whole
        list page."""
        memo = self.root.__dict__  # a list's rows share their root
        if "_changeable" not in memo:
            shown: Any = self.root.instance  # a page of schedules, or one
            ids = [s.pk for s in shown] if isinstance(shown, Iterable) else [shown.pk]
            user = self.context["request"].user
            mine = visible(user, perm_name(Schedule, "change"), Schedule.objects.filter(pk__in=ids))
            memo["_changeable"] = frozenset(mine.values_list("pk", flat=True))
        changeable: frozenset[int] = memo["_changeable"]
        return changeable

    def to_representation(self, schedule: Schedule) -> dict[str, Any]:
        data = super().to_representation(schedule)
        data["team"] = schedule.team_id
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_move(self.instance, attrs.get("team"))
        return attrs


def _model_clean(model: type[models.Model], attrs: dict[str, Any]) -> None:
    """The model's own clean(), so the API refuses what the admin refuses."""
    try:
        model(**attrs).clean()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        ) from exc


def _after_write(instance: Any, attrs: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Those fields as they will be once this (possibly partial) write is saved."""
    return {field: attrs.get(field, getattr(instance, field, None)) for field in fields}


def _same_schedule(instance: Any, schedule: Schedule | None) -> None:
    if instance is not None and schedule is not None and schedule.pk != instance.schedule_id:
        raise serializers.ValidationError(
            {"schedule": "This cannot move to another schedule; create it there instead."}
        )


def _members(schedule: Schedule, refs: Sequence[int | str], field: str) -> list[Any]:
    """Only the schedule's team is paged through it: anyone else is a mistake."""
    try:
        return resolve_members(schedule.team, refs)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({field: error.detail}) from None


def _turn_fits(turn_length: int | None, turn_unit: str | None) -> None:
    """The bound of Rotation.clean() (schedules.limits), on the values after this write."""
    if reason := turn_out_of_bounds(turn_length or 1, turn_unit or Rotation.Unit.WEEKS):
        raise serializers.ValidationError({"turn_length": reason})


class RestrictionSerializer(serializers.ModelSerializer):
    start_time = WallClockTimeField()
    end_time = WallClockTimeField()

    class Meta:
        model = Restriction
        fields = ["start_day", "start_time", "end_day", "end_time"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _model_clean(Restriction, attrs)
        return attrs


class RotationSerializer(serializers.ModelSerializer):
    schedule = VisibleScheduleField()
    start = AwareDateTimeField(help_text="The first handoff.")
    end = AwareDateTimeField(
        required=False, allow_null=True, help_text="Optional: the layer stops here."
    )
    participants = ParticipantsField(
        help_text="In turn order: user ids (numbers) or usernames (strings), members of the "
        "schedule's team; a person may appear more than once. Shown as usernames."
    )
    restrictions: serializers.ListSerializer[Restriction] = serializers.ListSerializer(
        child=RestrictionSerializer(),
        required=False,
        max_length=MAX_RESTRICTIONS,
        error_messages={"max_length": "A rotation takes at most {max_length} restrictions."},
        help_text="Windows (in the layer's time zone) when the layer is on; none: always. "
        f"At most {MAX_RESTRICTIONS}.",
    )

    class Meta:
        model = Rotation
        fields = [
            "id",
            "schedule",
            "name",
            "priority",
            "start",
            "end",
            "turn_length",
            "turn_unit",
            "time_zone",
            "participants",
            "restrictions",
        ]

    def to_representation(self, rotation: Rotation) -> dict[str, Any]:
        data = super().to_representation(rotation)
        data["schedule"] = rotation.schedule_id
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _same_schedule(self.instance, attrs.get("schedule"))
        schedule = attrs.get("schedule") or self.instance.schedule  # type: ignore[union-attr]
        _model_clean(Rotation, _after_write(self.instance, attrs, ["start", "end"]))
        _turn_fits(**_after_write(self.instance, attrs, ["turn_length", "turn_unit"]))
        participants = attrs.get("participants")
        if participants is not None:
            if not participants:
                raise serializers.ValidationError({"participants": "Give at least one person."})
            attrs["participants"] = _members(schedule, participants, "participants")
        return attrs

    @transaction.atomic
    def create(self, validated: dict[str, Any]) -> Rotation:
        participants = validated.pop("participants")
        restrictions = validated.pop("restrictions", [])
        rotation = Rotation.objects.create(**validated)
        rotation_set_participants(rotation, participants)
        _sync_restrictions(rotation, restrictions)
        return rotation

    @transaction.atomic
    def update(self, rotation: Rotation, validated: dict[str, Any]) -> Rotation:
        participants = validated.pop("participants", None)
        restrictions = validated.pop("restrictions", None)
        for field, value in validated.items():
            setattr(rotation, field, value)
        rotation.save()
        if participants is not None:
            rotation_set_participants(rotation, participants)
        if restrictions is not None:
            _sync_restrictions(rotation, restrictions)
        return rotation


def _sync_restrictions(rotation: Rotation, windows: Sequence[dict[str, Any]]) -> None:
    fields = RestrictionSerializer.Meta.fields
    sync_rows(
        list(rotation.restrictions.order_by("pk")),
        # Every field, so that a day left out of the request clears a stored one.
        [{field: window.get(field) for field in fields} for window in windows],
        lambda values: Restriction.objects.create(rotation=rotation, **values),
    )


class OverrideSerializer(serializers.ModelSerializer):
    schedule = VisibleScheduleField()
    user = PersonRefField(
        help_text="Who covers, a member of the schedule's team: a user id (a number) or a "
        "username (a string)."
    )
    start = AwareDateTimeField()
    end = AwareDateTimeField()

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "start", "end", "created_at"]
        read_only_fields = ["created_at"]

    def to_representation(self, override: Override) -> dict[str, Any]:
        data = super().to_representation(override)
        data["schedule"] = override.schedule_id
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _same_schedule(self.instance, attrs.get("schedule"))
        schedule = attrs.get("schedule") or self.instance.schedule  # type: ignore[union-attr]
        after = _after_write(self.instance, attrs, ["start", "end"])
        _model_clean(Override, after)
        if {"start", "end"} & attrs.keys() and (why := override_too_long(**after)):
            raise serializers.ValidationError({"end": why})
        if "user" in attrs:
            [attrs["user"]] = _members(schedule, [attrs["user"]], "user")
        return attrs


# --- Query parameters -----------------------------------------------------------------------


class InstantQuerySerializer(serializers.Serializer):
    at = AwareDateTimeField(required=False, help_text="ISO 8601 with an offset or Z; default: now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("at", timezone.now())
        return attrs


class RangeQuerySerializer(serializers.Serializer):
    start = AwareDateTimeField(
        required=False, help_text="ISO 8601 with an offset or Z; default: now."
    )
    end = AwareDateTimeField(
        required=False,
        help_text=f"ISO 8601 with an offset or Z; default: {DEFAULT_RANGE.days} days after "
        f"the start; at most {MAX_RANGE.days} days after it.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.setdefault("start", timezone.now())
        end = attrs.setdefault("end", start + DEFAULT_RANGE)
        if end <= start:
            raise serializers.ValidationError(
                {"end": "The end must be after the start (which defaults to now)."}
            )
        if end - start > MAX_RANGE:
            raise serializers.ValidationError(
                {"end": f"A range may span at most {MAX_RANGE.days} days."}
            )
        return attrs


# --- Who is on call (read-only answers, built from schedules.oncall's shifts) ---------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ScheduleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    team = serializers.IntegerField(source="team_id")


class ShiftSerializer(serializers.Serializer):
    user = PersonSerializer()
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    # A field named like Field.source: DRF's metaclass takes it off the class, mypy cannot know.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[LAYER, OVERRIDE], help_text="Whether a layer (rotation) or an override gave it."
    )
    ref = serializers.IntegerField(help_text="The id of that rotation or override.")


class OnCallSerializer(serializers.Serializer):
    schedule = ScheduleRefSerializer()
    at = AwareDateTimeField()
    shift = ShiftSerializer(
        allow_null=True,
        help_text="The shift covering `at`, with its real start and end (not cut at `at`); "
        "null when nobody is on call (a gap).",
    )


class ShiftsSerializer(serializers.Serializer):
    schedule = ScheduleRefSerializer()
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    shifts = ShiftSerializer(many=True, help_text="The final shifts, cut at start and end.")


class WindowSerializer(serializers.Serializer):
    start = AwareDateTimeField()
    end = AwareDateTimeField()


class GapsSerializer(serializers.Serializer):
    schedule = ScheduleRefSerializer()
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    gaps = WindowSerializer(many=True, help_text="When nobody is on call.")


# --- The caller's own calendar feed ---------------------------------------------------------


class PersonFeedSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    feed_url = serializers.SerializerMethodField(
        help_text="iCal subscription URL of your shifts in every schedule. Secret: "
        "rotate-feed-token revokes it."
    )

    class Meta:
        model = PersonSettings
        fields = ["username", "feed_url"]

    def get_feed_url(self, person: PersonSettings) -> str:
        return person_feed_url(person)
