"""Who is on call: pure functions over a schedule's rules (no I/O; see schedules.selectors for
loading them).

Time, by construction:
- Every instant in and out is an aware UTC datetime; nothing depends on the process time zone.
- Day and week turns are calendar turns in the layer's zone: the handoff keeps its local
  wall-clock time across DST changes. Minute and hour turns (custom lengths: 90 minutes, 36
  hours) are absolute durations.
- A local time that does not exist (the hour skipped in spring) means the first valid instant
  after it, which is the moment of the change; an ambiguous one (the hour repeated in autumn)
  means its first occurrence.
- Restrictions are wall-clock windows in the layer's zone, so they too follow DST.
- A layer's zone is the schedule's unless the layer names its own: a follow-the-sun schedule
  gives each region's layer its region's zone, and each keeps its local hours across its own
  region's DST changes (which fall on different dates, or never).

The final schedule at an instant: the most recently created override covering it, else the
highest-priority layer that has someone then, else nobody (a gap).
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from heapq import heappop, heappush
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES, HOURS, DAYS, WEEKS = "minutes", "hours", "days", "weeks"
UNIT_LENGTHS: dict[str, timedelta] = {
    MINUTES: timedelta(minutes=1),
    HOURS: timedelta(hours=1),
    DAYS: timedelta(days=1),
    WEEKS: timedelta(weeks=1),
}
# Turns of these are absolute durations; of the others, calendar turns (module docstring).
ABSOLUTE_UNITS = frozenset({MINUTES, HOURS})
LAYER, OVERRIDE = "layer", "override"
_TINY = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
# The longest turn (schedules.limits refuses longer ones where rules are written): a year.
MAX_TURN = timedelta(days=366)

# What computing a schedule raises when its stored rules lie past schedules.limits (written
# around validation, or before the limits existed): datetime arithmetic out of range, or a
# zone name that is not one. Callers that must not fail for one bad schedule catch these.
UNCOMPUTABLE: tuple[type[Exception], ...] = (OverflowError, ValueError, ZoneInfoNotFoundError)


class RestrictionRule(NamedTuple):
    """A tuple, not a dataclass like the others: hashed in C, it keys the window cache
    (_windows_starting), which who-is-on-call over every schedule asks once per restricted
    layer."""

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


def layer_zone(layer: Layer, rules: ScheduleRules) -> ZoneInfo:
    """The zone the layer's handoffs and restrictions are wall-clock times in."""
    return zone(layer.time_zone or rules.time_zone)


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
    # PEP 495: fold=0 reads a local time with the offset from before a change, fold=1 with
    # the one from after. Equal: the time is plain. Before > after: the clock went back and
    # the time is ambiguous; fold=0 is its first occurrence. Before < after: it went forward
    # and the time was skipped. (Reading the offsets beats a round trip through astimezone,
    # which is the hot path of a who-is-on-call-now over every schedule.)
    before = tz.utcoffset(local)
    after = tz.utcoffset(local.replace(fold=1))
    if before is None or after is None:  # not for a ZoneInfo; keeps the types honest
        raise ValueError(f"{tz} gives no UTC offset for {local}")
    if before >= after:
        return (local - before).replace(tzinfo=UTC)
    # Skipped: read with the offset from after, it lands before the change; from before,
    # after it. The change lies between.
    return _transition_between(
        (local - after).replace(tzinfo=UTC), (local - before).replace(tzinfo=UTC), tz
    )


