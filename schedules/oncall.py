"""Who is on call: pure functions over a schedule's rules (no I/O; see schedules.selectors for
loading them).

Time, by construction:
- Every instant in and out is an aware UTC datetime; nothing depends on the process time zone.
- Day and week turns are calendar turns in the schedule's zone: the handoff keeps its local
  wall-clock time across DST changes. Hour turns are absolute durations.
- A local time that does not exist (the hour skipped in spring) means the first valid instant
  after it, which is the moment of the change; an ambiguous one (the hour repeated in autumn)
  means its first occurrence.
- Restrictions are wall-clock windows in the schedule's zone, so they too follow DST.

The final schedule at an instant: the most recently created override covering it, else the
highest-priority layer that has someone then, else nobody (a gap).
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

HOURS, DAYS, WEEKS = "hours", "days", "weeks"
LAYER, OVERRIDE = "layer", "override"
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class RestrictionRule:
    start_day: int | None  # None: every day
    start_time: time
    end_day: int | None
    end_time: time


@dataclass(frozen=True)
class Layer:
    id: int
    priority: int
    start: datetime
    end: datetime | None
    turn_length: int
    turn_unit: str
    participants: tuple[int, ...]  # user ids in turn order
    restrictions: tuple[RestrictionRule, ...] = ()


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


# --- Local time -> UTC ----------------------------------------------------------------------


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time in `tz` stands for (see the module docstring)."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == local:
        return first  # it exists; fold=0 is the first occurrence when it is ambiguous
    # In a gap. fold=0 reads it with the offset from before the change, which lands after the
    # change; fold=1 with the offset from after, which lands before it. The change lies between.
    before = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _transition_between(before, first, tz)


def _transition_between(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (low, high] with high's UTC offset (offsets only change at whole
    seconds, so a binary search to the second is exact)."""
    target = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high


def local_naive(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


# --- One layer ------------------------------------------------------------------------------


def _turn_delta(layer: Layer) -> timedelta:
    if layer.turn_unit == HOURS:
        return timedelta(hours=layer.turn_length)
    return timedelta(days=layer.turn_length * (7 if layer.turn_unit == WEEKS else 1))


def handoff(layer: Layer, tz: ZoneInfo, k: int) -> datetime:
    """When turn `k` (0 = the first) begins."""
    if k == 0:
        return layer.start
    if layer.turn_unit == HOURS:
        return layer.start + k * _turn_delta(layer)
    return to_utc(local_naive(layer.start, tz) + k * _turn_delta(layer), tz)


def _turn_at(layer: Layer, tz: ZoneInfo, instant: datetime) -> int:
    """The index of the turn that contains `instant` (negative before the first handoff)."""
    delta = _turn_delta(layer)
    if layer.turn_unit == HOURS:
        return (instant - layer.start) // delta
    k = (local_naive(instant, tz) - local_naive(layer.start, tz)) // delta
    while k > 0 and handoff(layer, tz, k) > instant:
        k -= 1
    while handoff(layer, tz, k + 1) <= instant:
        k += 1
    return k


def _turns(layer: Layer, tz: ZoneInfo, t1: datetime, t2: datetime) -> Iterator[Shift]:
    if not layer.participants:
        return
    end = min(t2, layer.end) if layer.end else t2
    k = max(_turn_at(layer, tz, max(t1, layer.start)), 0)
    begin = handoff(layer, tz, k)
    while begin < end:
        following = handoff(layer, tz, k + 1)
        if following > t1:
            user = layer.participants[k % len(layer.participants)]
            yield Shift(max(begin, t1), min(following, end), user, LAYER, layer.id)
        k, begin = k + 1, following


def restriction_windows(
    rules: Sequence[RestrictionRule], tz: ZoneInfo, t1: datetime, t2: datetime
) -> list[Window]:
    """The union of the restriction windows that meet [t1, t2), merged and in order."""
    first_day = local_naive(t1, tz).date() - timedelta(days=7)  # a weekly window may start
    last_day = local_naive(t2, tz).date()  # up to a week before t1
    windows = [
        window
        for day in _days(first_day, last_day)
        for rule in rules
        if (window := _window_on(rule, day, tz)) and window.end > t1 and window.start < t2
    ]
    return _merge(windows)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _window_on(rule: RestrictionRule, day: date, tz: ZoneInfo) -> Window | None:
    if rule.start_day is None:
        span = 0 if rule.end_time > rule.start_time else 1
    elif day.weekday() != rule.start_day:
        return None
    else:
        span = (rule.end_day - rule.start_day) % 7 if rule.end_day is not None else 0
        if span == 0 and rule.end_time <= rule.start_time:
            span = 7
    start = to_utc(datetime.combine(day, rule.start_time), tz)
    end = to_utc(datetime.combine(day + timedelta(days=span), rule.end_time), tz)
    return Window(start, end) if end > start else None


def _merge(windows: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1].end:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, window.end))
        else:
            merged.append(window)
    return merged


