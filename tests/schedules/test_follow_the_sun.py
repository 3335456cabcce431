"""The follow-the-sun schedule of tests.follow_the_sun, stored as rows and read back as the
escalation, the API and the calendar feeds read it: each region keeps its local hours across
its own DST change, and the priorities and the backstop fill what the drift leaves."""

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from schedules.models import Schedule
from schedules.oncall import final_shifts
from schedules.selectors import oncall_user_ids, schedule_rules
from tests import follow_the_sun
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return follow_the_sun.team_with_people(TeamFactory(name="Global SRE"))


@pytest.fixture
def schedule(people: dict[str, Any]) -> Schedule:
    return follow_the_sun.build(people["sam"].teams.get(), people)


def names(people: dict[str, Any]) -> dict[int, str]:
    return {user.pk: username for username, user in people.items()}


@pytest.mark.parametrize(("instant", "expected"), follow_the_sun.ON_CALL)
def test_whoever_is_on_call_keeps_their_regions_hours_across_its_change(
    people: dict[str, Any], schedule: Schedule, instant: datetime, expected: str
) -> None:
    on_call = oncall_user_ids([schedule.pk], instant)[schedule.pk]

    assert on_call is not None
    assert names(people)[on_call] == expected


def day_of(people: dict[str, Any], schedule: Schedule, day: datetime) -> list[tuple[str, str]]:
    rules = schedule_rules([schedule.pk])[schedule.pk]
    who = names(people)
    return [
        (who[shift.user_id], f"{shift.start:%H:%M}-{shift.end:%H:%M}")
        for shift in final_shifts(rules, day, day + timedelta(days=1))
    ]


def test_the_utc_day_is_tiled_by_the_regions_until_the_first_change(
    people: dict[str, Any], schedule: Schedule
) -> None:
    assert day_of(people, schedule, follow_the_sun.utc(2027, 3, 13)) == [
        ("sue", "00:00-07:00"),
        ("lucy", "07:00-15:00"),
        ("cara", "15:00-23:00"),
        ("sue", "23:00-00:00"),
    ]


def test_each_change_moves_only_its_own_regions_hours(
    people: dict[str, Any], schedule: Schedule
) -> None:
    # Chicago's (14 March, in the morning UTC): from that evening the backstop has an hour.
    assert day_of(people, schedule, follow_the_sun.utc(2027, 3, 14)) == [
        ("sue", "00:00-07:00"),
        ("lucy", "07:00-15:00"),
        ("cara", "15:00-22:00"),
        ("bea", "22:00-23:00"),
        ("sam", "23:00-00:00"),  # Sydney's Monday handoff, 10:00 AEDT
    ]
    # London's (28 March, 01:00 UTC): London opens and closes an hour earlier in UTC.
    assert day_of(people, schedule, follow_the_sun.utc(2027, 3, 28)) == [
        ("sue", "00:00-07:00"),
        ("lucy", "07:00-14:00"),  # 06:00-07:00 UTC is still Sydney's, a higher priority
        ("cara", "14:00-22:00"),
        ("bea", "22:00-23:00"),
        ("sam", "23:00-00:00"),
    ]
    # Sydney's (Sunday 4 April, 03:00 local: 3 April, 16:00 UTC): Sydney opens an hour later in UTC.
    assert day_of(people, schedule, follow_the_sun.utc(2027, 4, 5)) == [
        ("sue", "00:00-08:00"),
        ("lucy", "08:00-14:00"),
        ("cara", "14:00-22:00"),
        ("bea", "22:00-00:00"),
    ]


def test_the_calendar_feed_imports_with_each_regions_hours_in_utc(
    people: dict[str, Any], schedule: Schedule
) -> None:
    url = f"/calendars/schedules/{schedule.feed_token}.ics"
    with time_machine.travel(follow_the_sun.utc(2027, 3, 13, 12), tick=False):
        response = Client().get(url)

    assert response.status_code == 200
    events = list(Calendar.from_ical(response.content).walk("VEVENT"))
    rows = {(str(e["summary"]), e["dtstart"].dt, e["dtend"].dt) for e in events}
    utc = follow_the_sun.utc
    assert ("On call: cara (Follow the sun)", utc(2027, 3, 13, 15), utc(2027, 3, 13, 23)) in rows
    assert ("On call: cara (Follow the sun)", utc(2027, 3, 14, 15), utc(2027, 3, 14, 22)) in rows
    assert ("On call: bea (Follow the sun)", utc(2027, 3, 14, 22), utc(2027, 3, 14, 23)) in rows
    assert ("On call: sue (Follow the sun)", utc(2027, 4, 5, 0), utc(2027, 4, 5, 8)) in rows
