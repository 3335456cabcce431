"""Property-based tests of schedules.oncall against an independent brute-force reference.

The reference below shares no code with schedules.oncall. It resolves wall-clock times by
trying both UTC offsets and, for a skipped time, stepping back minute by minute to the last
time before the jump (every change of these zones happens on a whole minute). It lists every
handoff of a layer from its first, every restriction window of every day around the range,
and answers "who is on call at t" by looking at all of them. Both it and the code under test
are piecewise constant in t, so comparing them at every breakpoint of either compares them
everywhere.
"""

import os
import time as process_clock
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schedules.oncall import (
    DAYS,
    HOURS,
    LAYER,
    MINUTES,
    OVERRIDE,
    WEEKS,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    Shift,
    final_shifts,
    gaps,
    layer_shifts,
    layers_on_at,
    oncall_at,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = [
    "Europe/Berlin",
    "America/Chicago",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
    "America/Santiago",  # changes at midnight: 00:00 does not exist one day a year
    "America/St_Johns",  # -03:30 / -02:30
    "Europe/Dublin",  # "negative DST" in tzdata: winter is the saving time
    "Asia/Kathmandu",  # +05:45, no DST
    "Australia/Adelaide",  # +09:30 / +10:30, southern hemisphere
]
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)
TINY = timedelta(microseconds=1)
Who = tuple[int, str, int] | None  # (user, source, ref) or nobody


