"""People who may no longer be on call through a schedule (deactivated, or out of its team) are
nobody everywhere the schedule is shown, as they are to escalation: the on-call column, the
timeline, the gap warnings and the iCal feed show the gap (or the layer below), and a level
targeting the schedule records that nobody is on call and tells the managers."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from incidents.models import IncidentEvent, Notification
from schedules.models import Rotation, RotationParticipant, Schedule, Team, TeamMembership
from schedules.oncall import DAYS, Layer, layer_shifts, zone
from schedules.timeline import GAP
from tests.conftest import Setup
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.incidents.test_escalation_schedules import paged, target_schedule_at_level_one, trigger
from tests.schedules.test_admin import (
    BERLIN,
    Role,
    client_for,
    final_people,
    member,
    messages_of,
    scrape,
    url,
    weekly_rotation,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin
FIRST_HANDOFF = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 local: alice's week, then bob's
HOW = ["deactivated", "left the team", "moved to another team"]


def leave(person: Any, team: Team, how: str) -> None:
    if how == "deactivated":
        person.is_active = False
        person.save()
    elif how == "left the team":
        TeamMembership.objects.filter(team=team, user=person).delete()
    else:
        TeamMembership.objects.filter(team=team, user=person).update(team=TeamFactory())


def test_a_place_held_by_nobody_is_a_gap_in_the_layer_and_the_order_stays() -> None:
    day = timedelta(days=1)
    layer = Layer(1, 1, FIRST_HANDOFF, None, 1, DAYS, participants=(10, None, 30))
    shifts = layer_shifts(layer, zone(BERLIN), FIRST_HANDOFF, FIRST_HANDOFF + 4 * day)

    assert [(s.start, s.end, s.user_id) for s in shifts] == [
        (FIRST_HANDOFF, FIRST_HANDOFF + day, 10),
        (FIRST_HANDOFF + 2 * day, FIRST_HANDOFF + 3 * day, 30),
        (FIRST_HANDOFF + 3 * day, FIRST_HANDOFF + 4 * day, 10),
    ]


def test_a_layer_held_only_by_nobody_has_no_shifts() -> None:
    layer = Layer(1, 1, FIRST_HANDOFF, None, 1, DAYS, participants=(None, None))

    assert layer_shifts(layer, zone(BERLIN), NOW, NOW + timedelta(days=30)) == []


@dataclass
class Crew:
    team: Team
    maria: Any
    alice: Any
    bob: Any
    schedule: Schedule


@pytest.fixture
def crew() -> Any:
    with time_machine.travel(NOW, tick=False):
        team: Team = TeamFactory(name="Platform")
        maria = member(team, "maria", Role.MANAGER)
        alice, bob = member(team, "alice"), member(team, "bob")
        schedule = Schedule.objects.create(team=team, name="Platform primary", time_zone=BERLIN)
        weekly_rotation(schedule, [alice, bob], FIRST_HANDOFF)
        yield Crew(team, maria, alice, bob, schedule)


@pytest.mark.parametrize("how", HOW)
def test_the_on_call_column_shows_the_layer_below(crew: Crew, how: str) -> None:
    backup = Rotation.objects.create(
        schedule=crew.schedule, name="Backup", priority=0, start=FIRST_HANDOFF
    )
    RotationParticipant.objects.create(rotation=backup, user=crew.maria, position=0)
    leave(crew.alice, crew.team, how)

    response = client_for(crew.maria).get(url("schedule_changelist"))

    assert [s.on_call for s in response.context["cl"].result_list] == [crew.maria]


@pytest.mark.parametrize("how", HOW)
def test_the_timeline_and_the_gap_warning_show_their_turn_as_a_gap(crew: Crew, how: str) -> None:
    leave(crew.alice, crew.team, how)
    client = client_for(crew.maria)
    page = url("schedule_change", crew.schedule.pk)

    shown = final_people(client.get(page))
    saved = client.post(page, scrape(client, page, "schedule_form").data)

    assert shown == [GAP, "bob"]  # alice's week, from now to Monday 14 January, is empty
    [warning] = [m for m in messages_of(saved) if m.startswith("Nobody is on call")]
    assert "Mon 7 Jan 10:00" in warning


@pytest.mark.parametrize("how", HOW)
def test_the_ical_feed_has_no_event_for_them(crew: Crew, how: str) -> None:
    leave(crew.alice, crew.team, how)
    token = Schedule.objects.get(pk=crew.schedule.pk).feed_token

    response = Client().get(f"/calendars/schedules/{token}.ics")

    summaries = {str(e["summary"]) for e in Calendar.from_ical(response.content).walk("VEVENT")}
    assert summaries
    assert not any("alice" in summary for summary in summaries)


@pytest.mark.parametrize("how", HOW)
def test_a_level_targeting_the_schedule_records_nobody_on_call_and_tells_the_managers(
    setup: Setup, time_machine: Any, how: str
) -> None:
    team = setup.service.team
    schedule = Schedule.objects.create(team=team, name="Nights", time_zone=BERLIN)
    carol = UserFactory(username="carol")
    MembershipFactory(team=team, user=carol)
    weekly_rotation(schedule, [carol], FIRST_HANDOFF)
    MembershipFactory(team=team, user=UserFactory(username="mia"), role=Role.MANAGER)
    target_schedule_at_level_one(setup, schedule)
    leave(carol, team, how)
    time_machine.move_to(NOW, tick=False)

    incident = trigger(setup)

    assert incident.events.filter(
        kind=IncidentEvent.Kind.NOBODY_TO_PAGE, message="Nobody on call in Nights for level 1."
    ).exists()
    assert paged(incident) == [
        (Notification.Purpose.NOBODY_ON_CALL, "mia", 1),
        (Notification.Purpose.PAGE, "bob", 2),
    ]
