"""The bounds of schedules.limits: the model refuses rotations and overrides whose arithmetic
would overflow (the admin, the API and full_clean() alike), and one such row stored anyway
(around validation, or before the bounds existed) never stops intake or paging."""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client

from incidents.models import Alert, IncidentEvent, Notification
from schedules.limits import RANGE_MESSAGE, max_turn_length
from schedules.models import (
    Override,
    PersonSettings,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
)
from schedules.oncall import UNCOMPUTABLE, final_shifts, oncall_at
from schedules.selectors import oncall_user_ids, schedule_rules
from tests.conftest import Setup
from tests.factories import TeamFactory
from tests.schedules.test_admin import (
    BERLIN,
    Role,
    client_for,
    member,
    scrape,
    url,
    weekly_rotation,
)
from tests.schedules.test_api import call, get

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin
FIRST_HANDOFF = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
TOO_LONG = [(1_000_000, "weeks"), (2_147_483_647, "weeks"), (2_147_483_647, "hours")]


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def frozen_now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def team() -> Team:
    team: Team = TeamFactory(name="Platform")
    return team


@pytest.fixture
def maria(team: Team) -> Any:
    return member(team, "maria", Role.MANAGER)


@pytest.fixture
def rotation(team: Team) -> Rotation:
    schedule = Schedule.objects.create(team=team, name="Platform primary", time_zone=BERLIN)
    return weekly_rotation(schedule, [member(team, "alice"), member(team, "bob")], FIRST_HANDOFF)


