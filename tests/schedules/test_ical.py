"""The iCal feeds: valid RFC 5545 (read back with icalendar's parser), one event per on-call
stretch with UTC times across DST, UIDs stable from fetch to fetch, the window, the person's
feed across schedules, and tokens as the only credential (unknown or rotated: 404)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar
from rest_framework.authtoken.models import Token

from schedules.feeds import person_settings
from schedules.ical import FEED_AHEAD, FEED_PAST, feed_window
from schedules.models import Override, Rotation, RotationParticipant, Schedule, TeamMembership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

Role = TeamMembership.Role
MONDAY_0900_BERLIN = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
BEFORE_DST = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Friday; Berlin changes on Sunday 29th
AFTER_DST = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def daily_schedule(team: Any, name: str, people: list[Any], **kwargs: Any) -> Schedule:
    """Europe/Berlin, daily turns handing off at 09:00 local, from Monday 23 March 2026."""
    schedule = Schedule.objects.create(team=team, name=name, time_zone="Europe/Berlin")
    rotation = Rotation.objects.create(
        schedule=schedule,
        name="daily",
        start=kwargs.pop("start", MONDAY_0900_BERLIN),
        turn_length=1,
        turn_unit="days",
        **kwargs,
    )
    for position, user in enumerate(people):
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    return schedule


@pytest.fixture
def people() -> dict[str, Any]:
    team = TeamFactory(name="Platform")
    users = {
        "alice": UserFactory(username="alice", first_name="Alice", last_name="Archer"),
        "bob": UserFactory(username="bob"),
        "maria": UserFactory(username="maria"),
    }
    for user in users.values():
        MembershipFactory(team=team, user=user)
    users["team"] = team
    return users


@pytest.fixture
def schedule(people: dict[str, Any]) -> Schedule:
    return daily_schedule(
        people["team"],
        "Primary",
        [people["alice"], people["bob"]],
        end=datetime(2026, 4, 6, 7, 0, tzinfo=UTC),  # two weeks of turns
    )


def fetch(url: str, at: datetime) -> Any:
    with time_machine.travel(at, tick=False):
        return Client().get(url)


def schedule_url(schedule: Schedule) -> str:
    return f"/calendars/schedules/{Schedule.objects.get(pk=schedule.pk).feed_token}.ics"


def events(response: Any) -> list[Any]:
    assert response.status_code == 200, response.content
    return list(Calendar.from_ical(response.content).walk("VEVENT"))


def as_rows(found: list[Any]) -> list[tuple[str, datetime, datetime]]:
    return [(str(e["summary"]), e["dtstart"].dt, e["dtend"].dt) for e in found]


def test_the_schedule_feed_is_a_calendar_of_everyones_shifts(schedule: Schedule) -> None:
    response = fetch(schedule_url(schedule), BEFORE_DST)

    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"]) == "-//Watchstander//On-call schedules//EN"
    assert str(calendar["x-wr-calname"]) == "On call: Primary"
    found = events(response)
    assert len(found) == 14
    assert as_rows(found[:2]) == [
        (
            "On call: Alice Archer (Primary)",
            MONDAY_0900_BERLIN,
            MONDAY_0900_BERLIN + timedelta(days=1),
        ),
        (
            "On call: bob (Primary)",
            MONDAY_0900_BERLIN + timedelta(days=1),
            MONDAY_0900_BERLIN + timedelta(days=2),
        ),
    ]
    assert all(e["dtstamp"].dt == BEFORE_DST for e in found)


def test_times_are_utc_and_follow_the_dst_change(schedule: Schedule) -> None:
    found = events(fetch(schedule_url(schedule), BEFORE_DST))

    saturday, sunday = found[5], found[6]  # handoffs at 09:00 Berlin time
    assert (saturday["dtstart"].dt, saturday["dtend"].dt) == (
        datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 7, 0, tzinfo=UTC),  # a 23-hour turn
    )
    assert sunday["dtstart"].dt == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert b"DTSTART:20260328T080000Z\r\n" in fetch(schedule_url(schedule), BEFORE_DST).content


def test_uids_stay_the_same_from_fetch_to_fetch_across_the_dst_change(
    schedule: Schedule,
) -> None:
    before = {str(e["uid"]): e for e in events(fetch(schedule_url(schedule), BEFORE_DST))}
    after = {str(e["uid"]): e for e in events(fetch(schedule_url(schedule), AFTER_DST))}

    assert set(before) == set(after)
    assert len(before) == 14
    for uid, event in before.items():
        assert (event["dtstart"].dt, event["dtend"].dt) == (
            after[uid]["dtstart"].dt,
            after[uid]["dtend"].dt,
        )


def test_back_to_back_shifts_of_one_person_are_one_event(
    people: dict[str, Any], schedule: Schedule
) -> None:
    # Alice covers bob's Tuesday: with her own Monday and Wednesday turns around it, she is
    # on call from Monday 09:00 to Thursday 09:00, one stretch whatever the rules behind it.
    Override.objects.create(
        schedule=schedule,
        user=people["alice"],
        start=MONDAY_0900_BERLIN + timedelta(days=1),
        end=MONDAY_0900_BERLIN + timedelta(days=2),
    )

    first, second = events(fetch(schedule_url(schedule), BEFORE_DST))[:2]

    assert (first["dtstart"].dt, first["dtend"].dt) == (
        MONDAY_0900_BERLIN,
        MONDAY_0900_BERLIN + timedelta(days=3),
    )
    assert "bob" in str(second["summary"])


def test_the_window_keeps_shifts_whole(people: dict[str, Any]) -> None:
    # Weekly turns: the fetch's window edges fall inside turns, which are shown whole.
    weekly = daily_schedule(people["team"], "Weekly", [people["alice"], people["bob"]])
    Rotation.objects.filter(schedule=weekly).update(turn_unit="weeks")
    now = MONDAY_0900_BERLIN + timedelta(days=100, hours=5)

    found = events(fetch(schedule_url(weekly), now))

    # From the start of the fetch's UTC day: the window moves once a day, not with each fetch.
    day = datetime(2026, 7, 1, tzinfo=UTC)
    assert feed_window(now) == (day - FEED_PAST, day + timedelta(days=1) + FEED_AHEAD)
    first, last = feed_window(now)
    assert first <= now - FEED_PAST
    assert now + FEED_AHEAD <= last
    assert found[0]["dtstart"].dt <= first < found[0]["dtend"].dt
    assert found[-1]["dtstart"].dt < last <= found[-1]["dtend"].dt
    assert all(e["dtend"].dt - e["dtstart"].dt == timedelta(weeks=1) for e in found[1:-1])
    assert all(
        e["dtstart"].dt.astimezone(UTC).hour in {7, 8} for e in found
    )  # 09:00 Berlin, CET or CEST


def test_the_person_feed_has_their_shifts_in_every_schedule_and_nothing_else(
    people: dict[str, Any], schedule: Schedule
) -> None:
    other_team = TeamFactory(name="Other")
    MembershipFactory(team=other_team, user=people["alice"])
    MembershipFactory(team=other_team, user=people["maria"])
    night = daily_schedule(
        other_team, "Nights", [people["maria"], people["alice"]], end=MONDAY_0900_BERLIN
    )
    Override.objects.create(
        schedule=night,
        user=people["alice"],
        start=datetime(2026, 3, 30, 20, 0, tzinfo=UTC),
        end=datetime(2026, 3, 31, 4, 0, tzinfo=UTC),
    )
    daily_schedule(other_team, "Not hers", [people["maria"]])
    url = f"/calendars/people/{person_settings(people['alice']).feed_token}.ics"

    response = fetch(url, BEFORE_DST)

    found = events(response)
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "Alice Archer: on call"
    assert {str(e["summary"]) for e in found} == {
        "On call: Alice Archer (Primary)",
        "On call: Alice Archer (Nights)",
    }
    assert len(found) == 8  # 7 turns of Primary (every other day), the override in Nights
    starts = [e["dtstart"].dt for e in found]
    assert starts == sorted(starts)
    text = response.content.decode()
    assert "bob" not in text
    assert "maria" not in text
    assert "Not hers" not in text


def test_person_feed_uids_differ_from_the_schedule_feeds_for_the_same_shift(
    people: dict[str, Any], schedule: Schedule
) -> None:
    person_url = f"/calendars/people/{person_settings(people['alice']).feed_token}.ics"

    mine = {str(e["uid"]) for e in events(fetch(person_url, BEFORE_DST))}
    everyones = {str(e["uid"]) for e in events(fetch(schedule_url(schedule), BEFORE_DST))}

    assert mine
    assert not mine & everyones
    assert mine == {str(e["uid"]) for e in events(fetch(person_url, AFTER_DST))}


def test_the_feed_is_crlf_and_folded(people: dict[str, Any]) -> None:
    # The longest name a schedule may have (100): its X-WR-CALNAME line needs folding.
    long_name = ("Primary on-call for the payments platform and everything around it " * 2)[:100]
    schedule = daily_schedule(people["team"], long_name.strip(), [people["alice"]])

    content = fetch(schedule_url(schedule), BEFORE_DST).content

    lines = content.split(b"\r\n")
    assert lines[-1] == b""
    assert all(b"\n" not in line and len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # folded
    assert str(Calendar.from_ical(content)["x-wr-calname"]) == f"On call: {long_name.strip()}"


def test_a_feed_with_no_shifts_still_holds_a_component(people: dict[str, Any]) -> None:
    """RFC 5545 (3.6): a calendar has at least one component. With no shift in the window,
    that is the VTIMEZONE of UTC, the zone of every time in the feed."""
    empty = Schedule.objects.create(team=people["team"], name="Empty", time_zone="Europe/Berlin")

    calendar = Calendar.from_ical(fetch(schedule_url(empty), BEFORE_DST).content)

    assert [component.name for component in calendar.subcomponents] == ["VTIMEZONE"]
    assert str(calendar.subcomponents[0]["tzid"]) == "UTC"


def test_a_name_stored_with_a_line_break_is_one_line_in_the_feed(
    people: dict[str, Any], schedule: Schedule
) -> None:
    # Written around validation (schedules.limits.validate_one_line refuses it now).
    Schedule.objects.filter(pk=schedule.pk).update(name="Pri\r\nBEGIN:VEVENT\rmary")

    response = fetch(schedule_url(schedule), BEFORE_DST)

    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "On call: Pri BEGIN:VEVENT mary"
    assert str(calendar["name"]) == "On call: Pri BEGIN:VEVENT mary"
    assert len(events(response)) == 14
    assert str(events(response)[0]["summary"]) == "On call: Alice Archer (Pri BEGIN:VEVENT mary)"


def test_someone_always_on_call_keeps_one_uid_and_moves_once_a_day(
    people: dict[str, Any],
) -> None:
    """One person, no end: a stretch longer than the reach, cut where the search stops. Its
    UID does not depend on the cut, and the cut moves with the day, not with each fetch."""
    always = daily_schedule(
        people["team"], "Always", [people["maria"]], start=datetime(2020, 1, 6, 8, tzinfo=UTC)
    )
    morning, evening = AFTER_DST.replace(hour=6), AFTER_DST.replace(hour=22)

    [early] = events(fetch(schedule_url(always), morning))
    [late] = events(fetch(schedule_url(always), evening))
    [next_day] = events(fetch(schedule_url(always), evening + timedelta(hours=4)))

    assert str(early["uid"]) == str(late["uid"]) == str(next_day["uid"])
    assert str(early["uid"]).startswith(f"schedule-{always.pk}-{people['maria'].pk}-since-layer-")
    assert (early["dtstart"].dt, early["dtend"].dt) == (late["dtstart"].dt, late["dtend"].dt)
    assert next_day["dtstart"].dt == early["dtstart"].dt + timedelta(days=1)


@pytest.mark.parametrize("kind", ["schedules", "people"])
def test_an_unknown_token_is_not_found(schedule: Schedule, kind: str) -> None:
    response = Client().get(f"/calendars/{kind}/not-a-token.ics")

    assert response.status_code == 404
    assert b"VCALENDAR" not in response.content


def test_a_rotated_schedule_token_revokes_the_old_url(
    people: dict[str, Any], schedule: Schedule
) -> None:
    MembershipFactory(team=people["team"], user=UserFactory(username="boss"), role=Role.MANAGER)
    old_url = schedule_url(schedule)
    token, _ = Token.objects.get_or_create(user=people["team"].members.get(username="boss"))

    answer = Client().post(
        f"/api/v1/schedules/{schedule.pk}/rotate-feed-token/",
        headers={"Authorization": f"Token {token.key}"},
    )

    assert answer.status_code == 200, answer.content
    assert Client().get(old_url).status_code == 404
    new_url = json.loads(answer.content)["feed_url"]
    assert new_url.endswith(schedule_url(schedule))
    assert Client().get(schedule_url(schedule)).status_code == 200


def test_a_rotated_personal_token_revokes_the_old_url(people: dict[str, Any]) -> None:
    alice = people["alice"]
    old_url = f"/calendars/people/{person_settings(alice).feed_token}.ics"
    token, _ = Token.objects.get_or_create(user=alice)

    answer = Client().post(
        "/api/v1/me/rotate-feed-token/", headers={"Authorization": f"Token {token.key}"}
    )

    assert answer.status_code == 200
    assert Client().get(old_url).status_code == 404
    assert (
        Client().get(f"/calendars/people/{person_settings(alice).feed_token}.ics").status_code
        == 200
    )


def test_a_deactivated_persons_feed_is_gone(people: dict[str, Any]) -> None:
    url = f"/calendars/people/{person_settings(people['alice']).feed_token}.ics"
    people["alice"].is_active = False
    people["alice"].save()

    assert Client().get(url).status_code == 404


def test_the_feed_is_read_only_and_never_cached_by_shared_caches(schedule: Schedule) -> None:
    assert Client().post(schedule_url(schedule)).status_code == 405
    response = Client().get(schedule_url(schedule))
    assert "private" in response["Cache-Control"]
