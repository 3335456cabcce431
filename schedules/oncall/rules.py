"""The rules a schedule is computed from, and what is computed from them: types and constants."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfoNotFoundError

MINUTES, HOURS, DAYS, WEEKS = "minutes", "hours", "days", "weeks"
UNIT_LENGTHS: dict[str, timedelta] = {
    MINUTES: timedelta(minutes=1),
    HOURS: timedelta(hours=1),
    DAYS: timedelta(days=1),
    WEEKS: timedelta(weeks=1),
}
# Turns of these are absolute durations; of the others, calendar turns (the docstring of
# schedules.oncall).
ABSOLUTE_UNITS = frozenset({MINUTES, HOURS})
LAYER, OVERRIDE = "layer", "override"
# The longest turn (schedules.limits refuses longer ones where rules are written): a year.
MAX_TURN = timedelta(days=366)
# The shortest: a year's shifts of a schedule (the API's longest range, a feed's reach) stay
# some tens of thousands, not the half a million of one-minute turns.
MIN_TURN = timedelta(minutes=15)

# What computing a schedule raises when its stored rules lie past schedules.limits (written
# around validation, or before the limits existed): datetime arithmetic out of range, or a
# zone name that is not one. Callers that must not fail for one bad schedule catch these.
UNCOMPUTABLE: tuple[type[Exception], ...] = (OverflowError, ValueError, ZoneInfoNotFoundError)


class RestrictionRule(NamedTuple):
    """A tuple, not a dataclass like the others: hashed in C, it keys the window cache
    (schedules.oncall.restrictions._windows_starting), which who-is-on-call over every schedule
    asks once per restricted layer."""

    start_day: int | None  # None: every day
    start_time: time
    end_day: int | None
    end_time: time


class Layer(NamedTuple):
    """A tuple too: the loader builds one per rotation of every schedule, and a frozen
    dataclass takes four times as long to build."""

    id: int
    priority: int
    start: datetime
    end: datetime | None
    turn_length: int
    turn_unit: str
    # User ids in turn order; None holds the place of someone who may not serve (no longer
    # active, or no longer in the team): their turns are gaps in this layer, and the turn
    # order of the others does not move.
    participants: tuple[int | None, ...]
    restrictions: tuple[RestrictionRule, ...] = ()
    time_zone: str | None = None  # None: the schedule's


@dataclass(frozen=True)
class OverrideRule:
    id: int
    user_id: int
    start: datetime
    end: datetime
    created_at: datetime


@dataclass(frozen=True)
class ScheduleRules:
    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[OverrideRule, ...] = ()


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    user_id: int
    source: str  # LAYER or OVERRIDE
    ref: int  # the layer's or the override's id


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