def errors_of(instance: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        instance.full_clean()
    return refused.value.message_dict


# --- The model --------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "longest"), [("hours", 8784), ("days", 366), ("weeks", 52)])
def test_a_turn_may_last_a_year_of_its_unit_and_no_more(
    rotation: Rotation, unit: str, longest: int
) -> None:
    assert max_turn_length(unit) == longest
    rotation.turn_unit, rotation.turn_length = unit, longest
    rotation.full_clean()

    rotation.turn_length = longest + 1

    assert errors_of(rotation) == {
        "turn_length": [f"A turn may last at most 366 days: {longest} {unit}."]
    }


@pytest.mark.parametrize(("unit", "shortest"), [("minutes", 15), ("hours", 1)])
def test_a_turn_lasts_at_least_15_minutes(rotation: Rotation, unit: str, shortest: int) -> None:
    """One-minute turns made a year of one schedule's shifts half a million (seconds of work
    for any reader of its shifts, feed or timeline)."""
    rotation.turn_unit, rotation.turn_length = unit, shortest
    rotation.full_clean()

    rotation.turn_unit, rotation.turn_length = "minutes", 14

    assert errors_of(rotation) == {"turn_length": ["A turn lasts at least 15 minutes."]}


def test_turns_stored_shorter_than_15_minutes_are_refused_by_the_pure_functions(
    rotation: Rotation,
) -> None:
    Rotation.objects.filter(pk=rotation.pk).update(turn_length=1, turn_unit="minutes")
    rules = schedule_rules([rotation.schedule_id])[rotation.schedule_id]

    with pytest.raises(UNCOMPUTABLE):
        final_shifts(rules, FIRST_HANDOFF, FIRST_HANDOFF + timedelta(days=1))
    with pytest.raises(UNCOMPUTABLE):
        oncall_at(rules, FIRST_HANDOFF + timedelta(hours=1))


@pytest.mark.parametrize(
    "instant", [utc(1969, 12, 31, 23, 59), utc(3000, 1, 1), datetime.min.replace(tzinfo=UTC)]
)
@pytest.mark.parametrize("field", ["start", "end"])
def test_rotations_and_overrides_lie_between_1970_and_2999(
    rotation: Rotation, field: str, instant: datetime
) -> None:
    override = Override(
        schedule=rotation.schedule,
        user=rotation.participants.first().user,  # type: ignore[union-attr]
        start=NOW,
        end=NOW + timedelta(hours=1),
    )
    setattr(rotation, field, instant)
    setattr(override, field, instant)

    assert RANGE_MESSAGE in errors_of(rotation)[field]
    assert RANGE_MESSAGE in errors_of(override)[field]


def test_the_bounds_themselves_are_accepted(rotation: Rotation) -> None:
    rotation.start, rotation.end = utc(1970, 1, 1), utc(2999, 12, 31, 23, 59)
    rotation.turn_unit, rotation.turn_length = "weeks", 52

    rotation.full_clean()


# --- The admin --------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "unit"), TOO_LONG)
def test_the_admin_refuses_a_turn_longer_than_a_year(
    rotation: Rotation, maria: Any, length: int, unit: str
) -> None:
    client = client_for(maria)
    page = url("rotation_change", rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data.update({"turn_length": str(length), "turn_unit": unit})

    response = client.post(page, data)

    assert response.status_code == 200  # the form again, with the reason
    assert "A turn may last at most 366 days" in response.content.decode()
    rotation.refresh_from_db()
    assert (rotation.turn_length, rotation.turn_unit) == (1, "weeks")


@pytest.mark.parametrize(
    ("day", "clock"),
    [
        ("0001-01-01", "00:30:00"),  # before year 1 in UTC: Berlin is ahead
        ("9999-12-31", "23:30:00"),  # past year 9999 in Chicago's UTC
        ("1969-12-31", "12:00:00"),  # a valid datetime, outside the bounds
        ("3000-01-01", "12:00:00"),
    ],
)
def test_the_admin_refuses_extreme_dates_with_a_form_error(
    rotation: Rotation, maria: Any, day: str, clock: str
) -> None:
    client = client_for(maria)
    client.raise_request_exception = False
    page = url("rotation_change", rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data.update({"start_0": day, "start_1": clock})

    response = client.post(page, data)

    assert response.status_code == 200
    assert RANGE_MESSAGE in response.content.decode()
    rotation.refresh_from_db()
    assert rotation.start == FIRST_HANDOFF

    chicago = Schedule.objects.create(
        team=rotation.schedule.team, name="C", time_zone="America/Chicago"
    )
    form = scrape(client, url("override_add") + f"?schedule={chicago.pk}", "override_form").data
    alice = rotation.participants.first().user  # type: ignore[union-attr]
    form.update(
        {
            "schedule": str(chicago.pk),
            "user": str(alice.pk),
            "start_0": "2030-01-07",
            "start_1": "10:00:00",
            "end_0": day,
            "end_1": clock,
        }
    )

    response = client.post(url("override_add"), form)

    assert response.status_code == 200
    assert RANGE_MESSAGE in response.content.decode()
    assert not Override.objects.exists()


@pytest.mark.parametrize(
    "start",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:00", "1969-12-31T23:00:00Z"],
)
def test_an_override_form_asked_to_start_at_an_extreme_instant_starts_empty(
    rotation: Rotation, maria: Any, start: str
) -> None:
    query = {"schedule": rotation.schedule_id, "start": start, "end": "2030-01-08T09:00:00Z"}

    response = client_for(maria).get(url("override_add"), query)

    assert response.status_code == 200
    initial = response.context["adminform"].form.initial
    assert "start" not in initial
    assert initial["end"] == utc(2030, 1, 8, 9)


# --- The API ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "unit"), [*TOO_LONG, (53, "weeks"), (367, "days")])
def test_the_api_refuses_a_turn_longer_than_a_year_as_the_model_does(
    rotation: Rotation, maria: Any, length: int, unit: str
) -> None:
    body = {"turn_length": length, "turn_unit": unit}

    response = call("PATCH", maria, f"/api/v1/rotations/{rotation.pk}/", body)

    assert response.status_code == 400
    rotation.turn_length, rotation.turn_unit = length, unit
    assert response.json()["turn_length"] == errors_of(rotation)["turn_length"]


@pytest.mark.parametrize("instant", ["0001-01-01T00:30:00+01:00", "3000-01-01T00:00:00Z"])
def test_the_api_refuses_rotations_and_overrides_outside_the_bounds(
    rotation: Rotation, maria: Any, instant: str
) -> None:
    patched = call("PATCH", maria, f"/api/v1/rotations/{rotation.pk}/", {"start": instant})
    override = {
        "schedule": rotation.schedule_id,
        "user": "alice",
        "start": "2030-01-07T10:00:00Z",
        "end": instant,
    }
    created = call("POST", maria, "/api/v1/overrides/", override)

    assert (patched.status_code, created.status_code) == (400, 400)
    assert "start" in patched.json()
    assert "end" in created.json()


# --- A bad row stored anyway ------------------------------------------------------------------


def store_unbounded_turns(rotation: Rotation) -> None:
    """What the admin accepted before the bounds: turns of a million weeks. .update() skips
    validation, as a shell, a script or an old row would."""
    Rotation.objects.filter(pk=rotation.pk).update(turn_length=1_000_000, turn_unit="weeks")


def test_a_schedule_that_cannot_be_computed_has_nobody_on_call_and_is_logged(
    rotation: Rotation, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    sound = Schedule.objects.create(team=team, name="Sound", time_zone=BERLIN)
    weekly_rotation(sound, [member(team, "carol")], FIRST_HANDOFF)
    store_unbounded_turns(rotation)
    caplog.set_level(logging.ERROR, logger="schedules.selectors")
    broken = rotation.schedule_id
    # Its turns are longer than any the pure functions take (their arithmetic overflows, e.g.
    # the second handoff is past year 9999): they refuse it, whatever they are asked.
    later = FIRST_HANDOFF + timedelta(days=1)

    found = oncall_user_ids([broken, sound.pk], later)

    assert found[sound.pk] == sound.rotations.get().participants.get().user_id
    assert found[broken] is None
    [record] = caplog.records
    assert f"schedule {broken}" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
    assert "past 366" in str(record.exc_info[1])


def test_a_schedule_stored_with_a_zone_that_does_not_exist_has_nobody_on_call(
    rotation: Rotation, caplog: pytest.LogCaptureFixture
) -> None:
    Schedule.objects.filter(pk=rotation.schedule_id).update(time_zone="Mars/Olympus")
    caplog.set_level(logging.ERROR, logger="schedules.selectors")

    assert oncall_user_ids([rotation.schedule_id], NOW) == {rotation.schedule_id: None}
    assert len(caplog.records) == 1


def test_the_api_answers_409_for_a_schedule_that_cannot_be_computed_and_lists_it_as_nobody(
    rotation: Rotation, team: Team, maria: Any
) -> None:
    sound = Schedule.objects.create(team=team, name="Sound", time_zone=BERLIN)
    weekly_rotation(sound, [member(team, "carol")], FIRST_HANDOFF)
    Rotation.objects.filter(pk=rotation.pk).update(time_zone="Mars/Olympus")
    base = f"/api/v1/schedules/{rotation.schedule_id}"
    window = {"start": "2030-01-07T00:00:00Z", "end": "2030-01-14T00:00:00Z"}

    answers = [
        get(maria, f"{base}/oncall/"),
        get(maria, f"{base}/shifts/", **window),
        get(maria, f"{base}/gaps/", **window),
    ]
    everywhere = get(maria, "/api/v1/schedules/oncall/").json()["results"]

    for response in answers:
        assert response.status_code == 409
        assert "cannot be computed" in response.json()["detail"]
        assert "Mars/Olympus" in response.json()["detail"]
    by_schedule = {row["schedule"]["id"]: row["shift"] for row in everywhere}
    assert by_schedule[rotation.schedule_id] is None
    assert by_schedule[sound.pk]["user"]["username"] == "carol"


def test_a_feed_of_a_schedule_that_cannot_be_computed_says_why_and_a_persons_goes_on(
    rotation: Rotation, team: Team
) -> None:
    alice = rotation.participants.get(position=0).user
    sound = Schedule.objects.create(team=team, name="Sound", time_zone=BERLIN)
    weekly_rotation(sound, [alice], FIRST_HANDOFF)
    Rotation.objects.filter(pk=rotation.pk).update(time_zone="Mars/Olympus")
    broken = Schedule.objects.get(pk=rotation.schedule_id)
    person = PersonSettings.objects.create(user=alice)

    schedule_feed = Client().get(f"/calendars/schedules/{broken.feed_token}.ics")
    person_feed = Client().get(f"/calendars/people/{person.feed_token}.ics")

    assert schedule_feed.status_code == 409
    assert "cannot be computed" in schedule_feed.content.decode()
    assert person_feed.status_code == 200
    assert b"SUMMARY:On call: alice (Sound)" in person_feed.content
    assert b"Platform primary" not in person_feed.content


@pytest.fixture
def broken_schedule(setup: Setup) -> Schedule:
    """Level 1 of the service's policy targets a schedule with unbounded turns stored."""
    team = setup.service.team
    schedule = Schedule.objects.create(team=team, name="Broken", time_zone=BERLIN)
    layer = Rotation.objects.create(
        schedule=schedule, name="r", start=utc(2030, 3, 1, 8), turn_unit="weeks"
    )
    RotationParticipant.objects.create(rotation=layer, user=setup.alice, position=0)
    store_unbounded_turns(layer)
    level = setup.service.escalation_policy.levels.get(position=1)
    level.users.clear()
    level.schedules.set([schedule])
    member(team, "mia", Role.MANAGER)
    return schedule


def test_intake_stores_the_alert_and_escalation_says_nobody_is_on_call(
    setup: Setup, broken_schedule: Schedule
) -> None:
    body = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "payload": {"summary": "disk", "source": "db", "severity": "critical"},
    }
    with time_machine.travel(utc(2030, 3, 2), tick=False):
        response = Client(raise_request_exception=False).post(
            "/v2/enqueue", json.dumps(body), content_type="application/json"
        )

    assert response.status_code == 202, response.content
    alert = Alert.objects.get()
    incident = alert.incident
    assert incident is not None
    assert incident.events.filter(
        kind=IncidentEvent.Kind.NOBODY_TO_PAGE, message="Nobody on call in Broken for level 1."
    ).exists()
    told = incident.notifications.filter(purpose=Notification.Purpose.NOBODY_ON_CALL)
    assert list(told.values_list("user__username", flat=True)) == ["mia"]
    # And level 2 (bob) is paged at once, as for any level with nobody on call.
    assert incident.notifications.filter(
        purpose=Notification.Purpose.PAGE, user=setup.bob, level_position=2
    ).exists()
