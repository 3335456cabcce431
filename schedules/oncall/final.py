"""The final schedule: overrides and layers combined, over a range (final_shifts, gaps) or at
one instant (oncall_at, layers_on_at)."""

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from heapq import heappop, heappush
from itertools import pairwise
from zoneinfo import ZoneInfo

from schedules.oncall.clock import local_naive, to_utc
from schedules.oncall.layers import _turn_delta, layer_shifts, layer_zone
from schedules.oncall.restrictions import _DAY, _windows_starting
from schedules.oncall.rules import (
    ABSOLUTE_UNITS,
    LAYER,
    OVERRIDE,
    Layer,
    OverrideRule,
    ScheduleRules,
    Shift,
    Window,
)

_TINY = timedelta(microseconds=1)


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