# --- Reference: wall-clock time -----------------------------------------------------------------


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def readings(local: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose wall clock in tz reads `local` (0, 1 or 2 of them)."""
    tried = {(local - tz.utcoffset(local.replace(fold=f))).replace(tzinfo=UTC) for f in (0, 1)}  # type: ignore[operator]
    return sorted(u for u in tried if wall(u, tz) == local)


def ref_resolve(local: datetime, tz: ZoneInfo) -> datetime:
    """The first instant reading `local`; for a skipped time, the instant the clock jumped."""
    if found := readings(local, tz):
        return found[0]
    probe = local.replace(second=0, microsecond=0)
    while not readings(probe, tz):
        probe -= MINUTE
    return readings(probe, tz)[-1] + MINUTE  # the last minute before the jump, then the jump


# --- Reference: layers and the final schedule -----------------------------------------------------


def ref_handoffs(layer: Layer, tz: ZoneInfo, until: datetime) -> list[datetime]:
    """Every handoff from the first until one past `until`."""
    step = {
        MINUTES: MINUTE,
        HOURS: timedelta(hours=1),
        DAYS: timedelta(days=1),
        WEEKS: timedelta(weeks=1),
    }
    delta = step[layer.turn_unit] * layer.turn_length
    found, k = [layer.start], 1
    while found[-1] <= until:
        if layer.turn_unit in (MINUTES, HOURS):
            found.append(layer.start + k * delta)
        else:
            found.append(ref_resolve(wall(layer.start, tz) + k * delta, tz))
        k += 1
    return found


def ref_windows(
    rule: RestrictionRule, tz: ZoneInfo, t1: datetime, t2: datetime
) -> list[tuple[datetime, datetime]]:
    """The rule's windows for every local day from ten days before t1 to a day after t2."""
    day, last = wall(t1, tz).date() - timedelta(days=10), wall(t2, tz).date() + timedelta(days=1)
    found = []
    while day <= last:
        if rule.start_day is None:
            days_long = 1 if rule.end_time <= rule.start_time else 0
        else:
            days_long = (rule.end_day - rule.start_day) % 7  # type: ignore[operator]
            if days_long == 0 and rule.end_time <= rule.start_time:
                days_long = 7
        if rule.start_day is None or day.weekday() == rule.start_day:
            opens = ref_resolve(datetime.combine(day, rule.start_time), tz)
            closes = ref_resolve(datetime.combine(day + timedelta(days_long), rule.end_time), tz)
            found.append((opens, closes))
        day += timedelta(days=1)
    return found


class RefLayer:
    def __init__(self, layer: Layer, tz: ZoneInfo, t1: datetime, t2: datetime) -> None:
        self.layer = layer
        self.handoffs = ref_handoffs(layer, tz, t2)
        self.windows = [w for rule in layer.restrictions for w in ref_windows(rule, tz, t1, t2)]

    def who(self, t: datetime) -> int | None:
        layer = self.layer
        if not layer.participants or t < layer.start or (layer.end and t >= layer.end):
            return None
        if layer.restrictions and not any(a <= t < b for a, b in self.windows):
            return None
        turn = bisect_right(self.handoffs, t) - 1
        return layer.participants[turn % len(layer.participants)]

    def breakpoints(self) -> set[datetime]:
        edges = {self.layer.start, *self.handoffs, *(e for w in self.windows for e in w)}
        return edges | ({self.layer.end} if self.layer.end else set())


def replace_people(layer: Layer, people: tuple[int, ...]) -> Layer:
    return layer._replace(participants=people)


def ref_zone(layer: Layer, rules: ScheduleRules) -> ZoneInfo:
    """The layer's own zone, else the schedule's."""
    return ZoneInfo(layer.time_zone if layer.time_zone is not None else rules.time_zone)


class Reference:
    def __init__(self, rules: ScheduleRules, t1: datetime, t2: datetime) -> None:
        self.rules = rules
        ordered = sorted(rules.layers, key=lambda layer: (-layer.priority, layer.id))
        self.layers = [RefLayer(layer, ref_zone(layer, rules), t1, t2) for layer in ordered]

    def who(self, t: datetime) -> Who:
        covering = [o for o in self.rules.overrides if o.start <= t < o.end]
        if covering:
            newest = max(covering, key=lambda o: (o.created_at, o.id))
            return newest.user_id, OVERRIDE, newest.id
        for ref_layer in self.layers:
            if (user := ref_layer.who(t)) is not None:
                return user, LAYER, ref_layer.layer.id
        return None

    def breakpoints(self) -> set[datetime]:
        edges = {e for o in self.rules.overrides for e in (o.start, o.end)}
        return edges.union(*(ref_layer.breakpoints() for ref_layer in self.layers))


# --- Checking shift lists ---------------------------------------------------------------------


def assert_ordered_and_disjoint(shifts: list[Shift], t1: datetime, t2: datetime) -> None:
    for shift in shifts:
        assert t1 <= shift.start < shift.end <= t2, shift
    for before, after in pairwise(shifts):
        assert before.end <= after.start, (before, after)


def covering(shifts: list[Shift], t: datetime) -> Shift | None:
    """The shift of an ordered, disjoint list that contains t."""
    i = bisect_right([s.start for s in shifts], t) - 1
    return shifts[i] if i >= 0 and t < shifts[i].end else None


def who_in(shifts: list[Shift], t: datetime) -> Who:
    shift = covering(shifts, t)
    return (shift.user_id, shift.source, shift.ref) if shift else None


def probes(t1: datetime, t2: datetime, *edge_sets: Iterable[datetime]) -> list[datetime]:
    """Every edge inside [t1, t2) from either side, and t1: between two consecutive probes
    both functions are constant."""
    return sorted({t1} | {e for edges in edge_sets for e in edges if t1 <= e < t2})


# --- Strategies -----------------------------------------------------------------------------------


@cache
def changes(zone: str) -> list[datetime]:
    """When the zone's UTC offset changes in 2024 (to the hour), found with zoneinfo alone."""
    tz, hours = ZoneInfo(zone), [YEAR_START + timedelta(hours=h) for h in range(366 * 24)]
    return [
        b
        for a, b in pairwise(hours)
        if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()
    ]


def quarters(low: timedelta, high: timedelta) -> st.SearchStrategy[timedelta]:
    return st.integers(low // QUARTER, high // QUARTER).map(lambda n: n * QUARTER)


NOTABLE_TIMES = [
    time(h, m)
    for h, m in [
        (0, 0),
        (0, 30),
        (1, 30),
        (2, 0),
        (2, 15),
        (2, 30),
        (2, 45),
        (3, 0),
        (3, 45),
        (6, 0),
        (8, 0),
        (9, 0),
        (17, 0),
        (18, 0),
        (22, 0),
        (23, 45),
    ]
]
wall_times = st.one_of(
    st.sampled_from(NOTABLE_TIMES),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)
restrictions = st.one_of(
    st.builds(RestrictionRule, st.none(), wall_times, st.none(), wall_times),
    st.builds(RestrictionRule, st.integers(0, 6), wall_times, st.integers(0, 6), wall_times),
)


@st.composite
def anchors(draw: st.DrawFn, zone: str) -> datetime:
    """An instant near one of the zone's changes, or anywhere in 2024."""
    near = changes(zone)
    if near and draw(st.integers(0, 3)):  # mostly near one
        return draw(st.sampled_from(near)) + draw(quarters(-timedelta(days=2), timedelta(days=2)))
    return YEAR_START + draw(quarters(timedelta(0), timedelta(days=365)))


@st.composite
def layers(draw: st.DrawFn, layer_id: int, anchor: datetime) -> Layer:
    unit = draw(st.sampled_from([MINUTES, HOURS, DAYS, WEEKS]))
    lengths = {
        MINUTES: st.integers(20, 600),  # custom lengths: 90 minutes, 7.5 hours
        HOURS: st.integers(1, 36),
        DAYS: st.integers(1, 3),
        WEEKS: st.integers(1, 2),
    }
    length = draw(lengths[unit])
    start = anchor + draw(quarters(-timedelta(days=30), timedelta(days=2)))
    start += draw(st.just(timedelta(0)) | st.integers(1, 999_999).map(lambda us: us * TINY))
    ends = quarters(QUARTER, timedelta(days=40)).map(lambda length: start + length)
    end = draw(st.one_of(st.none(), st.none(), ends))
    return Layer(
        id=layer_id,
        priority=draw(st.integers(0, 2)),  # ties happen: the lower id wins them
        start=start,
        end=end,
        turn_length=length,
        turn_unit=unit,
        participants=tuple(draw(st.lists(st.integers(1, 5), max_size=5))),  # repeats, or none
        restrictions=tuple(draw(st.lists(restrictions, max_size=2))),
        # Mostly the schedule's zone; else a region's own (follow the sun), anchored near
        # the schedule zone's changes, not its own.
        time_zone=draw(st.one_of(st.none(), st.none(), st.sampled_from(ZONES))),
    )


@st.composite
def overrides(draw: st.DrawFn, override_id: int, t1: datetime, t2: datetime) -> OverrideRule:
    start = t1 + draw(quarters(-timedelta(days=1), t2 - t1 + timedelta(hours=12)))
    return OverrideRule(
        id=override_id,
        user_id=draw(st.integers(6, 8)),
        start=start,
        end=start + draw(quarters(QUARTER, timedelta(days=2))),
        created_at=YEAR_START + timedelta(hours=draw(st.integers(0, 6))),  # ties: higher id wins
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[ScheduleRules, datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    anchor = draw(anchors(zone))
    t1 = anchor - draw(quarters(timedelta(0), timedelta(days=3)))
    t2 = t1 + draw(quarters(QUARTER, timedelta(days=8)))
    count = draw(st.integers(1, 3))
    drawn_layers = tuple(draw(layers(10 + i, anchor)) for i in range(count))
    drawn_overrides = tuple(
        draw(overrides(100 + i, t1, t2)) for i in range(draw(st.integers(0, 4)))
    )
    return ScheduleRules(zone, drawn_layers, drawn_overrides), t1, t2


# --- Properties -----------------------------------------------------------------------------------

# Found by these properties: a layer that had ended before the range gave an inverted shift
# (t1, its end), and the final schedule then started an override's shift before t1.
ENDED_BEFORE_THE_RANGE = (
    ScheduleRules(
        "Europe/Berlin",
        (Layer(10, 0, YEAR_START, YEAR_START + timedelta(hours=10), 1, DAYS, (1,)),),
        (
            OverrideRule(
                100,
                6,
                YEAR_START + timedelta(hours=9),
                YEAR_START + timedelta(hours=14),
                YEAR_START,
            ),
        ),
    ),
    YEAR_START + timedelta(hours=12),
    YEAR_START + timedelta(hours=13),
)


@PROPERTY
@given(cases(), st.booleans())
@example(ENDED_BEFORE_THE_RANGE, False)
@example(ENDED_BEFORE_THE_RANGE, True)
def test_each_layer_gives_ordered_disjoint_shifts_matching_the_reference(
    case: tuple[ScheduleRules, datetime, datetime], runs: bool
) -> None:
    """A shift per turn, or per run of one person's turns (what the final schedule asks)."""
    rules, t1, t2 = case
    for layer in rules.layers:
        tz = ref_zone(layer, rules)
        shifts = layer_shifts(layer, tz, t1, t2, runs=runs)
        reference = RefLayer(layer, tz, t1, t2)

        assert_ordered_and_disjoint(shifts, t1, t2)
        if runs:  # every run whole: no two touching shifts of the same person
            assert all(a.end < b.start or a.user_id != b.user_id for a, b in pairwise(shifts)), (
                shifts
            )
        assert all((s.source, s.ref) == (LAYER, layer.id) for s in shifts)
        edges = {e for s in shifts for e in (s.start, s.end)}
        for t in probes(t1, t2, reference.breakpoints(), edges):
            shift = covering(shifts, t)
            assert (shift.user_id if shift else None) == reference.who(t), (layer, t)


@PROPERTY
@given(cases())
@example(ENDED_BEFORE_THE_RANGE)
def test_the_final_schedule_is_overrides_over_layers_by_priority_exactly(
    case: tuple[ScheduleRules, datetime, datetime],
) -> None:
    rules, t1, t2 = case
    shifts = final_shifts(rules, t1, t2)
    reference = Reference(rules, t1, t2)

    assert_ordered_and_disjoint(shifts, t1, t2)
    edges = {e for s in shifts for e in (s.start, s.end)}
    for t in probes(t1, t2, reference.breakpoints(), edges):
        assert who_in(shifts, t) == reference.who(t), t
    # Maximal: touching shifts are different people or different rules.
    for before, after in pairwise(shifts):
        if before.end == after.start:
            assert who_in([before], before.start) != who_in([after], after.start)


@PROPERTY
@given(cases(), st.data())
def test_oncall_at_agrees_with_the_final_shift_containing_the_instant(
    case: tuple[ScheduleRules, datetime, datetime], data: st.DataObject
) -> None:
    rules, t1, t2 = case
    shifts = final_shifts(rules, t1, t2)
    edges = [e for s in shifts for e in (s.start, s.end - TINY) if e < t2]
    anywhere = st.integers(0, (t2 - t1) // TINY - 1).map(lambda n: t1 + n * TINY)
    instants = [*edges[:20], *data.draw(st.lists(anywhere, max_size=10))]

    for t in instants:
        found = oncall_at(rules, t)
        assert ((found.user_id, found.source, found.ref) if found else None) == who_in(shifts, t)
        if found:
            assert (found.start, found.end) == (t, t + TINY)
        # The layers it asks are enough to answer (a loader reads only their people).
        asked = list(layers_on_at(rules, t))
        assert oncall_at(ScheduleRules(rules.time_zone, tuple(asked), rules.overrides), t) == found
        if found and found.source == OVERRIDE:
            assert asked == []
            continue
        on = [  # the layers that would have someone at t, were anyone in them
            layer
            for layer in sorted(rules.layers, key=lambda layer: (-layer.priority, layer.id))
            if layer_shifts(replace_people(layer, (1,)), ref_zone(layer, rules), t, t + TINY)
        ]
        assert asked == on


@PROPERTY
@given(cases())
def test_gaps_are_exactly_the_complement_of_the_final_shifts(
    case: tuple[ScheduleRules, datetime, datetime],
) -> None:
    rules, t1, t2 = case
    pieces = sorted(
        [(s.start, s.end, "shift") for s in final_shifts(rules, t1, t2)]
        + [(g.start, g.end, "gap") for g in gaps(rules, t1, t2)]
    )

    assert pieces[0][0] == t1
    assert pieces[-1][1] == t2
    for (_, end, kind), (start, _, next_kind) in pairwise(pieces):
        assert end == start  # tiled: no overlap, no hole
        assert not (kind == next_kind == "gap")  # each gap is maximal
    assert all(start < end for start, end, _ in pieces)


@PROPERTY
@given(cases(), st.data())
def test_a_range_split_in_two_gives_the_same_schedule(
    case: tuple[ScheduleRules, datetime, datetime], data: st.DataObject
) -> None:
    """Nothing depends on where the asked range starts (restriction windows that began
    before it, turns counted from long ago): the halves join into the whole."""
    rules, t1, t2 = case
    middle = t1 + data.draw(st.integers(1, (t2 - t1) // TINY - 1)) * TINY if t2 - t1 > TINY else t2
    halves = final_shifts(rules, t1, middle) + final_shifts(rules, middle, t2)
    joined: list[Shift] = []
    for shift in halves:
        last = joined[-1] if joined else None
        if (
            last
            and last.end == shift.start
            and who_in([last], last.start) == who_in([shift], shift.start)
        ):
            joined[-1] = Shift(last.start, shift.end, last.user_id, last.source, last.ref)
        else:
            joined.append(shift)

    assert joined == final_shifts(rules, t1, t2)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[Layer, ZoneInfo, datetime]:
    """A calendar layer handing off around the wall-clock time of a change, asked about an
    instant within hours of that change: the skipped and repeated hours, where counting turns
    by the wall clock alone goes wrong. (The general cases reach these rarely.)"""
    zone = draw(st.sampled_from([z for z in ZONES if changes(z)]))
    change = draw(st.sampled_from(changes(zone)))
    unit = draw(st.sampled_from([DAYS, WEEKS]))
    turns_before = draw(st.integers(1, 3)) * (7 if unit == WEEKS else 1)
    start = (
        change
        - timedelta(days=turns_before)
        + draw(quarters(-timedelta(hours=2), timedelta(hours=2)))
    )
    instant = change + draw(quarters(-timedelta(hours=2), timedelta(hours=2)))
    people = tuple(range(1, draw(st.integers(2, 4)) + 1))
    return Layer(10, 0, start, None, 1, unit, people), ZoneInfo(zone), instant


@PROPERTY
@given(near_a_change())
def test_the_turn_around_a_change_is_right_whatever_instant_the_range_starts_at(
    case: tuple[Layer, ZoneInfo, datetime],
) -> None:
    layer, tz, instant = case
    reference = RefLayer(layer, tz, instant, instant + TINY)

    shifts = layer_shifts(layer, tz, instant, instant + TINY)
    found = oncall_at(ScheduleRules(str(tz), (layer,)), instant)  # its one-instant path

    assert [s.user_id for s in shifts] == [reference.who(instant)]
    assert found is not None
    assert found.user_id == reference.who(instant)


@PROPERTY
@given(cases(), st.data())
def test_the_newest_override_wins_over_everything_it_covers(
    case: tuple[ScheduleRules, datetime, datetime], data: st.DataObject
) -> None:
    rules, t1, t2 = case
    start = t1 + data.draw(st.integers(0, (t2 - t1) // QUARTER)) * QUARTER
    newest = OverrideRule(999, 9, start, start + 2 * QUARTER, YEAR_START + timedelta(days=1))
    rules = ScheduleRules(rules.time_zone, rules.layers, (*rules.overrides, newest))

    assert final_shifts(rules, newest.start, newest.end) == [
        Shift(newest.start, newest.end, 9, OVERRIDE, 999)
    ]


@contextmanager
def process_time_zone(name: str) -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    process_clock.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        process_clock.tzset()


PROCESS_ZONES = ["Pacific/Chatham", "America/Chicago", "Asia/Kathmandu", "UTC"]


def test_the_process_time_zone_really_changes_in_these_tests() -> None:
    """Otherwise the next test would prove nothing."""
    offsets = set()
    for name in PROCESS_ZONES:
        with process_time_zone(name):
            offsets.add(process_clock.localtime(0).tm_gmtoff)
    assert len(offsets) == len(PROCESS_ZONES)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_results_do_not_depend_on_the_process_time_zone(
    case: tuple[ScheduleRules, datetime, datetime],
) -> None:
    rules, t1, t2 = case

    def everything() -> tuple[object, ...]:
        tz = ZoneInfo(rules.time_zone)
        by_layer = [layer_shifts(layer, tz, t1, t2) for layer in rules.layers]
        return final_shifts(rules, t1, t2), gaps(rules, t1, t2), oncall_at(rules, t1), by_layer

    results = []
    for name in PROCESS_ZONES:
        with process_time_zone(name):
            results.append(everything())
    assert all(result == results[0] for result in results)


def test_the_reference_resolves_the_zones_rules_as_documented() -> None:
    """The reference's own check, against hand-written instants (see test_oncall_dst)."""
    berlin, chatham, santiago = (
        ZoneInfo(z) for z in ("Europe/Berlin", "Pacific/Chatham", "America/Santiago")
    )
    assert ref_resolve(datetime.combine(date(2024, 3, 31), time(2, 30)), berlin) == datetime(
        2024, 3, 31, 1, tzinfo=UTC
    )
    assert ref_resolve(datetime.combine(date(2024, 10, 27), time(2, 30)), berlin) == datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC
    )
    assert ref_resolve(datetime.combine(date(2024, 9, 29), time(3)), chatham) == datetime(
        2024, 9, 28, 14, tzinfo=UTC
    )
    # Santiago jumps from 00:00 -04:00 to 01:00 -03:00 on 8 September 2024 (04:00 UTC).
    assert ref_resolve(datetime.combine(date(2024, 9, 8), time(0, 30)), santiago) == datetime(
        2024, 9, 8, 4, tzinfo=UTC
    )
