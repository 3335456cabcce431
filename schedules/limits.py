"""Bounds on what a schedule may hold, shared by the models (so the admin and full_clean()),
the API and the pure functions' callers.

They keep the schedule arithmetic (turns counted from a rotation's start, ranges, the reach of a
shift's real edges, local <-> UTC conversions) far from the limits of `datetime`, where it
raises OverflowError: a rotation starting in year 1, or turning every million weeks, would
otherwise break every page, feed and page-out that computes the schedule.
"""

import re
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError

from schedules.oncall import MAX_TURN as MAX_TURN  # the longest turn, a year
from schedules.oncall import MIN_TURN as MIN_TURN  # the shortest, 15 minutes
from schedules.oncall import MINUTES, UNIT_LENGTHS

# Instants a schedule may name: a year-long turn, REACH (a year) and any time zone's offset
# around them all stay well inside datetime's years 1 to 9999.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive
RANGE_MESSAGE = f"Give a time from {EARLIEST.year} to {LATEST.year - 1}."

# MIN_TURN and MAX_TURN (schedules.oncall's) bound every turn: nobody rotates more slowly
# than yearly, the turn arithmetic stays bounded, and so does the number of shifts a range
# holds.

# The size of one layer: far beyond any real team (four windows a day, every day of the
# week), and small enough that one request cannot make every computation of the schedule slow.
MAX_PARTICIPANTS = 100
MAX_RESTRICTIONS = 28
# PostgreSQL's smallint: the bound of small integer fields (priorities, positions), checked on
# SQLite too, which would store any integer.
SMALLINT_MAX = 32767


# An override stands in for every layer while it lasts: a long leave is covered by one, but
# not the whole life of a schedule. Checked where an override's times are written (the admin's
# form, the API), not by the model: an older, longer one must not stop the schedule's page
# from saving everything around it.
MAX_OVERRIDE = timedelta(days=366)
# Who takes a shift themselves, without the right to change the schedule, takes it from about
# now (the timeline's links start at the current minute): the past stays as the managers left
# it.
TAKE_BACKDATE = timedelta(hours=1)


def override_too_long(start: datetime, end: datetime) -> str | None:
    if end - start <= MAX_OVERRIDE:
        return None
    return f"An override may last at most {MAX_OVERRIDE.days} days."


def taken_too_early(start: datetime, now: datetime) -> str | None:
    """Why a shift taken by someone who may not change the schedule may not start then."""
    if start >= now - TAKE_BACKDATE:
        return None
    return (
        "You may take a shift from now on; only the team's managers change who was on call "
        "in the past."
    )


def max_turn_length(unit: str) -> int:
    """The most turns of `unit` that fit in MAX_TURN: 527,040 minutes, 8784 hours, 366 days,
    52 weeks."""
    return MAX_TURN // UNIT_LENGTHS[unit]


def turn_out_of_bounds(turn_length: int, turn_unit: str) -> str | None:
    """Why a turn of that length is refused, or None when it is fine (an unknown unit is the
    choice field's error, not this one's)."""
    if turn_unit not in UNIT_LENGTHS:
        return None
    if turn_length > max_turn_length(turn_unit):  # first: the product below would overflow
        return (
            f"A turn may last at most {MAX_TURN.days} days: {max_turn_length(turn_unit)} "
            f"{turn_unit}."
        )
    if turn_length * UNIT_LENGTHS[turn_unit] < MIN_TURN:
        return f"A turn lasts at least {MIN_TURN // UNIT_LENGTHS[MINUTES]} minutes."
    return None


def validate_schedule_instant(value: datetime) -> None:
    """A rotation's or an override's start or end lies in [EARLIEST, LATEST)."""
    if value.tzinfo is None:
        # Naive (Django warns, then reads it in the current zone): comparing needs an offset,
        # and hours either way make no difference at these bounds.
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValidationError(RANGE_MESSAGE, code="range")


# Control characters: line breaks, tabs, escapes. No name holds one (a feed strips them too).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def validate_one_line(value: str) -> None:
    """A name is one line of text: a line break or another control character in it would
    break what shows it on one line (a calendar feed's name, a list, a notice)."""
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError(
            "Give a name on one line, without line breaks, tabs or other control characters.",
            code="control",
        )
