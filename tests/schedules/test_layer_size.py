"""A layer holds at most MAX_PARTICIPANTS places and MAX_RESTRICTIONS windows (schedules.limits),
in the API and in the admin alike, refused with a reason rather than stored (or failing)."""

import json
from datetime import UTC, datetime, time
from typing import Any

import pytest
import time_machine
from rest_framework.schemas.openapi import SchemaGenerator

from schedules.limits import MAX_PARTICIPANTS, MAX_RESTRICTIONS
from schedules.models import Restriction, Rotation, RotationParticipant, Schedule, Team
from tests.factories import TeamFactory
from tests.schedules.test_admin import (
    BERLIN,
    Role,
    add_row,
    client_for,
    member,
    scrape,
    url,
    weekly_rotation,
)
from tests.schedules.test_api import call

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
PARTICIPANTS_MESSAGE = f"A rotation takes at most {MAX_PARTICIPANTS} participants."
RESTRICTIONS_MESSAGE = f"A rotation takes at most {MAX_RESTRICTIONS} restrictions."


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
def alice(team: Team) -> Any:
    return member(team, "alice")


@pytest.fixture
def schedule(team: Team) -> Schedule:
    return Schedule.objects.create(team=team, name="Platform primary", time_zone=BERLIN)


def windows(count: int) -> list[dict[str, Any]]:
    """`count` distinct daily windows of one minute each."""
    return [
        {"start_time": f"{i // 60:02}:{i % 60:02}", "end_time": f"{i // 60:02}:{i % 60 + 1:02}"}
        for i in range(count)
    ]


def body(schedule: Schedule, **changes: Any) -> dict[str, Any]:
    return {
        "schedule": schedule.pk,
        "name": "Weekly",
        "start": "2030-01-07T09:00:00+01:00",
        "participants": ["alice"],
        **changes,
    }


# --- The API ----------------------------------------------------------------------------------


def test_the_api_takes_a_full_layer(schedule: Schedule, maria: Any, alice: Any) -> None:
    full = body(
        schedule,
        participants=["alice"] * MAX_PARTICIPANTS,
        restrictions=windows(MAX_RESTRICTIONS),
    )

    response = call("POST", maria, "/api/v1/rotations/", full)

    assert response.status_code == 201, response.content
    rotation = Rotation.objects.get()
    assert rotation.participants.count() == MAX_PARTICIPANTS
    assert rotation.restrictions.count() == MAX_RESTRICTIONS


@pytest.mark.parametrize("count", [MAX_PARTICIPANTS + 1, 40_000])
def test_the_api_refuses_more_participants(
    schedule: Schedule, maria: Any, alice: Any, count: int
) -> None:
    response = call(
        "POST", maria, "/api/v1/rotations/", body(schedule, participants=["alice"] * count)
    )

    assert response.status_code == 400
    assert response.json()["participants"] == [PARTICIPANTS_MESSAGE]
    assert not Rotation.objects.exists()


def test_the_api_refuses_more_restrictions(schedule: Schedule, maria: Any, alice: Any) -> None:
    too_many = body(schedule, restrictions=windows(MAX_RESTRICTIONS + 1))

    response = call("POST", maria, "/api/v1/rotations/", too_many)

    assert response.status_code == 400
    assert RESTRICTIONS_MESSAGE in json.dumps(response.json()["restrictions"])
    assert not Rotation.objects.exists()


def test_the_schema_states_the_limits() -> None:
    schema = SchemaGenerator(title="t").get_schema(request=None, public=True)
    rotation = schema["components"]["schemas"]["Rotation"]["properties"]

    assert rotation["participants"]["maxItems"] == MAX_PARTICIPANTS
    assert f"At most {MAX_RESTRICTIONS}." in rotation["restrictions"]["description"]


# --- The admin --------------------------------------------------------------------------------


def test_the_admin_refuses_more_participants(schedule: Schedule, maria: Any, alice: Any) -> None:
    rotation = weekly_rotation(schedule, [alice] * MAX_PARTICIPANTS, NOW)
    client = client_for(maria)
    page = url("rotation_change", rotation.pk)
    data = scrape(client, page, "rotation_form").data
    add_row(data, "participants", position=str(MAX_PARTICIPANTS), user=str(alice.pk))

    response = client.post(page, data)

    assert response.status_code == 200
    assert PARTICIPANTS_MESSAGE in response.content.decode()
    assert RotationParticipant.objects.count() == MAX_PARTICIPANTS


def test_the_admin_refuses_more_restrictions(schedule: Schedule, maria: Any, alice: Any) -> None:
    rotation = weekly_rotation(schedule, [alice], NOW)
    client = client_for(maria)
    page = url("rotation_change", rotation.pk)
    data = scrape(client, page, "rotation_form").data
    for window in windows(MAX_RESTRICTIONS + 1):
        add_row(data, "restrictions", **window)

    response = client.post(page, data)

    assert response.status_code == 200
    assert RESTRICTIONS_MESSAGE in response.content.decode()
    assert not Restriction.objects.exists()


def test_the_admin_takes_a_full_layer(schedule: Schedule, maria: Any, alice: Any) -> None:
    rotation = weekly_rotation(schedule, [alice], NOW)
    client = client_for(maria)
    page = url("rotation_change", rotation.pk)
    data = scrape(client, page, "rotation_form").data
    for window in windows(MAX_RESTRICTIONS):
        add_row(data, "restrictions", **window)

    response = client.post(page, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Restriction.objects.count() == MAX_RESTRICTIONS
    assert time(0, 0) in set(Restriction.objects.values_list("start_time", flat=True))
