"""Serializer fields of the schedules API: instants that must carry an offset, people named
by id or username, and schedules as far as the requesting user may see them."""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from schedules.access import perm_name, team_members, visible
from schedules.limits import EARLIEST, LATEST, MAX_PARTICIPANTS, RANGE_MESSAGE
from schedules.models import Schedule, Team
from schedules.selectors import people_named

User = get_user_model()

# A "+" in a query string arrives as a space unless the client encoded it as %2B; a space
# between a time and an offset can only have been that "+".
_PLUS_AS_SPACE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant with an explicit offset (or Z), handled and shown in UTC.

    A time without an offset is refused rather than guessed: callers sit in every time zone,
    and "09:00" is a different instant to each of them."""

    default_error_messages = {
        "naive": "Give a time zone offset, e.g. 2026-03-29T09:00:00+02:00 or "
        "2026-03-29T07:00:00Z (in a query string, send '+' as %2B).",
        # What a schedule may hold (schedules.limits), for query parameters too: the schedule
        # arithmetic then stays far from datetime's limits, where it would overflow.
        "range": RANGE_MESSAGE,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            value = _PLUS_AS_SPACE.sub(r"\1+\2", value.strip())
        instant: datetime = super().to_internal_value(value)
        if not EARLIEST <= instant < LATEST:
            self.fail("range")
        return instant

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


MAX_ID = 2**63 - 1  # the largest id a database holds: larger overflow its queries


class PersonRefField(serializers.Field):
    """A person named by user id (a JSON number) or by username (a JSON string); the type
    decides which, so a username made of digits is never mistaken for an id."""

    default_error_messages = {"invalid": "Give a user id (a number) or a username (a string)."}

    def to_internal_value(self, data: Any) -> int | str:
        if isinstance(data, str) and data.strip():
            return data.strip()
        if isinstance(data, int) and not isinstance(data, bool) and 0 < data <= MAX_ID:
            return data
        self.fail("invalid")

    def to_representation(self, user: Any) -> str:
        return str(user.username)


def resolve_people(refs: Sequence[int | str]) -> list[Any]:
    """The active users `refs` name, in order; unknown ones are a ValidationError."""
    found, unknown = people_named(User.objects.filter(is_active=True), refs)
    if unknown:
        raise serializers.ValidationError(f"No active user: {', '.join(unknown)}.")
    return found


def resolve_members(team: Team, refs: Sequence[int | str]) -> list[Any]:
    """The active members of `team` that `refs` name, in order. Anyone else (unknown,
    inactive, in another team) gets one answer, naming the refs as given: it tells nothing
    about people outside the team (not even that an id is someone's)."""
    found, unknown = people_named(team_members(Team.objects.filter(pk=team.pk)), refs)
    if unknown:
        raise serializers.ValidationError(
            f"Not active members of the team {team}: {', '.join(unknown)}."
        )
    return found


class ParticipantsField(serializers.ListField):
    """User refs, resolved by the serializer among the schedule's team."""

    child = PersonRefField()
    default_error_messages = {
        "max_length": "A rotation takes at most {max_length} participants.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_PARTICIPANTS, **kwargs)  # also the schema's maxItems

    def to_representation(self, participants: Any) -> list[str]:
        return [participant.user.username for participant in participants.all()]


class VisibleScheduleField(serializers.PrimaryKeyRelatedField):
    """A schedule the requesting user may see. Whether they may change it is the view's
    question (a 403 with a reason), not a pretence that it does not exist."""

    def get_queryset(self) -> Any:
        user = self.context["request"].user
        return visible(user, perm_name(Schedule, "view"), Schedule.objects.select_related("team"))


_TIME_OFFSET = re.compile(r"(?:[+-]\d{2}(?::?\d{2})?|Z)$", re.IGNORECASE)


class WallClockTimeField(serializers.TimeField):
    """A time of day on the wall clock ("09:00"), in a zone the rest of the request names: an
    offset would be a second, contradicting zone, so it is refused rather than dropped."""

    default_error_messages = {
        "offset": "Give a wall-clock time without an offset, e.g. 09:00: it is read in the "
        "layer's time zone."
    }

    def to_internal_value(self, value: Any) -> Any:
        # Django's parse_time drops an offset without a word, so look at the text itself.
        if isinstance(value, str) and _TIME_OFFSET.search(value.strip()):
            self.fail("offset")
        return super().to_internal_value(value)