def _transition_between(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (low, high] with high's UTC offset.

    Offsets only change at whole seconds, so the search runs over whole seconds, the bounds
    rounded outwards first. (Bisecting the raw bounds and truncating the midpoint to the
    second, as this once did, could put the midpoint back on `low` and loop forever when the
    bounds carried microseconds: a handoff at 02:00:00.585239 on a spring-forward day.)"""
    target = high.astimezone(tz).utcoffset()
    low = low.replace(microsecond=0)
    if high.microsecond:
        high = high.replace(microsecond=0) + _SECOND
    while high - low > _SECOND:
        middle = low + _SECOND * ((high - low) // (2 * _SECOND))
        if middle.astimezone(tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high


def local_naive(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


# --- One layer ------------------------------------------------------------------------------


def _turn_delta(layer: Layer) -> timedelta:
    """The turn's length; a layer whose turns are longer than MAX_TURN is refused (one of
    UNCOMPUTABLE), by every function alike: past that bound some would still answer (who is
    on call now needs no handoff but the last) while others overflowed (the shift's end)."""
    if (unit := UNIT_LENGTHS.get(layer.turn_unit)) is None:  # stored around the choices
        raise ValueError(f"layer {layer.id}: turns of {layer.turn_unit!r}, not a unit")
    delta = layer.turn_length * unit
    if delta > MAX_TURN:
        raise ValueError(f"layer {layer.id}: turns of {delta.days} days, past {MAX_TURN.days}")
    return delta


def handoff(layer: Layer, tz: ZoneInfo, k: int) -> datetime:
    """When turn `k` (0 = the first) begins."""
    if k == 0:
        return layer.start
    if layer.turn_unit in ABSOLUTE_UNITS:
        return layer.start + k * _turn_delta(layer)
    return to_utc(local_naive(layer.start, tz) + k * _turn_delta(layer), tz)


def _turn_at(layer: Layer, tz: ZoneInfo, instant: datetime) -> tuple[int, datetime]:
    """The index of the turn that contains `instant` (at or after the first handoff), and
    when it began."""
    delta = _turn_delta(layer)
    if layer.turn_unit in ABSOLUTE_UNITS:
        k = (instant - layer.start) // delta
        return k, handoff(layer, tz, k)
    # Counting by the wall clock can come out one turn short: in a repeated hour the clock
    # reads earlier than it did at a handoff made in the first pass. It never comes out long:
    # an instant whose clock reads at or after a handoff's wall-clock time is at or after the
    # handoff, which is that time's first occurrence (or, for a skipped time, the change).
    local_start = local_naive(layer.start, tz)
    k = max((local_naive(instant, tz) - local_start) // delta, 0)
    begin = to_utc(local_start + k * delta, tz) if k else layer.start
    while (following := to_utc(local_start + (k + 1) * delta, tz)) <= instant:
        k, begin = k + 1, following
    return k, begin


def _turns(
    layer: Layer, tz: ZoneInfo, t1: datetime, t2: datetime, *, runs: bool = False
) -> Iterator[Shift]:
    """The layer's turns meeting [t1, t2), clipped to it; with `runs`, a person's consecutive
    turns as one shift."""
    people = layer.participants
    end = min(t2, layer.end) if layer.end else t2
    first = max(t1, layer.start)
    # Without this a layer that ended before t1 gave an inverted shift (t1, layer.end), whose
    # edges then leaked outside [t1, t2) as cuts of the final schedule.
    if first >= end or all(person is None for person in people):
        return
    k, begin = _turn_at(layer, tz, first)
    if runs and len(set(people)) == 1:
        # One person throughout: one run, however long the range (stepping through its turns
        # made the real edges of a one-person hourly layer, a year each way, cost 100 ms).
        yield Shift(max(begin, t1), end, people[0], LAYER, layer.id)  # type: ignore[arg-type]
        return
    for following in _handoffs(layer, tz, k + 1):
        # Handoffs strictly increase: they are whole days apart on the wall clock, and no zone
        # has skipped more than a day (Samoa skipped exactly one, 30 December 2011).
        person = people[k % len(people)]
        if runs and following < end and people[(k + 1) % len(people)] == person:
            k += 1  # the same person's turn follows: the run goes on from `begin`
            continue
        if person is not None:
            yield Shift(max(begin, t1), min(following, end), person, LAYER, layer.id)
        if following >= end:
            return
        k, begin = k + 1, following


def _handoffs(layer: Layer, tz: ZoneInfo, k: int) -> Iterator[datetime]:
    """handoff(layer, tz, k), then k + 1, ... (k >= 1) by stepping, not recomputing: the hot
    loop of a long range of short turns."""
    delta = _turn_delta(layer)
    if layer.turn_unit in ABSOLUTE_UNITS:
        instant = layer.start + k * delta
        while True:
            yield instant
            instant += delta
    local = local_naive(layer.start, tz) + k * delta
    while True:
        yield to_utc(local, tz)
        local += delta


def restriction_windows(
    rules: Sequence[RestrictionRule], tz: ZoneInfo, t1: datetime, t2: datetime
) -> list[Window]:
    """The union of the restriction windows that meet [t1, t2), merged and in order.

    Windows are looked for from t1's local day (less the rule's lookback) to the day after
    t2's: where the clocks go back across midnight, an instant late on one local day can lie
    after the first occurrence of the next day's early hours, and so inside a window that
    starts on the next day."""
    first_day, last_day = local_naive(t1, tz).date(), local_naive(t2, tz).date() + _DAY
    return [
        window
        for window in _windows_starting(tuple(rules), tz, first_day, last_day)
        if window.end > t1 and window.start < t2
    ]


def _windows_starting(
    rules: tuple[RestrictionRule, ...], tz: ZoneInfo, first_day: date, last_day: date
) -> tuple[Window, ...]:
    """The rules' windows that start from first_day (less each rule's lookback) to last_day,
    merged and in order.

    Those of a day or two are remembered: they depend on nothing else, and schedules share
    their rules (weekdays 09:00-17:00 in a handful of zones), so who-is-on-call over every
    schedule computes them once per rule set, zone and day instead of once per layer. Longer
    ranges (a timeline, a feed) are computed each time: kept, their windows would add up to
    hundreds of megabytes in the cache."""
    if last_day - first_day <= _REMEMBERED_DAYS:
        return _remembered_windows(rules, tz, first_day, last_day)
    return _windows_of_days(rules, tz, first_day, last_day)


def _windows_of_days(
    rules: tuple[RestrictionRule, ...], tz: ZoneInfo, first_day: date, last_day: date
) -> tuple[Window, ...]:
    windows = [
        window
        for rule in rules
        for day in _start_days(rule, first_day - _lookback(rule), last_day)
        if (window := _window_on(rule, day, tz))
    ]
    return tuple(_merge(windows))


# A few thousand small entries: rule sets x zones x the days asked about around now.
_remembered_windows = lru_cache(maxsize=4096)(_windows_of_days)
_REMEMBERED_DAYS = timedelta(days=2)


def _lookback(rule: RestrictionRule) -> timedelta:
    """How many days before t1's a window that still covers t1 may start: a daily window
    ends by the next day, a weekly one within a week. (Looking back a week for every rule
    made a daily window cost eight days of conversions per who-is-on-call.)"""
    return timedelta(days=1 if rule.start_day is None else 7)


def _start_days(rule: RestrictionRule, first: date, last: date) -> Iterator[date]:
    """The days in [first, last] on which the rule's window starts: every day, or every week
    on its weekday (stepping a week at a time: who-is-on-call asks this for every rule of
    every layer of every schedule)."""
    day, step = first, timedelta(days=1)
    if rule.start_day is not None:
        day += timedelta(days=(rule.start_day - first.weekday()) % 7)
        step = timedelta(days=7)
    while day <= last:
        yield day
        day += step


def _window_on(rule: RestrictionRule, day: date, tz: ZoneInfo) -> Window | None:
    """The rule's window starting on `day` (one of its _start_days)."""
    if rule.start_day is None:
        span = 0 if rule.end_time > rule.start_time else 1
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


def layer_shifts(
    layer: Layer, tz: ZoneInfo, t1: datetime, t2: datetime, *, runs: bool = False
) -> list[Shift]:
    """The layer's shifts that meet [t1, t2), clipped to it and to its restrictions; in order,
    never overlapping. A shift per turn (as the timeline's layer rows show them), or with
    `runs` a shift per run of one person's consecutive turns (all the final schedule needs,
    since it joins them anyway)."""
    turns = list(_turns(layer, tz, t1, t2, runs=runs))
    if not layer.restrictions or not turns:
        return turns
    windows = restriction_windows(layer.restrictions, tz, t1, t2)
    return list(_within(turns, windows))


def _within(turns: list[Shift], windows: list[Window]) -> Iterator[Shift]:
    """The parts of the turns inside the windows. Both are ordered and disjoint, so one merge
    pass does it (every turn against every window was quadratic for short turns)."""
    first = 0
    for turn in turns:
        while first < len(windows) and windows[first].end <= turn.start:
            first += 1
        # `first` stays on a window that runs on into the next turn.
        w = first
        while w < len(windows) and windows[w].start < turn.end:
            window = windows[w]
            start, end = max(turn.start, window.start), min(turn.end, window.end)
            yield Shift(start, end, turn.user_id, LAYER, turn.ref)
            w += 1


# --- The final schedule ---------------------------------------------------------------------


def by_priority(layers: Iterable[Layer]) -> list[Layer]:
    """Highest priority first; of equal priorities, the older layer (the lower id)."""
    return sorted(layers, key=lambda layer: (-layer.priority, layer.id))


def _newest_first(override: OverrideRule) -> tuple[datetime, int]:
    return override.created_at, override.id


def final_shifts(rules: ScheduleRules, t1: datetime, t2: datetime) -> list[Shift]:
    """Who is on call from t1 to t2, as consecutive shifts (gaps are where none is)."""
    if t2 <= t1:
        return []
    by_layer = [
        layer_shifts(layer, layer_zone(layer, rules), t1, t2, runs=True)
        for layer in by_priority(rules.layers)
    ]
    overrides = [o for o in rules.overrides if o.start < t2 and o.end > t1]
    cuts = {t1, t2}
    for shifts in by_layer:
        cuts.update(edge for shift in shifts for edge in (shift.start, shift.end))
    cuts.update(edge for o in overrides for edge in (o.start, o.end) if t1 < edge < t2)
    return _join(_pieces(sorted(cuts), by_layer, overrides))


def _pieces(
    cuts: list[datetime], by_layer: list[list[Shift]], overrides: list[OverrideRule]
) -> Iterator[Shift]:
    """The winner between each pair of consecutive cuts. One sweep: the cuts ascend, so each
    layer's cursor and the set of live overrides only move forward (scanning every shift for
    every cut made 90 days of a busy schedule quadratic)."""
    live = _LiveOverrides(overrides)
    cursors = [_LayerCursor(shifts) for shifts in by_layer]  # highest priority first
    for a, b in pairwise(cuts):
        if override := live.newest_at(a):
            yield Shift(a, b, override.user_id, OVERRIDE, override.id)
        elif shift := next((s for cursor in cursors if (s := cursor.at(a))), None):
            yield Shift(a, b, shift.user_id, LAYER, shift.ref)


class _LayerCursor:
    """A layer's ordered, disjoint shifts, asked about ascending instants."""

    def __init__(self, shifts: list[Shift]) -> None:
        self._shifts, self._next = shifts, 0

    def at(self, instant: datetime) -> Shift | None:
        while self._next < len(self._shifts) and self._shifts[self._next].end <= instant:
            self._next += 1
        if self._next < len(self._shifts) and self._shifts[self._next].start <= instant:
            return self._shifts[self._next]
        return None


class _LiveOverrides:
    """Overrides asked about ascending instants: a heap of the started ones, newest on top;
    ended ones are dropped when they surface (one that is not on top cannot win anyway)."""

    def __init__(self, overrides: list[OverrideRule]) -> None:
        self._ranked = sorted(overrides, key=_newest_first)
        by_start = sorted(range(len(self._ranked)), key=lambda r: self._ranked[r].start)
        self._waiting = by_start[::-1]  # latest start first, so the next to start pops off
        self._heap: list[int] = []  # minus each started override's rank

    def newest_at(self, instant: datetime) -> OverrideRule | None:
        while self._waiting and self._ranked[self._waiting[-1]].start <= instant:
            heappush(self._heap, -self._waiting.pop())
        while self._heap and self._ranked[-self._heap[0]].end <= instant:
            heappop(self._heap)
        return self._ranked[-self._heap[0]] if self._heap else None


def join_touching(shifts: Iterable[Shift], key: Callable[[Shift], object]) -> list[Shift]:
    """Consecutive shifts that touch and have the same `key` joined into one, which keeps the
    first one's source and ref."""
    joined: list[Shift] = []
    for shift in shifts:
        last = joined[-1] if joined else None
        if last and last.end == shift.start and key(last) == key(shift):
            joined[-1] = Shift(last.start, shift.end, last.user_id, last.source, last.ref)
        else:
            joined.append(shift)
    return joined


def _same_rule(shift: Shift) -> tuple[int, str, int]:
    """A final shift is one person by one rule: the same person by another rule is another."""
    return shift.user_id, shift.source, shift.ref


def _join(pieces: Iterable[Shift]) -> list[Shift]:
    return join_touching(pieces, _same_rule)


def oncall_at(rules: ScheduleRules, instant: datetime) -> Shift | None:
    """The final shift containing `instant`, clipped to [instant, instant + 1 µs) (its real
    edges: schedules.stretches.shift_at), or None in a gap.

    The same rule as final_shifts, asked about one instant: it stops at the first source
    that has someone, so a covered instant never computes the lower layers (this runs for
    every schedule at once when a level fires)."""
    end = instant + _TINY
    if override := _newest_override_at(rules, instant):
        return Shift(instant, end, override.user_id, OVERRIDE, override.id)
    for layer in by_priority(rules.layers):
        tz = layer_zone(layer, rules)
        local = instant.astimezone(tz)
        if layer.participants and _layer_on(layer, tz, instant, local):
            place = _turn_index(layer, tz, instant, local) % len(layer.participants)
            if (user_id := layer.participants[place]) is not None:
                return Shift(instant, end, user_id, LAYER, layer.id)
    return None


def layers_on_at(rules: ScheduleRules, instant: datetime) -> Iterator[Layer]:
    """The layers oncall_at asks about `instant`, highest priority first: those on then
    (started, not ended, inside a restriction window), whoever their people are; none when
    an override covers it. oncall_at over these alone gives the same answer, so a loader
    need only read their people (schedules.selectors.oncall_user_ids), and usually only the
    first one's. Lazily: the layers after the first are rarely wanted."""
    if _newest_override_at(rules, instant):
        return
    for layer in by_priority(rules.layers):
        tz = layer_zone(layer, rules)
        if _layer_on(layer, tz, instant, instant.astimezone(tz)):
            yield layer


def _newest_override_at(rules: ScheduleRules, instant: datetime) -> OverrideRule | None:
    covering = (o for o in rules.overrides if o.start <= instant < o.end)
    return max(covering, key=_newest_first, default=None)


def _layer_on(layer: Layer, tz: ZoneInfo, instant: datetime, local: datetime) -> bool:
    """Whether the layer is on at `instant` (`local` is the instant in tz), as layer_shifts
    would say it, asking its restrictions without building its shifts. The property tests
    hold the two to agreeing."""
    if instant < layer.start or (layer.end is not None and instant >= layer.end):
        return False
    if not layer.restrictions:
        return True
    day = local.date()  # the same days restriction_windows looks at, for this instant
    windows = _windows_starting(tuple(layer.restrictions), tz, day, day + _DAY)
    return any(window.start <= instant < window.end for window in windows)


def _turn_index(layer: Layer, tz: ZoneInfo, instant: datetime, local: datetime) -> int:
    """_turn_at's index alone (`local` is the instant in tz): no handoff computed, unless the
    instant is in the second pass of a repeated hour. Only there can counting by the wall
    clock come out short: at any other instant, a clock reading below the next handoff's
    wall-clock time has never read it yet."""
    if layer.turn_unit in ABSOLUTE_UNITS:
        return (instant - layer.start) // _turn_delta(layer)
    delta = _turn_delta(layer)
    local_start = local_naive(layer.start, tz)
    k: int = max((local.replace(tzinfo=None) - local_start) // delta, 0)
    if local.fold:
        while to_utc(local_start + (k + 1) * delta, tz) <= instant:
            k += 1
    return k


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
