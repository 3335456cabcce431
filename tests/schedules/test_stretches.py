"""schedules.stretches: shifts with their real edges, and a person's back-to-back shifts joined."""

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.oncall import (
    DAYS,
    LAYER,
    OVERRIDE,
    WEEKS,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    Shift,
    final_shifts,
)
from schedules.stretches import shift_at, stretches, whole_shifts
from tests.schedules.test_oncall_properties import TINY, cases

ALICE, BOB, CAROL = 1, 2, 3
WEEKLY = 10


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def berlin_weekly(*overrides: OverrideRule) -> ScheduleRules:
    # Mondays 09:00 Berlin from 21 October 2024 (CEST, 07:00 UTC); 28 October and 4 November
    # are CET, 08:00 UTC.
    layer = Layer(WEEKLY, 1, utc(2024, 10, 21, 7), None, 1, WEEKS, (ALICE, BOB, CAROL))
    return ScheduleRules("Europe/Berlin", (layer,), overrides)


def override(override_id: int, user: int, start: datetime, end: datetime) -> OverrideRule:
    return OverrideRule(override_id, user, start, end, utc(2024, 1, 1))


def test_whole_shifts_reach_past_both_ends_of_the_range_to_the_real_handoffs() -> None:
    rules = berlin_weekly()

    shifts = whole_shifts(rules, utc(2024, 10, 30, 12), utc(2024, 10, 30, 13))

    assert shifts == [Shift(utc(2024, 10, 28, 8), utc(2024, 11, 4, 8), BOB, LAYER, WEEKLY)]


def test_whole_shifts_keep_inner_edges_and_extend_only_the_clipped_ones() -> None:
    rules = berlin_weekly()

    shifts = whole_shifts(rules, utc(2024, 10, 25), utc(2024, 11, 6))

    assert [(s.start, s.end, s.user_id) for s in shifts] == [
        (utc(2024, 10, 21, 7), utc(2024, 10, 28, 8), ALICE),
        (utc(2024, 10, 28, 8), utc(2024, 11, 4, 8), BOB),
        (utc(2024, 11, 4, 8), utc(2024, 11, 11, 8), CAROL),
    ]


def test_a_shift_starting_exactly_at_the_range_is_not_extended() -> None:
    rules = berlin_weekly()

    shifts = whole_shifts(rules, utc(2024, 10, 28, 8), utc(2024, 10, 28, 9))

    assert [(s.start, s.end) for s in shifts] == [(utc(2024, 10, 28, 8), utc(2024, 11, 4, 8))]


def test_an_override_cut_out_of_a_turn_leaves_the_turn_its_real_other_edge() -> None:
    # CAROL covers Wed 30 October 10:00-14:00 UTC inside BOB's week.
    rules = berlin_weekly(override(7, CAROL, utc(2024, 10, 30, 10), utc(2024, 10, 30, 14)))

    shifts = whole_shifts(rules, utc(2024, 10, 30, 9), utc(2024, 10, 30, 15))

    assert shifts == [
        Shift(utc(2024, 10, 28, 8), utc(2024, 10, 30, 10), BOB, LAYER, WEEKLY),
        Shift(utc(2024, 10, 30, 10), utc(2024, 10, 30, 14), CAROL, OVERRIDE, 7),
        Shift(utc(2024, 10, 30, 14), utc(2024, 11, 4, 8), BOB, LAYER, WEEKLY),
    ]


def test_by_person_joins_a_turn_and_an_override_of_the_same_person_back_to_back() -> None:
    # BOB's week ends Mon 4 November 08:00 UTC; BOB also covers the first two hours of CAROL's.
    rules = berlin_weekly(override(7, BOB, utc(2024, 11, 4, 8), utc(2024, 11, 4, 10)))
    t1, t2 = utc(2024, 11, 4, 9), utc(2024, 11, 4, 9, 30)

    as_rules = whole_shifts(rules, t1, t2)
    as_lived = whole_shifts(rules, t1, t2, by_person=True)

    assert as_rules == [Shift(utc(2024, 11, 4, 8), utc(2024, 11, 4, 10), BOB, OVERRIDE, 7)]
    # The stretch keeps the source of its first part, BOB's turn.
    assert as_lived == [Shift(utc(2024, 10, 28, 8), utc(2024, 11, 4, 10), BOB, LAYER, WEEKLY)]


