"""The timeline the schedule page draws (schedules.timeline): pure, so tested without a page."""

import colorsys
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from schedules.oncall import (
    LAYER,
    OVERRIDE,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
)
from schedules.timeline import (
    DASH,
    FINAL,
    GAP,
    LAYER_ROW,
    PALETTE,
    Row,
    Timeline,
    assign_colours,
    build_timeline,
    colour_at,
    days_shown,
    local_span,
    local_time,
    window,
)

BERLIN = "Europe/Berlin"
ALICE, BOB, CAROL = 11, 12, 13
NAMES = {ALICE: "alice", BOB: "bob", CAROL: "carol"}
# A winter week in Berlin (UTC+1): Monday 5 January 2026, 00:00 local.
MONDAY = datetime(2026, 1, 4, 23, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(
    people: tuple[int, ...], start: datetime, *, layer_id: int = 1, priority: int = 1
) -> Layer:
    return Layer(layer_id, priority, start, None, 1, "weeks", people)


def timeline(rules: ScheduleRules, now: datetime, days: int = 14, **kwargs: Any) -> Timeline:
    span = window(now, rules.time_zone, days)
    return build_timeline(
        rules,
        start=span.start,
        end=span.end,
        now=now,
        names=NAMES,
        layer_names={1: "Primary", 2: "Follow the sun"},
        **kwargs,
    )


def people_in(row: Row) -> list[str]:
    return [segment.label for segment in row.segments]


def test_window_is_whole_local_days_from_the_start_of_today() -> None:
    now = utc(2026, 1, 7, 15, 30)  # Wednesday 16:30 in Berlin

    span = window(now, BERLIN, 7)

    assert span.start == utc(2026, 1, 6, 23)  # Wednesday 00:00 local
    assert span.end == utc(2026, 1, 13, 23)


def test_final_row_lists_the_people_in_order_with_the_gap_before_the_first_handoff() -> None:
    # The rotation starts Monday 09:00 local; the window starts Monday 00:00.
    rules = ScheduleRules(BERLIN, (weekly((ALICE, BOB, CAROL), MONDAY + timedelta(hours=9)),))

    drawn = timeline(rules, now=MONDAY + timedelta(hours=10), days=14)

    assert people_in(drawn.final) == [GAP, "alice", "bob"]
    gap, alice, bob = drawn.final.segments
    assert (gap.user_id, gap.source, gap.colour) == (None, GAP, "")
    assert (alice.start, alice.end) == (
        MONDAY + timedelta(hours=9),
        MONDAY + timedelta(days=7, hours=9),
    )
    assert bob.end == MONDAY + timedelta(days=14)  # clipped to the window
    assert gap.title == f"gap: nobody on call, Mon 5 Jan 00:00 {DASH} 09:00 CET"
    assert alice.title == f"alice, Mon 5 Jan 09:00 {DASH} Mon 12 Jan 09:00 CET"


def test_segments_are_placed_in_percent_of_the_window_and_cover_it() -> None:
    rules = ScheduleRules(BERLIN, (weekly((ALICE, BOB), MONDAY + timedelta(hours=12)),))

    segments = timeline(rules, now=MONDAY, days=7).final.segments

    hours = 7 * 24
    assert segments[0].left == 0
    assert segments[0].width == pytest.approx(100 * 12 / hours)
    assert segments[1].left == pytest.approx(100 * 12 / hours)
    assert sum(segment.width for segment in segments) == pytest.approx(100)


def test_a_row_per_layer_highest_priority_first_then_the_final_schedule() -> None:
    low = weekly((ALICE,), MONDAY, layer_id=1, priority=1)
    high = Layer(
        2, 5, MONDAY, None, 1, "days", (BOB,), (RestrictionRule(None, time(9), None, time(17)),)
    )
    rules = ScheduleRules(BERLIN, (low, high))

    drawn = timeline(rules, now=MONDAY, days=7)

    rows = drawn.rows
    assert [(row.kind, row.label) for row in rows] == [
        (LAYER_ROW, "Follow the sun"),
        (LAYER_ROW, "Primary"),
        (FINAL, "Final schedule"),
    ]
    assert people_in(rows[0]) == ["bob"] * 7  # 09:00-17:00 each day, nobody between
    assert rows[0].segments[0].title == f"bob, Mon 5 Jan 09:00 {DASH} 17:00 CET"
    assert people_in(rows[2])[:3] == ["alice", "bob", "alice"]


def test_gaps_in_the_final_row_where_no_layer_has_anyone() -> None:
    office_hours = Layer(
        1, 1, MONDAY, None, 1, "days", (ALICE,), (RestrictionRule(None, time(9), None, time(17)),)
    )
    rules = ScheduleRules(BERLIN, (office_hours,))

    final = timeline(rules, now=MONDAY, days=7).final

    assert people_in(final)[:4] == [GAP, "alice", GAP, "alice"]
    gap = final.segments[2]
    assert (gap.start, gap.end) == (MONDAY + timedelta(hours=17), MONDAY + timedelta(hours=33))
    assert all(s.is_gap == (s.label == GAP) for s in final.segments)


def test_an_empty_schedule_is_one_gap() -> None:
    final = timeline(ScheduleRules(BERLIN, ()), now=MONDAY, days=7).final

    assert people_in(final) == [GAP]
    assert (final.segments[0].left, final.segments[0].width) == (0, 100)


def test_override_segments_say_so() -> None:
    override = OverrideRule(
        7, CAROL, MONDAY + timedelta(days=1), MONDAY + timedelta(days=2), MONDAY
    )
    rules = ScheduleRules(BERLIN, (weekly((ALICE,), MONDAY),), (override,))

    final = timeline(rules, now=MONDAY, days=7).final

    assert people_in(final) == ["alice", "carol", "alice"]
    assert [s.source for s in final.segments] == [LAYER, OVERRIDE, LAYER]
    assert (
        final.segments[1].title == f"carol (override), Tue 6 Jan 00:00 {DASH} Wed 7 Jan 00:00 CET"
    )


def colours_of(drawn: Timeline) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for row in drawn.rows:
        for segment in row.segments:
            if segment.user_id is not None:
                found.setdefault(segment.user_id, set()).add(segment.colour)
    return found


def test_people_get_palette_colours_in_the_order_they_first_appear() -> None:
    # Ids 1 and 13 would share a colour if the id picked it (13 = 1 + 12).
    first, second = 13, 1
    names = {first: "first", second: "second"}
    rules = ScheduleRules(BERLIN, (weekly((first, second), MONDAY),))
    span = window(MONDAY, BERLIN, 14)

    drawn = build_timeline(
        rules, start=span.start, end=span.end, now=MONDAY, names=names, layer_names={}
    )

    assert colours_of(drawn) == {first: {PALETTE[0]}, second: {PALETTE[1]}}
    assert drawn.legend == (("first", PALETTE[0]), ("second", PALETTE[1]))


def test_every_person_on_a_timeline_has_a_colour_of_their_own() -> None:
    # Fifteen people, each on call for a day: more than the palette holds, ids that collide
    # modulo its length; and a layer whose only person never reaches the final schedule.
    crowd = tuple(range(100, 100 + 12 * 15, 12))
    daily = Layer(1, 1, MONDAY, None, 1, "days", crowd)
    hidden = weekly((999,), MONDAY + timedelta(days=20), layer_id=2, priority=0)
    rules = ScheduleRules(BERLIN, (daily, hidden))

    drawn = timeline(rules, now=MONDAY, days=28)

    colours = colours_of(drawn)
    assert set(colours) == {*crowd, 999}
    assert all(len(shades) == 1 for shades in colours.values())  # one colour per person
    assigned = [shades.pop() for shades in colours.values()]
    assert len(set(assigned)) == len(assigned)  # and nobody else's
    assert [colours_of(drawn)[person].pop() for person in crowd[:12]] == list(PALETTE)
    assert {colour for _, colour in drawn.legend} == set(assigned)


def test_colours_are_stable_for_a_schedule_and_kept_when_the_window_grows() -> None:
    rules = ScheduleRules(BERLIN, (Layer(1, 1, MONDAY, None, 1, "days", (ALICE, BOB, CAROL)),))

    week = colours_of(timeline(rules, now=MONDAY, days=7))
    again = colours_of(timeline(rules, now=MONDAY, days=7))
    month = colours_of(timeline(rules, now=MONDAY, days=28))

    assert week == again == month
    assert week == {ALICE: {PALETTE[0]}, BOB: {PALETTE[1]}, CAROL: {PALETTE[2]}}


def test_colours_beyond_the_palette_are_distinct_and_never_a_gaps_red() -> None:
    extra = [colour_at(index) for index in range(len(PALETTE), len(PALETTE) + 200)]
    assigned = assign_colours(range(300))

    assert len(set(assigned.values())) == 300
    assert list(assigned.values())[: len(PALETTE)] == list(PALETTE)
    for colour in extra:
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        hue, _, _ = colorsys.rgb_to_hls(*rgb)
        assert min(rgb) >= 0.5  # as light as the palette's darkest: the names on them are dark
        assert 20 <= hue * 360 <= 340  # clear of red, the colour of gaps


def test_now_marker_is_where_now_is_in_the_window() -> None:
    rules = ScheduleRules(BERLIN, ())
    start, end = MONDAY, MONDAY + timedelta(days=7)

    def now_at(now: datetime) -> float | None:
        drawn = build_timeline(rules, start=start, end=end, now=now, names={}, layer_names={})
        return drawn.now

    assert now_at(MONDAY + timedelta(hours=42)) == pytest.approx(100 * 42 / (7 * 24))
    assert now_at(MONDAY) == 0


def test_now_marker_is_absent_when_now_is_outside_the_window() -> None:
    rules = ScheduleRules(BERLIN, ())
    span = window(MONDAY, BERLIN, 7)

    drawn = build_timeline(
        rules, start=span.start, end=span.end, now=span.end, names={}, layer_names={}
    )

    assert drawn.now is None


def test_day_ticks_are_local_midnights_across_the_spring_change_in_berlin() -> None:
    # Clocks go from 02:00 to 03:00 on Sunday 29 March 2026: that day has 23 hours.
    now = utc(2026, 3, 27, 12)  # Friday 13:00 CET
    rules = ScheduleRules(BERLIN, ())

    drawn = timeline(rules, now=now, days=7)

    ticks = drawn.ticks
    assert [tick.label for tick in ticks] == [
        "Fri 27 Mar",
        "Sat 28",
        "Sun 29",
        "Mon 30",
        "Tue 31",
        "Wed 1 Apr",
        "Thu 2",
    ]
    assert [tick.at for tick in ticks[:4]] == [
        utc(2026, 3, 26, 23),  # 00:00 CET
        utc(2026, 3, 27, 23),
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 22),  # 00:00 CEST, 23 hours after the one before
    ]
    total = 7 * 24 - 1
    assert ticks[3].left - ticks[2].left == pytest.approx(100 * 23 / total)
    assert ticks[4].left - ticks[3].left == pytest.approx(100 * 24 / total)