def layer_shifts(layer: Layer, tz: ZoneInfo, t1: datetime, t2: datetime) -> list[Shift]:
    """The layer's shifts that meet [t1, t2), clipped to it and to its restrictions."""
    turns = list(_turns(layer, tz, t1, t2))
    if not layer.restrictions or not turns:
        return turns
    windows = restriction_windows(layer.restrictions, tz, t1, t2)
    return [
        Shift(max(turn.start, w.start), min(turn.end, w.end), turn.user_id, LAYER, layer.id)
        for turn in turns
        for w in windows
        if w.start < turn.end and turn.start < w.end
    ]


# --- The final schedule ---------------------------------------------------------------------


def final_shifts(rules: ScheduleRules, t1: datetime, t2: datetime) -> list[Shift]:
    """Who is on call from t1 to t2, as consecutive shifts (gaps are where none is)."""
    tz = zone(rules.time_zone)
    layers = sorted(rules.layers, key=lambda layer: (-layer.priority, layer.id))
    by_layer = [layer_shifts(layer, tz, t1, t2) for layer in layers]
    overrides = sorted(
        (o for o in rules.overrides if o.start < t2 and o.end > t1),
        key=lambda o: (o.created_at, o.id),
        reverse=True,
    )
    cuts = {t1, t2}
    for shifts in by_layer:
        cuts.update(edge for shift in shifts for edge in (shift.start, shift.end))
    cuts.update(edge for o in overrides for edge in (o.start, o.end) if t1 < edge < t2)
    pieces = (_winner(a, b, by_layer, overrides) for a, b in pairwise(sorted(cuts)))
    return _join(piece for piece in pieces if piece is not None)


def _winner(
    a: datetime, b: datetime, by_layer: list[list[Shift]], overrides: list[OverrideRule]
) -> Shift | None:
    for override in overrides:  # newest first
        if override.start <= a < override.end:
            return Shift(a, b, override.user_id, OVERRIDE, override.id)
    for shifts in by_layer:  # highest priority first
        for shift in shifts:
            if shift.start <= a < shift.end:
                return Shift(a, b, shift.user_id, LAYER, shift.ref)
    return None


def _join(pieces: Iterable[Shift]) -> list[Shift]:
    joined: list[Shift] = []
    for piece in pieces:
        last = joined[-1] if joined else None
        if (
            last
            and last.end == piece.start
            and (last.user_id, last.source, last.ref) == (piece.user_id, piece.source, piece.ref)
        ):
            joined[-1] = Shift(last.start, piece.end, last.user_id, last.source, last.ref)
        else:
            joined.append(piece)
    return joined


def oncall_at(rules: ScheduleRules, instant: datetime) -> Shift | None:
    """The final shift containing `instant`, or None in a gap."""
    shifts = final_shifts(rules, instant, instant + _TINY)
    return shifts[0] if shifts else None


def gaps(rules: ScheduleRules, t1: datetime, t2: datetime) -> list[Window]:
    """The stretches of [t1, t2) when nobody is on call."""
    found, cursor = [], t1
    for shift in final_shifts(rules, t1, t2):
        if shift.start > cursor:
            found.append(Window(cursor, shift.start))
        cursor = shift.end
    if cursor < t2:
        found.append(Window(cursor, t2))
    return found
