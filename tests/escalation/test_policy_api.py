"""The escalation policies API: levels with their people and schedules, replaced as a whole."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from escalation.models import EscalationPolicy
from schedules.models import Schedule, Team, TeamMembership
from tests.factories import MembershipFactory, PolicyFactory, TeamFactory, UserFactory, add_level

pytestmark = pytest.mark.django_db


def client_of(user: Any) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def member(team: Team, username: str, role: str = TeamMembership.Role.RESPONDER) -> Any:
    user = UserFactory(username=username)
    MembershipFactory(team=team, user=user, role=role)
    return user


@pytest.fixture
def team() -> Team:
    return TeamFactory(name="Platform")


@pytest.fixture
def maria(team: Team) -> Any:
    return member(team, "maria", TeamMembership.Role.MANAGER)


@pytest.fixture
def rota(team: Team) -> Schedule:
    return Schedule.objects.create(team=team, name="Primary", time_zone="Europe/Berlin")


def policy_url(policy: EscalationPolicy) -> str:
    return f"/api/v1/escalation-policies/{policy.pk}/"


def test_a_level_shows_and_keeps_the_schedules_it_pages_through(
    team: Team, maria: Any, rota: Schedule
) -> None:
    alice = member(team, "alice")
    policy = PolicyFactory(team=team)
    add_level(policy, [alice], timedelta(minutes=5)).schedules.add(rota)
    client = client_of(maria)

    shown = client.get(policy_url(policy)).json()["levels"]
    # A client that reads the policy and writes it back changes nothing.
    written = client.patch(policy_url(policy), {"levels": shown}, content_type="application/json")

    assert shown == [
        {"position": 1, "delay_seconds": 300, "users": ["alice"], "schedules": [rota.pk]}
    ]
    assert written.status_code == 200, written.content
    [level] = policy.levels.all()
    assert list(level.schedules.all()) == [rota]
    assert list(level.users.all()) == [alice]


def test_a_policy_is_created_with_a_level_that_pages_a_schedule_only(
    team: Team, maria: Any, rota: Schedule
) -> None:
    body = {
        "name": "Schedule first",
        "team": team.pk,
        "repeat": 1,
        "levels": [{"position": 1, "delay_seconds": 600, "schedules": [rota.pk]}],
    }

    response = client_of(maria).post(
        "/api/v1/escalation-policies/", body, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    level = EscalationPolicy.objects.get(name="Schedule first").levels.get()
    assert list(level.schedules.all()) == [rota]
    assert not level.users.exists()
    assert response.json()["levels"][0]["users"] == []


def test_a_level_pages_no_schedule_of_another_team_nor_one_that_does_not_exist(
    team: Team, maria: Any, rota: Schedule
) -> None:
    alice = member(team, "alice")
    policy = PolicyFactory(team=team)
    add_level(policy, [alice], timedelta(minutes=5))
    elsewhere = Schedule.objects.create(team=TeamFactory(name="Security"), name="Security")
    missing = elsewhere.pk + 1000
    levels = [{"position": 1, "delay_seconds": 60, "schedules": [rota.pk, elsewhere.pk]}]
    client = client_of(maria)

    foreign = client.patch(policy_url(policy), {"levels": levels}, content_type="application/json")
    levels[0]["schedules"] = [missing]
    unknown = client.patch(policy_url(policy), {"levels": levels}, content_type="application/json")

    assert foreign.status_code == 400
    assert foreign.json()["levels"] == [f"Not schedules of the team: {elsewhere.pk}."]
    # The same answer for a schedule that does not exist: nothing tells what another team has.
    assert unknown.json()["levels"] == [f"Not schedules of the team: {missing}."]
    [level] = policy.levels.all()
    assert list(level.users.all()) == [alice]
    assert not level.schedules.exists()


@pytest.mark.parametrize("level", [{}, {"users": [], "schedules": []}], ids=["absent", "empty"])
def test_a_level_that_would_page_nobody_is_refused(
    team: Team, maria: Any, level: dict[str, Any]
) -> None:
    alice = member(team, "alice")
    policy = PolicyFactory(team=team)
    add_level(policy, [alice], timedelta(minutes=5))
    body = {"levels": [{"position": 1, "delay_seconds": 60, **level}]}

    response = client_of(maria).patch(policy_url(policy), body, content_type="application/json")

    assert response.status_code == 400
    # DRF keys a partial update's list errors by index.
    assert response.json()["levels"] == {
        "0": {"non_field_errors": ["A level pages someone: give users, schedules or both."]}
    }
    assert list(policy.levels.get().users.all()) == [alice]


def test_naming_people_outside_the_team_on_a_level_tells_nothing_about_them(
    team: Team, maria: Any
) -> None:
    alice = member(team, "alice")
    policy = PolicyFactory(team=team)
    add_level(policy, [alice], timedelta(minutes=5))
    otto = UserFactory(username="otto")
    MembershipFactory(team=TeamFactory(name="Security"), user=otto)
    client = client_of(maria)

    answers = [
        client.patch(
            policy_url(policy),
            {"levels": [{"position": 1, "delay_seconds": 60, "users": ["alice", ref]}]},
            content_type="application/json",
        ).json()
        for ref in ("otto", "ghost", otto.pk)
    ]

    assert answers == [
        {"levels": [f"Not active members of the team Platform: {ref}."]}
        for ref in ("otto", "ghost", otto.pk)
    ]
    assert list(policy.levels.get().users.all()) == [alice]
