"""Shifts as people live them, built on the pure functions of schedules.oncall.

`final_shifts` clips its shifts to the range it is asked about, which is right for a rendered
range but wrong wherever a shift stands for itself: "on call since 09:00 Monday", a calendar
event whose UID must not change each time the feed is fetched. `whole_shifts` gives the shifts
meeting a range with their real edges, looking beyond the range as far as `reach`.

`stretches` joins a person's back-to-back shifts whatever their source (the layer's turn, then
an override for the same person): a calendar event, or a "your shift starts" e-mail, is about
being on call, not about which rule put you there.

Pure functions, UTC in and out, like schedules.oncall.
"""

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from operator import attrgetter

from schedules.oncall import ScheduleRules, Shift, final_shifts, join_touching

TINY = timedelta(microseconds=1)
# Beyond this a shift is shown as starting (or ending) at the edge of the reach: a layer with
# one participant is a single endless shift, so the search needs a bound.
REACH = timedelta(days=366)
_FIRST_STEP = timedelta(days=2)

Joiner = Callable[[list[Shift]], list[Shift]]


def stretches(shifts: Iterable[Shift]) -> list[Shift]:
    """Back-to-back shifts of the same person joined into one (source and ref of the first)."""
    return join_touching(shifts, attrgetter("user_id"))


def _as_is(shifts: list[Shift]) -> list[Shift]:
    return shifts


def whole_shifts(
    rules: ScheduleRules,
    t1: datetime,
    t2: datetime,
    *,
    by_person: bool = False,
    reach: timedelta = REACH,
) -> list[Shift]:
    """The final shifts meeting [t1, t2), not clipped to it (up to `reach` beyond it);
    joined into stretches per person when `by_person`."""
    join: Joiner = stretches if by_person else _as_is
    shifts = join(final_shifts(rules, t1, t2))
    if not shifts:
        return shifts
    if shifts[0].start == t1:
        # Its real beginning, with the source and ref of its real first part: a stretch that
        # began with a turn before t1 must not take an override's identity just because the
        # range starts inside that override (iCal UIDs and reminders key on it).
        shifts[0] = replace(_real_beginning(rules, t1, join, reach), end=shifts[0].end)
    if shifts[-1].end == t2:
        shifts[-1] = replace(shifts[-1], end=_real_end(rules, t2, join, reach))
    return shifts


def _real_beginning(rules: ScheduleRules, t: datetime, join: Joiner, reach: timedelta) -> Shift:
    """The shift covering t, from its real start (its end is not meaningful). Looks back in
    growing steps: most shifts are short, so the usual cost is one extra small computation."""
    step = min(_FIRST_STEP, reach)
    while True:
        low = t - step
        shift = join(final_shifts(rules, low, t + TINY))[-1]
        if shift.start > low or step >= reach:
            return shift
        step = min(step * 4, reach)


def _real_end(rules: ScheduleRules, t: datetime, join: Joiner, reach: timedelta) -> datetime:
    """Where the shift covering the instant just before t ends (t is a clipped end). The
    reach counts from that instant, so a shift at one instant reaches as far each way."""
    last = t - TINY
    step = min(_FIRST_STEP, reach)
    while True:
        high = last + step
        end = join(final_shifts(rules, last, high))[0].end
        if end < high or step >= reach:
            return end
        step = min(step * 4, reach)


def shift_at(rules: ScheduleRules, instant: datetime, *, reach: timedelta = REACH) -> Shift | None:
    """The final shift covering `instant`, with its real start and end; None in a gap."""
    shifts = whole_shifts(rules, instant, instant + TINY, reach=reach)
    return shifts[0] if shifts else None