def test_day_ticks_in_a_zone_that_skips_midnight() -> None:
    # Santiago de Chile goes from 00:00 to 01:00 on 6 September 2026: the day starts at 01:00.
    span = window(utc(2026, 9, 5, 12), "America/Santiago", 7)
    drawn = build_timeline(
        ScheduleRules("America/Santiago", ()),
        start=span.start,
        end=span.end,
        now=span.start,
        names={},
        layer_names={},
    )

    assert drawn.ticks[1].at == utc(2026, 9, 6, 4)  # 01:00 -03, the first instant of the day
    assert local_time(drawn.ticks[1].at, "America/Santiago") == "Sun 6 Sep 01:00 -03"


def test_long_windows_have_short_tick_labels() -> None:
    drawn = timeline(ScheduleRules(BERLIN, ()), now=utc(2026, 1, 20), days=28)

    labels = [tick.label for tick in drawn.ticks]
    assert labels[:3] == ["20 Jan", "21", "22"]
    assert "1 Feb" in labels
    assert len(labels) == 28


def test_local_span_names_both_zones_when_the_clocks_change_in_between() -> None:
    span = local_span(utc(2026, 3, 28, 8), utc(2026, 3, 30, 7), BERLIN)

    assert span == f"Sat 28 Mar 09:00 CET {DASH} Mon 30 Mar 09:00 CEST"