def test_by_person_joins_across_layers_and_looks_back_past_the_first_step() -> None:
    # A restricted top layer (ALICE, daily 09:00-17:00 UTC) over one that has ALICE from
    # 1 October 00:00 to 1 November 12:00 and nobody before or after. Joined, ALICE is on call
    # from 1 October 00:00 (the evening before is a gap) to 1 November 17:00: longer than the
    # first steps the search takes back and forward.
    office = RestrictionRule(None, time(9), None, time(17))
    top = Layer(1, 2, utc(2024, 1, 1), None, 1, WEEKS, (ALICE,), (office,))
    under = Layer(2, 1, utc(2024, 10, 1), utc(2024, 11, 1, 12), 40, DAYS, (ALICE,))
    rules = ScheduleRules("UTC", (top, under))

    stretch = whole_shifts(rules, utc(2024, 10, 15, 12), utc(2024, 10, 15, 13), by_person=True)

    assert stretch == [Shift(utc(2024, 10, 1), utc(2024, 11, 1, 17), ALICE, LAYER, 2)]


def test_an_endless_shift_is_shown_to_the_edge_of_the_reach() -> None:
    # One person, no end: a single shift forever. The reach bounds the search.
    layer = Layer(3, 1, utc(2020, 1, 1), None, 1, WEEKS, (ALICE, ALICE))
    rules = ScheduleRules("UTC", (layer,))
    instant, reach = utc(2024, 6, 1), timedelta(days=10)

    # As far each way, to the microsecond.
    assert shift_at(rules, instant, reach=reach) == Shift(
        instant - reach, instant + reach, ALICE, LAYER, 3
    )


def test_shift_at_gives_the_real_edges_or_none_in_a_gap() -> None:
    rules = berlin_weekly(override(7, CAROL, utc(2024, 10, 30, 10), utc(2024, 10, 30, 14)))

    assert shift_at(rules, utc(2024, 10, 30, 12)) == Shift(
        utc(2024, 10, 30, 10), utc(2024, 10, 30, 14), CAROL, OVERRIDE, 7
    )
    assert shift_at(rules, utc(2024, 10, 30, 14)) == Shift(
        utc(2024, 10, 30, 14), utc(2024, 11, 4, 8), BOB, LAYER, WEEKLY
    )
    assert shift_at(rules, utc(2024, 10, 21, 6, 59)) is None  # before the first handoff


def test_stretches_join_only_touching_shifts_of_the_same_person() -> None:
    a = Shift(utc(2024, 1, 1, 0), utc(2024, 1, 1, 8), ALICE, LAYER, 1)
    b = Shift(utc(2024, 1, 1, 8), utc(2024, 1, 1, 9), ALICE, OVERRIDE, 5)
    c = Shift(utc(2024, 1, 1, 10), utc(2024, 1, 1, 11), ALICE, LAYER, 1)  # after a gap
    d = Shift(utc(2024, 1, 1, 11), utc(2024, 1, 1, 12), BOB, LAYER, 1)

    assert stretches([a, b, c, d]) == [
        Shift(utc(2024, 1, 1, 0), utc(2024, 1, 1, 9), ALICE, LAYER, 1),
        c,
        d,
    ]


# --- Properties: the real edges are what a wide enough range shows ---------------------------

REACH = timedelta(days=10)


def meeting(shifts: list[Shift], t1: datetime, t2: datetime) -> list[Shift]:
    return [s for s in shifts if s.end > t1 and s.start < t2]


@settings(max_examples=100, deadline=None)
@given(cases(), st.booleans())
def test_whole_shifts_are_the_shifts_of_the_range_widened_by_the_reach(
    case: tuple[ScheduleRules, datetime, datetime], by_person: bool
) -> None:
    rules, t1, t2 = case
    wide = final_shifts(rules, t1 - REACH, t2 - TINY + REACH)
    if by_person:
        wide = stretches(wide)

    found = whole_shifts(rules, t1, t2, by_person=by_person, reach=REACH)

    assert found == meeting(wide, t1, t2)


@settings(max_examples=100, deadline=None)
@given(cases(), st.data())
def test_shift_at_is_the_wide_shift_containing_the_instant(
    case: tuple[ScheduleRules, datetime, datetime], data: st.DataObject
) -> None:
    rules, t1, t2 = case
    instant = t1 + data.draw(st.integers(0, (t2 - t1) // TINY - 1)) * TINY
    wide = final_shifts(rules, instant - REACH, instant + REACH)

    expected = meeting(wide, instant, instant + TINY)
    assert shift_at(rules, instant, reach=REACH) == (expected[0] if expected else None)
