"""One layer: its zone, its turns and handoffs, and its shifts within its restrictions."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from schedules.oncall.clock import local_naive, to_utc, zone
from schedules.oncall.restrictions import restriction_windows
from schedules.oncall.rules import (
    ABSOLUTE_UNITS,
    LAYER,
    MAX_TURN,
    MIN_TURN,
    UNIT_LENGTHS,
    Layer,
    ScheduleRules,
    Shift,
    Window,
)


def layer_zone(layer: Layer, rules: ScheduleRules) -> ZoneInfo:
    """The zone the layer's handoffs and restrictions are wall-clock times in."""
    return zone(layer.time_zone or rules.time_zone)


def _turn_delta(layer: Layer) -> timedelta:
    """The turn's length; a layer whose turns are longer than MAX_TURN is refused (one of
    UNCOMPUTABLE), by every function alike: past that bound some would still answer (who is
    on call now needs no handoff but the last) while others overflowed (the shift's end)."""
    if (unit := UNIT_LENGTHS.get(layer.turn_unit)) is None:  # stored around the choices
        raise ValueError(f"layer {layer.id}: turns of {layer.turn_unit!r}, not a unit")
    delta = layer.turn_length * unit
    if delta > MAX_TURN:
        raise ValueError(f"layer {layer.id}: turns of {delta.days} days, past {MAX_TURN.days}")
    if delta < MIN_TURN:
        raise ValueError(f"layer {layer.id}: turns of {delta}, shorter than {MIN_TURN}")
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
