"""Concrete DST cases for schedules.oncall, with every expected value written by hand.

The zones' rules (tzdata, valid for 2024), from which each expected UTC instant is derived:

- Europe/Berlin: CET (+01:00) / CEST (+02:00). Both changes happen at 01:00 UTC: on the last
  Sunday of March (2024-03-31) 02:00 CET jumps to 03:00 CEST; on the last Sunday of October
  (2024-10-27) 03:00 CEST falls back to 02:00 CET, so 02:00-03:00 happens twice.
- America/Chicago: CST (-06:00) / CDT (-05:00). Second Sunday of March (2024-03-10) 02:00 CST
  jumps to 03:00 CDT (08:00 UTC); first Sunday of November (2024-11-03) 02:00 CDT falls back to
  01:00 CST (07:00 UTC), so 01:00-02:00 happens twice.
- Australia/Lord_Howe: +10:30 standard / +11:00 summer, a 30-minute shift. First Sunday of April
  (2024-04-07) 02:00 +11:00 falls back to 01:30 +10:30 (2024-04-06 15:00 UTC), so 01:30-02:00
  happens twice; first Sunday of October (2024-10-06) 02:00 +10:30 jumps to 02:30 +11:00
  (2024-10-05 15:30 UTC).
- Pacific/Chatham: +12:45 standard / +13:45 summer. First Sunday of April (2024-04-07) 03:45
  +13:45 falls back to 02:45 +12:45 (2024-04-06 14:00 UTC), so 02:45-03:45 happens twice; last
  Sunday of September (2024-09-29) 02:45 +12:45 jumps to 03:45 +13:45 (2024-09-28 14:00 UTC).

A local time L at offset +H:M is the UTC instant L - H:M; each case says which offset applies.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from schedules.oncall import (
    DAYS,
    HOURS,
    LAYER,
    OVERRIDE,
    WEEKS,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    Shift,
    Window,
    final_shifts,
    gaps,
    layer_shifts,
    oncall_at,
    to_utc,
    zone,
)

BERLIN, CHICAGO = "Europe/Berlin", "America/Chicago"
LORD_HOWE, CHATHAM = "Australia/Lord_Howe", "Pacific/Chatham"
ALICE, BOB, CAROL, DAN = 1, 2, 3, 4
FRIDAY, MONDAY = 4, 0


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def wall(year: int, month: int, day: int, hour: int, minute: int = 0, *rest: int) -> datetime:
    """A naive wall-clock time (what to_utc reads)."""
    return datetime.combine(date(year, month, day), time(hour, minute, *rest))


def rotation(
    start: datetime,
    unit: str,
    people: tuple[int, ...] = (ALICE, BOB, CAROL),
    *,
    length: int = 1,
    restrictions: tuple[RestrictionRule, ...] = (),
    layer_id: int = 10,
) -> Layer:
    return Layer(layer_id, 1, start, None, length, unit, people, restrictions)


def schedule(tz: str, *layers: Layer, overrides: tuple[OverrideRule, ...] = ()) -> ScheduleRules:
    return ScheduleRules(tz, layers, overrides)


def turns(rules: ScheduleRules, t1: datetime, t2: datetime) -> list[tuple[datetime, datetime, int]]:
    return [(s.start, s.end, s.user_id) for s in final_shifts(rules, t1, t2)]


# --- Local time to UTC: skipped and repeated times ------------------------------------------


@pytest.mark.parametrize(
    ("tz", "local", "expected"),
    [
        # Plain times, one either side of each change.
        (BERLIN, wall(2024, 3, 30, 9), utc(2024, 3, 30, 8)),  # CET
        (BERLIN, wall(2024, 4, 1, 9), utc(2024, 4, 1, 7)),  # CEST
        # Skipped: 02:30 on 31 March does not exist; the first valid instant after it is the
        # change itself, 03:00 CEST = 01:00 UTC.
        (BERLIN, wall(2024, 3, 31, 2, 30), utc(2024, 3, 31, 1)),
        (BERLIN, wall(2024, 3, 31, 2, 0), utc(2024, 3, 31, 1)),
        (BERLIN, wall(2024, 3, 31, 2, 59, 59, 999999), utc(2024, 3, 31, 1)),
        # With microseconds the first version of the search for the change never returned.
        (BERLIN, wall(2024, 3, 31, 2, 0, 0, 585239), utc(2024, 3, 31, 1)),
        # Repeated: 02:30 on 27 October, first occurrence (CEST) = 00:30 UTC, not 01:30.
        (BERLIN, wall(2024, 10, 27, 2, 30), utc(2024, 10, 27, 0, 30)),
        (CHICAGO, wall(2024, 3, 10, 2, 30), utc(2024, 3, 10, 8)),  # skipped -> 03:00 CDT
        (CHICAGO, wall(2024, 11, 3, 1, 30), utc(2024, 11, 3, 6, 30)),  # first = CDT
        # Lord Howe: 02:00-02:30 on 6 October is skipped -> 02:30 +11:00 = 15:30 UTC the day
        # before; 01:45 on 7 April is repeated -> first at +11:00 = 14:45 UTC the day before.
        (LORD_HOWE, wall(2024, 10, 6, 2, 15), utc(2024, 10, 5, 15, 30)),
        (LORD_HOWE, wall(2024, 4, 7, 1, 45), utc(2024, 4, 6, 14, 45)),
        # Chatham: 02:45-03:45 on 29 September is skipped -> 03:45 +13:45 = 14:00 UTC the day
        # before; 03:00 on 7 April is repeated -> first at +13:45 = 13:15 UTC the day before.
        (CHATHAM, wall(2024, 9, 29, 3, 0), utc(2024, 9, 28, 14)),
        (CHATHAM, wall(2024, 4, 7, 3, 0), utc(2024, 4, 6, 13, 15)),
        (CHATHAM, wall(2024, 4, 7, 3, 50), utc(2024, 4, 6, 15, 5)),  # after: +12:45
    ],
)
def test_local_times_map_to_the_specified_instant(
    tz: str, local: datetime, expected: datetime
) -> None:
    assert to_utc(local, zone(tz)) == expected


# --- Daily and weekly turns keep the local handoff time --------------------------------------

DAILY_ACROSS_CHANGES = [
    # Berlin spring: 09:00 CET = 08:00 UTC, then 09:00 CEST = 07:00 UTC; the turn over the
    # change lasts 23 hours.
    (
        BERLIN,
        utc(2024, 3, 30, 8),
        [utc(2024, 3, 30, 8), utc(2024, 3, 31, 7), utc(2024, 4, 1, 7), utc(2024, 4, 2, 7)],
    ),
    # Berlin autumn: 09:00 CEST = 07:00 UTC, then 09:00 CET = 08:00 UTC (a 25-hour turn).
    (
        BERLIN,
        utc(2024, 10, 26, 7),
        [utc(2024, 10, 26, 7), utc(2024, 10, 27, 8), utc(2024, 10, 28, 8), utc(2024, 10, 29, 8)],
    ),
    # Chicago spring: 09:00 CST = 15:00 UTC, then 09:00 CDT = 14:00 UTC.
    (
        CHICAGO,
        utc(2024, 3, 9, 15),
        [utc(2024, 3, 9, 15), utc(2024, 3, 10, 14), utc(2024, 3, 11, 14), utc(2024, 3, 12, 14)],
    ),
    # Chicago autumn: 09:00 CDT = 14:00 UTC, then 09:00 CST = 15:00 UTC.
    (
        CHICAGO,
        utc(2024, 11, 2, 14),
        [utc(2024, 11, 2, 14), utc(2024, 11, 3, 15), utc(2024, 11, 4, 15), utc(2024, 11, 5, 15)],
    ),
    # Lord Howe April: 09:00 +11:00 = 22:00 UTC the day before, then 09:00 +10:30 = 22:30 UTC
    # the day before (a 24.5-hour turn).
    (
        LORD_HOWE,
        utc(2024, 4, 5, 22),
        [
            utc(2024, 4, 5, 22),
            utc(2024, 4, 6, 22, 30),
            utc(2024, 4, 7, 22, 30),
            utc(2024, 4, 8, 22, 30),
        ],
    ),
    # Lord Howe October: 09:00 +10:30 = 22:30 UTC, then 09:00 +11:00 = 22:00 UTC (23.5 hours).
    (
        LORD_HOWE,
        utc(2024, 10, 4, 22, 30),
        [
            utc(2024, 10, 4, 22, 30),
            utc(2024, 10, 5, 22),
            utc(2024, 10, 6, 22),
            utc(2024, 10, 7, 22),
        ],
    ),
    # Chatham April: 09:00 +13:45 = 19:15 UTC the day before, then 09:00 +12:45 = 20:15 UTC.
    (
        CHATHAM,
        utc(2024, 4, 5, 19, 15),
        [
            utc(2024, 4, 5, 19, 15),
            utc(2024, 4, 6, 20, 15),
            utc(2024, 4, 7, 20, 15),
            utc(2024, 4, 8, 20, 15),
        ],
    ),
    # Chatham September: 09:00 +12:45 = 20:15 UTC, then 09:00 +13:45 = 19:15 UTC.
    (
        CHATHAM,
        utc(2024, 9, 27, 20, 15),
        [
            utc(2024, 9, 27, 20, 15),
            utc(2024, 9, 28, 19, 15),
            utc(2024, 9, 29, 19, 15),
            utc(2024, 9, 30, 19, 15),
        ],
    ),
]


@pytest.mark.parametrize(("tz", "start", "handoffs"), DAILY_ACROSS_CHANGES)
def test_daily_turns_hand_off_at_0900_local_across_the_change(
    tz: str, start: datetime, handoffs: list[datetime]
) -> None:
    rules = schedule(tz, rotation(start, DAYS))

    assert turns(rules, handoffs[0], handoffs[-1]) == [
        (handoffs[0], handoffs[1], ALICE),
        (handoffs[1], handoffs[2], BOB),
        (handoffs[2], handoffs[3], CAROL),
    ]


WEEKLY_ACROSS_CHANGES = [
    # Mondays 09:00 Berlin: 25 March CET = 08:00 UTC, 1 and 8 April CEST = 07:00 UTC.
    (BERLIN, [utc(2024, 3, 25, 8), utc(2024, 4, 1, 7), utc(2024, 4, 8, 7)]),
    # Mondays 09:00 Berlin: 21 October CEST = 07:00 UTC, 28 October and 4 November CET = 08:00.
    (BERLIN, [utc(2024, 10, 21, 7), utc(2024, 10, 28, 8), utc(2024, 11, 4, 8)]),
    # Fridays 09:00 Chicago: 8 March CST = 15:00 UTC, 15 and 22 March CDT = 14:00 UTC.
    (CHICAGO, [utc(2024, 3, 8, 15), utc(2024, 3, 15, 14), utc(2024, 3, 22, 14)]),
    # Fridays 09:00 Chicago: 1 November CDT = 14:00 UTC, 8 and 15 November CST = 15:00 UTC.
    (CHICAGO, [utc(2024, 11, 1, 14), utc(2024, 11, 8, 15), utc(2024, 11, 15, 15)]),
    # Mondays 09:00 Lord Howe: 1 April +11:00 = 31 March 22:00 UTC, then +10:30 = 22:30 UTC.
    (LORD_HOWE, [utc(2024, 3, 31, 22), utc(2024, 4, 7, 22, 30), utc(2024, 4, 14, 22, 30)]),
    # Mondays 09:00 Lord Howe: 30 September +10:30 = 22:30 UTC the day before, then +11:00.
    (LORD_HOWE, [utc(2024, 9, 29, 22, 30), utc(2024, 10, 6, 22), utc(2024, 10, 13, 22)]),
    # Mondays 09:00 Chatham: 1 April +13:45 = 31 March 19:15 UTC, then +12:45 = 20:15 UTC.
    (CHATHAM, [utc(2024, 3, 31, 19, 15), utc(2024, 4, 7, 20, 15), utc(2024, 4, 14, 20, 15)]),
    # Mondays 09:00 Chatham: 23 September +12:45 = 22 September 20:15 UTC, then +13:45.
    (CHATHAM, [utc(2024, 9, 22, 20, 15), utc(2024, 9, 29, 19, 15), utc(2024, 10, 6, 19, 15)]),
]


@pytest.mark.parametrize(("tz", "handoffs"), WEEKLY_ACROSS_CHANGES)
def test_weekly_turns_hand_off_at_0900_local_across_the_change(
    tz: str, handoffs: list[datetime]
) -> None:
    rules = schedule(tz, rotation(handoffs[0], WEEKS, (ALICE, BOB)))

    assert turns(rules, handoffs[0], handoffs[-1]) == [
        (handoffs[0], handoffs[1], ALICE),
        (handoffs[1], handoffs[2], BOB),
    ]


def test_two_week_turns_count_calendar_weeks() -> None:
    # Berlin, every other Monday 09:00 from 18 March (CET, 08:00 UTC): 1 April is CEST.
    rules = schedule(BERLIN, rotation(utc(2024, 3, 18, 8), WEEKS, (ALICE, BOB), length=2))

    assert turns(rules, utc(2024, 3, 18, 8), utc(2024, 4, 15, 7)) == [
        (utc(2024, 3, 18, 8), utc(2024, 4, 1, 7), ALICE),
        (utc(2024, 4, 1, 7), utc(2024, 4, 15, 7), BOB),
    ]


@pytest.mark.parametrize(
    ("tz", "start", "expected"),
    [
        # 12-hour turns from 21:00 CET (20:00 UTC) on 30 March: absolute, so the second starts
        # at 08:00 UTC, which reads 10:00 CEST, not 09:00.
        (
            BERLIN,
            utc(2024, 3, 30, 20),
            [utc(2024, 3, 30, 20), utc(2024, 3, 31, 8), utc(2024, 3, 31, 20)],
        ),
        (
            BERLIN,
            utc(2024, 10, 26, 19),
            [utc(2024, 10, 26, 19), utc(2024, 10, 27, 7), utc(2024, 10, 27, 19)],
        ),
        (
            LORD_HOWE,
            utc(2024, 4, 6, 10),
            [utc(2024, 4, 6, 10), utc(2024, 4, 6, 22), utc(2024, 4, 7, 10)],
        ),
        (
            CHATHAM,
            utc(2024, 9, 28, 8),
            [utc(2024, 9, 28, 8), utc(2024, 9, 28, 20), utc(2024, 9, 29, 8)],
        ),
    ],
)
def test_hourly_turns_are_absolute_durations(
    tz: str, start: datetime, expected: list[datetime]
) -> None:
    rules = schedule(tz, rotation(start, HOURS, (ALICE, BOB), length=12))

    assert turns(rules, expected[0], expected[-1]) == [
        (expected[0], expected[1], ALICE),
        (expected[1], expected[2], BOB),
    ]


# --- Handoffs at skipped and repeated local times ---------------------------------------------

SKIPPED_AND_REPEATED = [
    # Berlin, daily 02:30. 30 March CET = 01:30 UTC; 31 March 02:30 is skipped -> the change,
    # 01:00 UTC; 1 April CEST = 00:30 UTC.
    (BERLIN, [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]),
    # Berlin, daily 02:30. 26 October CEST = 00:30 UTC; 27 October 02:30 is repeated -> the
    # first, CEST = 00:30 UTC; 28 October CET = 01:30 UTC.
    (BERLIN, [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]),
    # Chicago, daily 02:30. 9 March CST = 08:30 UTC; 10 March skipped -> 08:00 UTC; 11 March
    # CDT = 07:30 UTC.
    (CHICAGO, [utc(2024, 3, 9, 8, 30), utc(2024, 3, 10, 8), utc(2024, 3, 11, 7, 30)]),
    # Chicago, daily 01:30. 2 November CDT = 06:30 UTC; 3 November repeated -> first, CDT =
    # 06:30 UTC; 4 November CST = 07:30 UTC.
    (CHICAGO, [utc(2024, 11, 2, 6, 30), utc(2024, 11, 3, 6, 30), utc(2024, 11, 4, 7, 30)]),
    # Lord Howe, daily 02:15. 5 October +10:30 = 4 October 15:45 UTC; 6 October skipped ->
    # 02:30 +11:00 = 5 October 15:30 UTC; 7 October +11:00 = 6 October 15:15 UTC.
    (LORD_HOWE, [utc(2024, 10, 4, 15, 45), utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15, 15)]),
    # Lord Howe, daily 01:45. 6 April +11:00 = 5 April 14:45 UTC; 7 April repeated -> first,
    # +11:00 = 6 April 14:45 UTC; 8 April +10:30 = 7 April 15:15 UTC.
    (LORD_HOWE, [utc(2024, 4, 5, 14, 45), utc(2024, 4, 6, 14, 45), utc(2024, 4, 7, 15, 15)]),
    # Chatham, daily 03:00. 28 September +12:45 = 27 September 14:15 UTC; 29 September
    # skipped -> 03:45 +13:45 = 28 September 14:00 UTC; 30 September +13:45 = 13:15 UTC.
    (CHATHAM, [utc(2024, 9, 27, 14, 15), utc(2024, 9, 28, 14), utc(2024, 9, 29, 13, 15)]),
    # Chatham, daily 03:00. 6 April +13:45 = 5 April 13:15 UTC; 7 April repeated -> first,
    # +13:45 = 6 April 13:15 UTC; 8 April +12:45 = 7 April 14:15 UTC.
    (CHATHAM, [utc(2024, 4, 5, 13, 15), utc(2024, 4, 6, 13, 15), utc(2024, 4, 7, 14, 15)]),
]


@pytest.mark.parametrize(("tz", "handoffs"), SKIPPED_AND_REPEATED)
def test_skipped_handoffs_move_to_the_change_and_repeated_take_the_first(
    tz: str, handoffs: list[datetime]
) -> None:
    rules = schedule(tz, rotation(handoffs[0], DAYS, (ALICE, BOB)))

    assert turns(rules, handoffs[0], handoffs[-1]) == [
        (handoffs[0], handoffs[1], ALICE),
        (handoffs[1], handoffs[2], BOB),
    ]


def test_a_handoff_on_the_day_samoa_skipped_moves_to_the_next_midnight() -> None:
    # Pacific/Apia went from 23:59:59 on 29 December 2011 (-10:00) straight to 00:00 on the
    # 31st (+14:00), at 10:00 UTC on the 30th. Daily 09:00: the 28th and 29th at -10:00 are
    # 19:00 UTC; the 30th's 09:00 never happened -> the change, 10:00 UTC; the 31st at +14:00
    # is 19:00 UTC on the 30th.
    rules = schedule("Pacific/Apia", rotation(utc(2011, 12, 28, 19), DAYS))

    assert turns(rules, utc(2011, 12, 28, 19), utc(2011, 12, 31, 19)) == [
        (utc(2011, 12, 28, 19), utc(2011, 12, 29, 19), ALICE),
        (utc(2011, 12, 29, 19), utc(2011, 12, 30, 10), BOB),
        (utc(2011, 12, 30, 10), utc(2011, 12, 30, 19), CAROL),
        (utc(2011, 12, 30, 19), utc(2011, 12, 31, 19), ALICE),
    ]


def test_a_rotation_starting_in_the_repeated_hour_second_time_round_keeps_its_turns() -> None:
    # The first handoff is 02:30 CET on 27 October, the second pass (01:30 UTC). The next is
    # 02:30 CET on 28 October (01:30 UTC): exactly 24 hours.
    rules = schedule(BERLIN, rotation(utc(2024, 10, 27, 1, 30), DAYS, (ALICE, BOB)))

    assert turns(rules, utc(2024, 10, 27, 1, 30), utc(2024, 10, 29, 1, 30)) == [
        (utc(2024, 10, 27, 1, 30), utc(2024, 10, 28, 1, 30), ALICE),
        (utc(2024, 10, 28, 1, 30), utc(2024, 10, 29, 1, 30), BOB),
    ]
    # 01:10 UTC reads 02:10 CET, earlier on the clock than the 02:30 start, yet it is after it.
    assert oncall_at(rules, utc(2024, 10, 27, 1, 10)) is None
    assert oncall_at(rules, utc(2024, 10, 27, 1, 40)).user_id == ALICE  # type: ignore[union-attr]


# --- Who is on call right around the handoff ----------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Berlin daily 09:00 from 30 March: ALICE until 31 March 07:00 UTC (09:00 CEST), then BOB.
        (utc(2024, 3, 31, 6, 59, 59), ALICE),
        (utc(2024, 3, 31, 7), BOB),
        (utc(2024, 3, 31, 7, 30), BOB),  # 09:30 CEST; still ALICE if the handoff drifted
        (utc(2024, 4, 1, 6, 59), BOB),
        (utc(2024, 4, 1, 7), CAROL),
    ],
)
def test_oncall_at_follows_the_local_handoff(instant: datetime, expected: int) -> None:
    rules = schedule(BERLIN, rotation(utc(2024, 3, 30, 8), DAYS))

    shift = oncall_at(rules, instant)

    assert shift is not None
    assert (shift.user_id, shift.source, shift.ref) == (expected, LAYER, 10)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Berlin daily 02:30 from 26 October (CEST, 00:30 UTC). On the 27th the handoff is the
        # first 02:30 (CEST, 00:30 UTC); then the clock goes 03:00 CEST -> 02:00 CET at 01:00
        # UTC and reads 02:00-03:00 again. 01:10 UTC reads 02:10 CET, earlier on the clock
        # than the 02:30 handoff, but it is after it: BOB's turn.
        (utc(2024, 10, 27, 0, 29), ALICE),
        (utc(2024, 10, 27, 0, 30), BOB),
        (utc(2024, 10, 27, 1, 10), BOB),
        (utc(2024, 10, 27, 1, 40), BOB),  # 02:40 CET, the second 02:40
        (utc(2024, 10, 28, 1, 29), BOB),  # 02:29 CET on the 28th
        (utc(2024, 10, 28, 1, 30), CAROL),
    ],
)
def test_an_instant_in_the_repeated_hour_after_the_handoff_is_in_the_new_turn(
    instant: datetime, expected: int
) -> None:
    rules = schedule(BERLIN, rotation(utc(2024, 10, 26, 0, 30), DAYS))

    shift = oncall_at(rules, instant)
    first_turn = final_shifts(rules, instant, instant + timedelta(hours=1))[0]

    assert shift is not None
    assert shift.user_id == expected
    assert first_turn.user_id == expected


# --- Restrictions that span the change -----------------------------------------------------------

WEEKEND = RestrictionRule(FRIDAY, time(18), MONDAY, time(8))
NIGHTS = RestrictionRule(None, time(22), None, time(6))


@pytest.mark.parametrize(
    ("tz", "week_start", "t1", "t2", "window"),
    [
        # Fri 1 Nov 18:00 CDT = 23:00 UTC to Mon 4 Nov 08:00 CST = 14:00 UTC: 63 hours.
        (
            CHICAGO,
            utc(2024, 10, 28, 13),
            utc(2024, 10, 31),
            utc(2024, 11, 6),
            (utc(2024, 11, 1, 23), utc(2024, 11, 4, 14)),
        ),
        # Fri 8 Mar 18:00 CST = 9 Mar 00:00 UTC to Mon 11 Mar 08:00 CDT = 13:00 UTC: 61 hours.
        (
            CHICAGO,
            utc(2024, 3, 4, 14),
            utc(2024, 3, 7),
            utc(2024, 3, 13),
            (utc(2024, 3, 9), utc(2024, 3, 11, 13)),
        ),
        # Fri 25 Oct 18:00 CEST = 16:00 UTC to Mon 28 Oct 08:00 CET = 07:00 UTC: 63 hours.
        (
            BERLIN,
            utc(2024, 10, 21, 6),
            utc(2024, 10, 24),
            utc(2024, 10, 30),
            (utc(2024, 10, 25, 16), utc(2024, 10, 28, 7)),
        ),
        # Fri 4 Apr 18:00 +11:00 = 07:00 UTC to Mon 8 Apr 08:00 +10:30 = 7 Apr 21:30 UTC.
        (
            LORD_HOWE,
            utc(2024, 3, 31, 21),
            utc(2024, 4, 3),
            utc(2024, 4, 9),
            (utc(2024, 4, 5, 7), utc(2024, 4, 7, 21, 30)),
        ),
        # Fri 27 Sep 18:00 +12:45 = 05:15 UTC to Mon 30 Sep 08:00 +13:45 = 29 Sep 18:15 UTC.
        (
            CHATHAM,
            utc(2024, 9, 22, 19, 15),
            utc(2024, 9, 25),
            utc(2024, 10, 1),
            (utc(2024, 9, 27, 5, 15), utc(2024, 9, 29, 18, 15)),
        ),
    ],
)
def test_a_weekend_restriction_over_the_change_weekend_keeps_its_local_edges(
    tz: str,
    week_start: datetime,
    t1: datetime,
    t2: datetime,
    window: tuple[datetime, datetime],
) -> None:
    # One person on weekly turns that began before the range: on call exactly in the window.
    rules = schedule(tz, rotation(week_start, WEEKS, (ALICE,), restrictions=(WEEKEND,)))

    assert turns(rules, t1, t2) == [(window[0], window[1], ALICE)]
    assert gaps(rules, t1, t2) == [Window(t1, window[0]), Window(window[1], t2)]


def test_turns_inside_a_weekend_restriction_still_hand_off_at_local_noon() -> None:
    # Chicago, daily turns at 12:00 from Fri 8 March 12:00 CST (18:00 UTC), weekends only.
    # The window opens Fri 18:00 CST (9 Mar 00:00 UTC) and closes Mon 08:00 CDT (13:00 UTC);
    # handoffs: Sat 12:00 CST = 18:00 UTC, Sun 12:00 CDT = 17:00 UTC.
    rules = schedule(
        CHICAGO,
        rotation(utc(2024, 3, 8, 18), DAYS, (ALICE, BOB, CAROL), restrictions=(WEEKEND,)),
    )

    assert turns(rules, utc(2024, 3, 8), utc(2024, 3, 12)) == [
        (utc(2024, 3, 9), utc(2024, 3, 9, 18), ALICE),
        (utc(2024, 3, 9, 18), utc(2024, 3, 10, 17), BOB),
        (utc(2024, 3, 10, 17), utc(2024, 3, 11, 13), CAROL),
    ]


@pytest.mark.parametrize(
    ("tz", "t1", "t2", "night"),
    [
        # Berlin 30->31 March: 22:00 CET = 21:00 UTC to 06:00 CEST = 04:00 UTC (7 hours).
        (
            BERLIN,
            utc(2024, 3, 30, 12),
            utc(2024, 3, 31, 12),
            (utc(2024, 3, 30, 21), utc(2024, 3, 31, 4)),
        ),
        # Berlin 26->27 October: 22:00 CEST = 20:00 UTC to 06:00 CET = 05:00 UTC (9 hours).
        (
            BERLIN,
            utc(2024, 10, 26, 12),
            utc(2024, 10, 27, 12),
            (utc(2024, 10, 26, 20), utc(2024, 10, 27, 5)),
        ),
        # Chicago 9->10 March: 22:00 CST = 04:00 UTC to 06:00 CDT = 11:00 UTC (7 hours).
        (
            CHICAGO,
            utc(2024, 3, 9, 18),
            utc(2024, 3, 10, 18),
            (utc(2024, 3, 10, 4), utc(2024, 3, 10, 11)),
        ),
        # Chicago 2->3 November: 22:00 CDT = 03:00 UTC to 06:00 CST = 12:00 UTC (9 hours).
        (
            CHICAGO,
            utc(2024, 11, 2, 18),
            utc(2024, 11, 3, 18),
            (utc(2024, 11, 3, 3), utc(2024, 11, 3, 12)),
        ),
        # Lord Howe 6->7 April: 22:00 +11:00 = 11:00 UTC to 06:00 +10:30 = 19:30 UTC (8.5 h).
        (
            LORD_HOWE,
            utc(2024, 4, 6, 2),
            utc(2024, 4, 7, 2),
            (utc(2024, 4, 6, 11), utc(2024, 4, 6, 19, 30)),
        ),
        # Lord Howe 5->6 October: 22:00 +10:30 = 11:30 UTC to 06:00 +11:00 = 19:00 UTC (7.5 h).
        (
            LORD_HOWE,
            utc(2024, 10, 5, 2),
            utc(2024, 10, 6, 2),
            (utc(2024, 10, 5, 11, 30), utc(2024, 10, 5, 19)),
        ),
        # Chatham 6->7 April: 22:00 +13:45 = 08:15 UTC to 06:00 +12:45 = 17:15 UTC (9 hours).
        (
            CHATHAM,
            utc(2024, 4, 6, 0),
            utc(2024, 4, 7, 0),
            (utc(2024, 4, 6, 8, 15), utc(2024, 4, 6, 17, 15)),
        ),
        # Chatham 28->29 September: 22:00 +12:45 = 09:15 UTC to 06:00 +13:45 = 16:15 UTC (7 h).
        (
            CHATHAM,
            utc(2024, 9, 28, 0),
            utc(2024, 9, 29, 0),
            (utc(2024, 9, 28, 9, 15), utc(2024, 9, 28, 16, 15)),
        ),
    ],
)
def test_a_nightly_window_on_the_change_night_keeps_its_local_edges(
    tz: str, t1: datetime, t2: datetime, night: tuple[datetime, datetime]
) -> None:
    layer = rotation(utc(2024, 1, 1), WEEKS, (ALICE,), restrictions=(NIGHTS,))

    assert layer_shifts(layer, zone(tz), t1, t2) == [Shift(*night, ALICE, LAYER, 10)]


def test_a_window_opening_at_a_skipped_time_opens_at_the_change() -> None:
    # Daily 02:30-04:00 in Berlin on 31 March: 02:30 is skipped -> 03:00 CEST = 01:00 UTC;
    # 04:00 CEST = 02:00 UTC. The day before: 01:30-03:00 UTC (CET).
    early = RestrictionRule(None, time(2, 30), None, time(4))
    layer = rotation(utc(2024, 1, 1), WEEKS, (ALICE,), restrictions=(early,))

    shifts = layer_shifts(layer, zone(BERLIN), utc(2024, 3, 30), utc(2024, 4, 1))

    assert [(s.start, s.end) for s in shifts] == [
        (utc(2024, 3, 30, 1, 30), utc(2024, 3, 30, 3)),
        (utc(2024, 3, 31, 1), utc(2024, 3, 31, 2)),
    ]


def test_a_window_entirely_in_the_skipped_hour_is_empty_that_day() -> None:
    # Chicago 02:10-02:50 does not exist on 10 March (both ends -> 08:00 UTC).
    skipped = RestrictionRule(None, time(2, 10), None, time(2, 50))
    layer = rotation(utc(2024, 1, 1), WEEKS, (ALICE,), restrictions=(skipped,))

    shifts = layer_shifts(layer, zone(CHICAGO), utc(2024, 3, 9, 12), utc(2024, 3, 11, 12))

    # 11 March 02:10 CDT = 07:10 UTC.
    assert [(s.start, s.end) for s in shifts] == [
        (utc(2024, 3, 11, 7, 10), utc(2024, 3, 11, 7, 50))
    ]


# --- Overrides that span the change -------------------------------------------------------------


def override(
    override_id: int, user: int, start: datetime, end: datetime, created: int = 0
) -> OverrideRule:
    return OverrideRule(override_id, user, start, end, utc(2024, 1, 1) + timedelta(hours=created))


def test_an_override_over_the_lord_howe_change_replaces_the_layer_exactly() -> None:
    # Daily 09:00 turns from 6 April (+11:00, 5 April 22:00 UTC). DAN covers Sat 6 April 20:00
    # +11:00 (09:00 UTC) to Sun 7 April 08:00 +10:30 (6 April 21:30 UTC); BOB's turn starts at
    # 09:00 +10:30 = 22:30 UTC.
    rules = schedule(
        LORD_HOWE,
        rotation(utc(2024, 4, 5, 22), DAYS),
        overrides=(override(7, DAN, utc(2024, 4, 6, 9), utc(2024, 4, 6, 21, 30)),),
    )

    shifts = final_shifts(rules, utc(2024, 4, 5, 22), utc(2024, 4, 7, 22, 30))

    assert [(s.start, s.end, s.user_id, s.source) for s in shifts] == [
        (utc(2024, 4, 5, 22), utc(2024, 4, 6, 9), ALICE, LAYER),
        (utc(2024, 4, 6, 9), utc(2024, 4, 6, 21, 30), DAN, OVERRIDE),
        (utc(2024, 4, 6, 21, 30), utc(2024, 4, 6, 22, 30), ALICE, LAYER),
        (utc(2024, 4, 6, 22, 30), utc(2024, 4, 7, 22, 30), BOB, LAYER),
    ]


def test_overlapping_overrides_over_the_berlin_change_newest_wins() -> None:
    # Weekly Monday 09:00 turns (21 October CEST = 07:00 UTC, next 28 October CET = 08:00).
    # DAN covers Sat 26 Oct 20:00 CEST (18:00 UTC) to Mon 28 Oct 12:00 CET (11:00 UTC); CAROL,
    # created later, covers the night of the change, 22:00 CEST (20:00 UTC) to 06:00 CET
    # (05:00 UTC). An older override by BOB inside CAROL's loses to both.
    rules = schedule(
        BERLIN,
        rotation(utc(2024, 10, 21, 7), WEEKS, (ALICE, BOB)),
        overrides=(
            override(1, BOB, utc(2024, 10, 26, 23), utc(2024, 10, 27, 2), created=0),
            override(2, DAN, utc(2024, 10, 26, 18), utc(2024, 10, 28, 11), created=1),
            override(3, CAROL, utc(2024, 10, 26, 20), utc(2024, 10, 27, 5), created=2),
        ),
    )

    assert turns(rules, utc(2024, 10, 26), utc(2024, 10, 29)) == [
        (utc(2024, 10, 26), utc(2024, 10, 26, 18), ALICE),
        (utc(2024, 10, 26, 18), utc(2024, 10, 26, 20), DAN),
        (utc(2024, 10, 26, 20), utc(2024, 10, 27, 5), CAROL),
        (utc(2024, 10, 27, 5), utc(2024, 10, 28, 11), DAN),
        (utc(2024, 10, 28, 11), utc(2024, 10, 29), BOB),
    ]
    # ALICE's turn really ends at 08:00 UTC on the 28th, hidden under DAN's override.
    assert oncall_at(rules, utc(2024, 10, 28, 7, 59)).user_id == DAN  # type: ignore[union-attr]


def test_an_override_over_the_chatham_change_fills_a_gap_of_a_restricted_layer() -> None:
    # Nights only (22:00-06:00); the override covers 18:00 +12:45 on 28 September (05:15 UTC)
    # to 10:00 +13:45 on 29 September (20:15 UTC), so the night's 09:15-16:15 UTC is DAN's.
    rules = schedule(
        CHATHAM,
        rotation(utc(2024, 1, 1), WEEKS, (ALICE,), restrictions=(NIGHTS,)),
        overrides=(override(9, DAN, utc(2024, 9, 28, 5, 15), utc(2024, 9, 28, 20, 15)),),
    )

    t1, t2 = utc(2024, 9, 28), utc(2024, 9, 29)
    assert turns(rules, t1, t2) == [(utc(2024, 9, 28, 5, 15), utc(2024, 9, 28, 20, 15), DAN)]
    # The previous night ended at 06:00 +12:45 = 17:15 UTC on the 27th; the next starts at
    # 22:00 +13:45 on the 29th = 08:15 UTC.
    assert gaps(rules, t1, t2) == [
        Window(t1, utc(2024, 9, 28, 5, 15)),
        Window(utc(2024, 9, 28, 20, 15), t2),
    ]


def test_overrides_over_both_chicago_changes_replace_the_daily_turns_exactly() -> None:
    # Daily 09:00 turns of ALICE and BOB from Friday 8 March (09:00 CST = 15:00 UTC).
    # Spring: DAN covers Sat 9 March 22:00 CST (10 March 04:00 UTC) to Sun 08:00 CDT (13:00
    # UTC), nine hours across the skipped hour; BOB's turn goes on until Sunday's handoff at
    # 09:00 CDT (14:00 UTC). Autumn: CAROL covers Sat 2 November 23:00 CDT (3 November 04:00
    # UTC) to Sun 01:30 CST, the second 01:30 (07:30 UTC), three and a half hours.
    layer = rotation(utc(2024, 3, 8, 15), DAYS, (ALICE, BOB))
    rules = schedule(
        CHICAGO,
        layer,
        overrides=(
            override(1, DAN, utc(2024, 3, 10, 4), utc(2024, 3, 10, 13)),
            override(2, CAROL, utc(2024, 11, 3, 4), utc(2024, 11, 3, 7, 30)),
        ),
    )

    assert turns(rules, utc(2024, 3, 9, 15), utc(2024, 3, 11, 14)) == [
        (utc(2024, 3, 9, 15), utc(2024, 3, 10, 4), BOB),
        (utc(2024, 3, 10, 4), utc(2024, 3, 10, 13), DAN),
        (utc(2024, 3, 10, 13), utc(2024, 3, 10, 14), BOB),
        (utc(2024, 3, 10, 14), utc(2024, 3, 11, 14), ALICE),  # 09:00 CDT to 09:00 CDT
    ]
    # 2 November is day 239 of the turns: BOB's (09:00 CDT, 14:00 UTC), to Sunday 09:00 CST
    # (15:00 UTC), a 25-hour turn.
    assert turns(rules, utc(2024, 11, 2, 14), utc(2024, 11, 3, 16)) == [
        (utc(2024, 11, 2, 14), utc(2024, 11, 3, 4), BOB),
        (utc(2024, 11, 3, 4), utc(2024, 11, 3, 7, 30), CAROL),
        (utc(2024, 11, 3, 7, 30), utc(2024, 11, 3, 15), BOB),
        (utc(2024, 11, 3, 15), utc(2024, 11, 3, 16), ALICE),
    ]
    # The first 01:30 (CDT, 06:30 UTC) is CAROL's; the second (CST) is BOB's again.
    assert oncall_at(rules, utc(2024, 11, 3, 6, 30)).user_id == CAROL  # type: ignore[union-attr]
    assert oncall_at(rules, utc(2024, 11, 3, 7, 30)).user_id == BOB  # type: ignore[union-attr]