def test_take_links_cover_what_is_left_of_each_final_segment() -> None:
    rules = ScheduleRules(BERLIN, (weekly((ALICE, BOB), MONDAY + timedelta(hours=9)),))
    now = MONDAY + timedelta(days=8, hours=3, minutes=17, seconds=42)
    asked = []

    def take(start: datetime, end: datetime) -> str:
        asked.append((start, end))
        return f"/take/{len(asked)}"

    final = timeline(rules, now=now, days=7, take=take).final

    span = window(now, BERLIN, 7)
    assert span.start == MONDAY + timedelta(days=8)
    assert people_in(final) == ["bob", "alice"]
    from_now = now.replace(second=0)
    assert asked == [
        (from_now, MONDAY + timedelta(days=14, hours=9)),  # bob's, from now on
        (MONDAY + timedelta(days=14, hours=9), span.end),
    ]
    assert [s.link for s in final.segments] == ["/take/1", "/take/2"]


def test_segments_already_over_cannot_be_taken() -> None:
    rules = ScheduleRules(BERLIN, (weekly((ALICE,), MONDAY + timedelta(hours=9)),))
    now = MONDAY + timedelta(hours=12)

    final = timeline(rules, now=now, days=7, take=lambda a, b: "/take").final

    assert [(s.label, s.link) for s in final.segments] == [(GAP, ""), ("alice", "/take")]


def test_layer_rows_have_no_take_links() -> None:
    rules = ScheduleRules(BERLIN, (weekly((ALICE,), MONDAY),))

    drawn = timeline(rules, now=MONDAY, days=7, take=lambda a, b: "/take")

    assert [s.link for s in drawn.rows[0].segments] == [""]


@pytest.mark.parametrize(
    ("asked", "shown"), [("7", 7), ("14", 14), ("28", 28), ("5", 14), (None, 14), ("x", 14)]
)
def test_days_shown(asked: str | None, shown: int) -> None:
    assert days_shown(asked) == shown


def test_names_are_drawn_only_where_they_fit() -> None:
    # An hour-long override in a 28-day window is too narrow for a name; a week is not.
    short = OverrideRule(7, CAROL, MONDAY + timedelta(hours=3), MONDAY + timedelta(hours=4), MONDAY)
    rules = ScheduleRules(BERLIN, (weekly((ALICE,), MONDAY),), (short,))

    final = timeline(rules, now=MONDAY, days=28).final

    assert [(s.label, s.label_fits) for s in final.segments] == [
        ("alice", False),  # 3 hours
        ("carol", False),
        ("alice", True),
    ]
