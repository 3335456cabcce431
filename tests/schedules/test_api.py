"""The schedules REST API: CRUD of schedules, rotations (participants and restrictions
nested) and overrides under team permissions; who is on call, final shifts and gaps; the
feed-token rotations; the OpenAPI schema."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.schemas.openapi import SchemaGenerator

from escalation.models import EscalationPolicy
from incidents.models import AuditEntry
from schedules.access import AUDITORS_GROUP, role_group
from schedules.feeds import schedule_feed_url
from schedules.models import (
    Override,
    PersonSettings,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from tests.factories import MembershipFactory, TeamFactory, UserFactory, add_level

pytestmark = pytest.mark.django_db

Role = TeamMembership.Role
BERLIN_DST_START = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET -> 03:00 CEST
ROTATION_START = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


@dataclass
class Crew:
    team: Team
    manager: Any
    alice: Any
    bob: Any
    outsider: Any  # a member of another team
    auditor: Any
    schedule: Schedule
    rotation: Rotation
    other_schedule: Schedule  # the other team's


def make_schedule(team: Team, name: str, people: list[Any], **rotation: Any) -> Schedule:
    """A Berlin schedule with a daily rotation of `people`, handing off at 09:00 local."""
    schedule = Schedule.objects.create(team=team, name=name, time_zone="Europe/Berlin")
    layer = Rotation.objects.create(
        schedule=schedule,
        name=f"{name} daily",
        start=rotation.pop("start", ROTATION_START),
        turn_length=1,
        turn_unit="days",
        **rotation,
    )
    for position, user in enumerate(people):
        RotationParticipant.objects.create(rotation=layer, user=user, position=position)
    return schedule


@pytest.fixture
def crew() -> Crew:
    team = TeamFactory(name="Platform")
    manager, alice, bob = (UserFactory(username=name) for name in ("maria", "alice", "bob"))
    MembershipFactory(team=team, user=manager, role=Role.MANAGER)
    MembershipFactory(team=team, user=alice)
    MembershipFactory(team=team, user=bob)
    other_team = TeamFactory(name="Other")
    outsider = UserFactory(username="otto")
    MembershipFactory(team=other_team, user=outsider)
    auditor = UserFactory(username="audrey")
    auditor.groups.add(role_group(AUDITORS_GROUP))
    schedule = make_schedule(team, "Primary", [alice, bob])
    other = make_schedule(other_team, "Other primary", [outsider])
    return Crew(
        team, manager, alice, bob, outsider, auditor, schedule, schedule.rotations.get(), other
    )


def headers(user: Any) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def call(method: str, user: Any, url: str, body: Any = None) -> Any:
    return Client().generic(
        method,
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers(user),
    )


def get(user: Any, url: str, **query: str) -> Any:
    return Client().get(url, query, headers=headers(user))


def entries_for(obj: Any) -> Any:
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_pk=str(obj.pk)
    )


# --- Schedules ------------------------------------------------------------------------------


def test_a_manager_creates_a_schedule_in_their_team_with_a_feed_url(crew: Crew) -> None:
    body = {"name": "Secondary", "team": crew.team.pk, "time_zone": "America/Chicago"}

    response = call("POST", crew.manager, "/api/v1/schedules/", body)

    assert response.status_code == 201, response.content
    schedule = Schedule.objects.get(pk=response.json()["id"])
    assert (schedule.team, schedule.time_zone) == (crew.team, "America/Chicago")
    assert response.json()["feed_url"].endswith(f"/calendars/schedules/{schedule.feed_token}.ics")
    assert entries_for(schedule).get(action=AuditEntry.Action.CREATE).actor == crew.manager


@pytest.mark.parametrize("name", ["Pri\nmary", "Pri\r\nmary", "Pri\tmary", "Pri\x1bmary"])
def test_a_name_is_one_line(crew: Crew, name: str) -> None:
    url = f"/api/v1/schedules/{crew.schedule.pk}/"

    response = call("PATCH", crew.manager, url, {"name": name})

    assert response.status_code == 400
    assert response.json()["name"] == [
        "Give a name on one line, without line breaks, tabs or other control characters."
    ]
    assert Schedule.objects.get(pk=crew.schedule.pk).name == "Primary"


def test_a_responder_cannot_create_a_schedule(crew: Crew) -> None:
    body = {"name": "Mine", "team": crew.team.pk, "time_zone": "UTC"}

    response = call("POST", crew.alice, "/api/v1/schedules/", body)

    assert response.status_code == 403
    assert not Schedule.objects.filter(name="Mine").exists()


def test_a_schedule_is_not_created_in_a_team_the_manager_does_not_manage(crew: Crew) -> None:
    body = {"name": "Theirs", "team": crew.other_schedule.team_id, "time_zone": "UTC"}

    response = call("POST", crew.manager, "/api/v1/schedules/", body)

    assert response.status_code == 400
    assert "team" in response.json()


def test_a_schedule_needs_an_iana_time_zone(crew: Crew) -> None:
    body = {"name": "Nowhere", "team": crew.team.pk, "time_zone": "CEST"}

    response = call("POST", crew.manager, "/api/v1/schedules/", body)

    assert response.status_code == 400
    assert "IANA" in response.json()["time_zone"][0]


def test_a_schedule_moves_to_another_team_only_with_its_people(crew: Crew) -> None:
    """As in the admin: its layers' people must be in the new team (who else may refuse a
    move: tests/rbac/test_team_moves.py)."""
    spare = TeamFactory(name="Spare")
    MembershipFactory(team=spare, user=crew.manager, role=Role.MANAGER)
    MembershipFactory(team=spare, user=crew.alice)
    path = f"/api/v1/schedules/{crew.schedule.pk}/"

    refused = call("PATCH", crew.manager, path, {"team": spare.pk})
    assert Schedule.objects.get(pk=crew.schedule.pk).team == crew.team
    MembershipFactory(team=spare, user=crew.bob)
    moved = call("PATCH", crew.manager, path, {"team": spare.pk})

    assert refused.status_code == 400
    assert refused.json()["team"] == [
        "bob would be on call for Spare without being in it: take them off this schedule first."
    ]
    assert moved.status_code == 200, moved.content
    assert Schedule.objects.get(pk=crew.schedule.pk).team == spare


def test_responders_read_their_teams_schedules_only(crew: Crew) -> None:
    listed = get(crew.alice, "/api/v1/schedules/").json()["results"]

    assert [row["name"] for row in listed] == ["Primary"]
    assert get(crew.alice, f"/api/v1/schedules/{crew.other_schedule.pk}/").status_code == 404


def test_a_schedule_a_level_pages_through_is_not_deleted(crew: Crew) -> None:
    policy = EscalationPolicy.objects.create(team=crew.team, name="Platform paging")
    add_level(policy, [], timedelta(minutes=5)).schedules.add(crew.schedule)

    response = call("DELETE", crew.manager, f"/api/v1/schedules/{crew.schedule.pk}/")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Still in use by: Platform paging level 1. Remove those first."
    )
    assert Schedule.objects.filter(pk=crew.schedule.pk).exists()
    with pytest.raises(ProtectedError), transaction.atomic():  # and however it is deleted
        Schedule.objects.filter(pk=crew.schedule.pk).delete()
    assert Schedule.objects.filter(pk=crew.schedule.pk).exists()


# --- Rotations ------------------------------------------------------------------------------


def rotation_body(crew: Crew, **changes: Any) -> dict[str, Any]:
    return {
        "schedule": crew.schedule.pk,
        "name": "Weekdays",
        "priority": 2,
        "start": "2026-03-23T09:00:00+01:00",
        "turn_length": 1,
        "turn_unit": "weeks",
        "participants": [crew.bob.pk, "alice", crew.bob.pk],
        "restrictions": [
            {"start_day": 0, "start_time": "09:00", "end_day": 4, "end_time": "17:00"}
        ],
        **changes,
    }


def test_a_manager_creates_a_rotation_with_ordered_participants_and_restrictions(
    crew: Crew,
) -> None:
    response = call("POST", crew.manager, "/api/v1/rotations/", rotation_body(crew))

    assert response.status_code == 201, response.content
    rotation = Rotation.objects.get(pk=response.json()["id"])
    order = rotation.participants.order_by("position").values_list("user__username", flat=True)
    assert list(order) == ["bob", "alice", "bob"]
    assert response.json()["participants"] == ["bob", "alice", "bob"]
    assert rotation.start == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    assert response.json()["start"] == "2026-03-23T08:00:00Z"
    [window] = rotation.restrictions.all()
    assert (window.start_day, window.start_time, window.end_day) == (0, time(9), 4)
    created = AuditEntry.objects.filter(action=AuditEntry.Action.CREATE, actor=crew.manager)
    assert created.filter(content_type__model="rotationparticipant").count() == 3


def test_a_layer_in_its_own_zone_keeps_its_local_hours_there(crew: Crew) -> None:
    """Maria's layer of the Berlin schedule is on 09:00-17:00 in Chicago: 16:00-24:00 in
    Berlin until Chicago's clocks go forward (8 March 2026), 15:00-23:00 in the three weeks
    before Berlin's do (29 March). In Berlin's zone it would be 09:00-17:00 in Berlin."""
    body = rotation_body(
        crew,
        name="Americas",
        priority=5,
        start="2026-03-02T09:00:00-06:00",
        time_zone="America/Chicago",
        participants=["maria"],
        restrictions=[{"start_time": "09:00", "end_time": "17:00"}],
    )
    created = call("POST", crew.manager, "/api/v1/rotations/", body)
    assert created.status_code == 201, created.content
    assert created.json()["time_zone"] == "America/Chicago"

    def on_call(at: str) -> str | None:
        shift = oncall(crew.alice, crew.schedule, at=at).json()["shift"]
        return shift and str(shift["user"]["username"])

    # (Before 23 March the Berlin layer has not started: outside Maria's hours, nobody.)
    assert on_call("2026-03-05T15:30:00+01:00") is None  # 08:30 in Chicago
    assert on_call("2026-03-05T16:30:00+01:00") == "maria"  # 09:30
    assert on_call("2026-03-05T23:30:00+01:00") == "maria"  # 16:30
    assert on_call("2026-03-24T15:30:00+01:00") == "maria"  # 09:30 (CDT)
    assert on_call("2026-03-24T23:30:00+01:00") == "bob"  # 17:30 (CDT): the Berlin layer


def test_a_rotation_of_a_custom_length_turns_by_the_clock_across_the_dst_change(
    crew: Crew,
) -> None:
    """Turns of 90 minutes are absolute durations: the night Berlin skips 02:00-03:00, the
    turn from 01:00 CET ends 90 minutes later, at 03:30 CEST."""
    body = rotation_body(
        crew,
        name="Ninety minutes",
        priority=5,
        start="2026-03-28T22:00:00+01:00",
        end="2026-03-29T08:00:00+02:00",
        turn_length=90,
        turn_unit="minutes",
        participants=["alice", "bob"],
        restrictions=[],
    )
    created = call("POST", crew.manager, "/api/v1/rotations/", body)
    assert created.status_code == 201, created.content

    response = get(
        crew.alice,
        f"/api/v1/schedules/{crew.schedule.pk}/shifts/",
        start="2026-03-29T00:00:00Z",
        end="2026-03-29T04:00:00Z",
    )

    assert response.status_code == 200, response.content
    shifts = [(s["user"]["username"], s["start"], s["end"]) for s in response.json()["shifts"]]
    # Turns from 22:00 CET: alice, bob at 23:30, alice at 01:00 CET, bob at 03:30 CEST, ...
    assert shifts == [
        ("alice", "2026-03-29T00:00:00Z", "2026-03-29T01:30:00Z"),
        ("bob", "2026-03-29T01:30:00Z", "2026-03-29T03:00:00Z"),
        ("alice", "2026-03-29T03:00:00Z", "2026-03-29T04:00:00Z"),
    ]


def test_a_layer_zone_must_be_an_iana_name(crew: Crew) -> None:
    body = rotation_body(crew, time_zone="Mars/Olympus_Mons")

    response = call("POST", crew.manager, "/api/v1/rotations/", body)

    assert response.status_code == 400
    assert "is not an IANA time zone name" in response.json()["time_zone"][0]
    assert not Rotation.objects.filter(name="Weekdays").exists()


def test_rotation_participants_must_be_members_of_the_schedules_team(crew: Crew) -> None:
    body = rotation_body(crew, participants=["alice", crew.outsider.pk])

    response = call("POST", crew.manager, "/api/v1/rotations/", body)

    assert response.status_code == 400
    assert response.json()["participants"] == [
        f"Not active members of the team Platform: {crew.outsider.pk}."
    ]
    assert not Rotation.objects.filter(name="Weekdays").exists()


@pytest.mark.parametrize(
    ("participants", "message"),
    [
        (["nobody"], "Not active members of the team Platform: nobody."),
        ([999_999], "Not active members of the team Platform: 999999."),
        ([True], "Give a user id (a number) or a username (a string)."),
        ([], "Give at least one person."),
    ],
)
def test_rotation_participants_are_checked(crew: Crew, participants: Any, message: str) -> None:
    body = rotation_body(crew, participants=participants)

    response = call("POST", crew.manager, "/api/v1/rotations/", body)

    assert response.status_code == 400
    assert message in json.dumps(response.json())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"start": "2026-03-23T09:00:00"}, "start", "Give a time zone offset"),
        ({"end": "2026-03-01T00:00:00Z"}, "end", "The end must be after the start."),
        ({"turn_length": 60}, "turn_length", "at most 366 days"),
        ({"turn_length": 14, "turn_unit": "minutes"}, "turn_length", "at least 15 minutes"),
        ({"start": "0001-01-01T00:00:00Z"}, "start", "Give a time from 1970 to 2999."),
        (
            {"restrictions": [{"start_day": 4, "start_time": "18:00", "end_time": "08:00"}]},
            "restrictions",
            "Give both days",
        ),
        (
            {"restrictions": [{"start_time": "09:00+05:00", "end_time": "17:00"}]},
            "restrictions",
            "Give a wall-clock time without an offset",
        ),
        ({"priority": 70000}, "priority", "less than or equal to 32767"),
    ],
)
def test_a_rotation_is_refused_with_a_clear_message(
    crew: Crew, changes: dict[str, Any], field: str, message: str
) -> None:
    response = call("POST", crew.manager, "/api/v1/rotations/", rotation_body(crew, **changes))

    assert response.status_code == 400
    assert message in json.dumps(response.json()[field])


def test_a_responder_may_read_but_not_create_rotations_of_their_schedule(crew: Crew) -> None:
    response = call("POST", crew.alice, "/api/v1/rotations/", rotation_body(crew))

    assert response.status_code == 403
    assert "managers" in response.json()["detail"]
    listed = get(crew.alice, "/api/v1/rotations/").json()["results"]
    assert [row["id"] for row in listed] == [crew.rotation.pk]


def test_rotations_of_another_team_do_not_exist_for_a_manager(crew: Crew) -> None:
    theirs = crew.other_schedule.rotations.get()
    url = f"/api/v1/rotations/{theirs.pk}/"

    assert get(crew.manager, url).status_code == 404
    assert call("PATCH", crew.manager, url, {"name": "Mine now"}).status_code == 404
    assert call("DELETE", crew.manager, url).status_code == 404
    body = rotation_body(crew, schedule=crew.other_schedule.pk, participants=["otto"])
    assert call("POST", crew.manager, "/api/v1/rotations/", body).status_code == 400
    assert Rotation.objects.get(pk=theirs.pk).name == "Other primary daily"


@pytest.mark.parametrize("path", ["rotations", "overrides"])
def test_a_schedule_filter_past_any_id_is_a_400(crew: Crew, path: str) -> None:
    response = get(crew.manager, f"/api/v1/{path}/", schedule=str(2**63))

    assert response.status_code == 400
    assert "less than or equal to" in response.json()["schedule"][0]


def test_rotations_list_by_schedule(crew: Crew) -> None:
    second = make_schedule(crew.team, "Secondary", [crew.bob])

    listed = get(crew.manager, "/api/v1/rotations/", schedule=str(second.pk)).json()

    assert [row["id"] for row in listed["results"]] == [second.rotations.get().pk]
    assert get(crew.manager, "/api/v1/rotations/", schedule="x").status_code == 400


def test_replacing_participants_rewrites_only_the_places_that_change(crew: Crew) -> None:
    first, second = crew.rotation.participants.order_by("position")
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    response = call(
        "PATCH",
        crew.manager,
        f"/api/v1/rotations/{crew.rotation.pk}/",
        {"participants": ["alice", "maria", "bob"]},
    )

    assert response.status_code == 200, response.content
    assert response.json()["participants"] == ["alice", "maria", "bob"]
    rows = list(crew.rotation.participants.order_by("position"))
    assert [row.pk for row in rows[:2]] == [first.pk, second.pk]  # kept, second one edited
    changed = AuditEntry.objects.exclude(pk__in=before).filter(
        content_type__model="rotationparticipant"
    )
    assert sorted(changed.values_list("action", flat=True)) == [
        AuditEntry.Action.CREATE,
        AuditEntry.Action.UPDATE,
    ]


def test_a_restriction_left_out_of_a_put_is_removed(crew: Crew) -> None:
    Restriction.objects.create(
        rotation=crew.rotation, start_day=0, start_time=time(9), end_day=4, end_time=time(17)
    )
    body = rotation_body(crew, name="Primary daily", participants=["alice"], restrictions=[])

    response = call("PUT", crew.manager, f"/api/v1/rotations/{crew.rotation.pk}/", body)

    assert response.status_code == 200, response.content
    assert not crew.rotation.restrictions.exists()


def test_a_daily_restriction_replaces_a_weekly_one_in_place(crew: Crew) -> None:
    Restriction.objects.create(
        rotation=crew.rotation, start_day=0, start_time=time(9), end_day=4, end_time=time(17)
    )
    daily = [{"start_time": "22:00", "end_time": "06:00"}]

    response = call(
        "PATCH", crew.manager, f"/api/v1/rotations/{crew.rotation.pk}/", {"restrictions": daily}
    )

    assert response.status_code == 200, response.content
    [window] = crew.rotation.restrictions.all()
    assert (window.start_day, window.end_day, window.start_time) == (None, None, time(22))


def test_a_rotation_cannot_move_to_another_schedule(crew: Crew) -> None:
    second = make_schedule(crew.team, "Secondary", [crew.bob])

    response = call(
        "PATCH", crew.manager, f"/api/v1/rotations/{crew.rotation.pk}/", {"schedule": second.pk}
    )

    assert response.status_code == 400
    assert Rotation.objects.get(pk=crew.rotation.pk).schedule == crew.schedule


def test_a_partial_update_checks_the_end_against_the_stored_start(crew: Crew) -> None:
    response = call(
        "PATCH",
        crew.manager,
        f"/api/v1/rotations/{crew.rotation.pk}/",
        {"end": "2026-03-01T00:00:00Z"},
    )

    assert response.status_code == 400
    assert Rotation.objects.get(pk=crew.rotation.pk).end is None


# --- Overrides ------------------------------------------------------------------------------


def override_body(crew: Crew, user: Any, **changes: Any) -> dict[str, Any]:
    return {
        "schedule": crew.schedule.pk,
        "user": user.username,
        "start": "2026-03-28T20:00:00+01:00",
        "end": "2026-03-29T10:00:00+02:00",
        **changes,
    }


def test_a_responder_takes_a_shift_themselves(crew: Crew) -> None:
    with time_machine.travel(datetime(2026, 3, 28, 12, tzinfo=UTC)):
        response = call("POST", crew.alice, "/api/v1/overrides/", override_body(crew, crew.alice))

    assert response.status_code == 201, response.content
    override = Override.objects.get(pk=response.json()["id"])
    assert (override.user, override.start, override.end) == (
        crew.alice,
        datetime(2026, 3, 28, 19, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 8, 0, tzinfo=UTC),
    )
    assert entries_for(override).get().actor == crew.alice


def test_a_responder_takes_a_shift_from_about_now_not_in_the_past(crew: Crew) -> None:
    """An hour's grace for the page or request on its way; before that, the past is the
    managers' to change."""
    now = datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    body = override_body(crew, crew.alice, end="2026-03-29T12:00:00Z")

    with time_machine.travel(now, tick=False):
        late = call(
            "POST", crew.alice, "/api/v1/overrides/", {**body, "start": "2026-03-28T18:00:00Z"}
        )
        early = call(
            "POST", crew.alice, "/api/v1/overrides/", {**body, "start": "2026-03-28T17:59:00Z"}
        )
        managed = call(
            "POST", crew.manager, "/api/v1/overrides/", {**body, "start": "2026-03-20T00:00:00Z"}
        )

    assert late.status_code == 201, late.content
    assert early.status_code == 400
    assert early.json() == {
        "start": [
            "You may take a shift from now on; only the team's managers change who was on "
            "call in the past."
        ]
    }
    assert managed.status_code == 201, managed.content
    assert Override.objects.count() == 2


def test_an_override_lasts_at_most_a_year(crew: Crew) -> None:
    body = override_body(crew, crew.bob, start="2026-01-01T00:00:00Z")

    too_long = call(
        "POST", crew.manager, "/api/v1/overrides/", {**body, "end": "2027-01-02T00:00:01Z"}
    )
    a_year = call(
        "POST", crew.manager, "/api/v1/overrides/", {**body, "end": "2027-01-02T00:00:00Z"}
    )

    assert too_long.status_code == 400
    assert too_long.json() == {"end": ["An override may last at most 366 days."]}
    assert a_year.status_code == 201, a_year.content


def test_an_older_override_longer_than_a_year_may_change_hands_but_not_grow(crew: Crew) -> None:
    """Stored before the bound: it is not refused for what it was, only for a new length."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    override = Override.objects.create(
        schedule=crew.schedule, user=crew.bob, start=start, end=start + timedelta(days=400)
    )
    url = f"/api/v1/overrides/{override.pk}/"

    handed = call("PATCH", crew.manager, url, {"user": "alice"})
    grown = call("PATCH", crew.manager, url, {"end": "2027-03-01T00:00:00Z"})

    assert handed.status_code == 200, handed.content
    assert grown.status_code == 400
    assert grown.json() == {"end": ["An override may last at most 366 days."]}
    override.refresh_from_db()
    assert (override.user, override.end) == (crew.alice, start + timedelta(days=400))


def test_a_responder_cannot_put_someone_else_on_call(crew: Crew) -> None:
    response = call("POST", crew.alice, "/api/v1/overrides/", override_body(crew, crew.bob))

    assert response.status_code == 403
    assert "someone else" in response.json()["detail"]
    assert not Override.objects.exists()


def test_a_responder_cannot_change_or_remove_an_override_even_their_own(crew: Crew) -> None:
    override = Override.objects.create(
        schedule=crew.schedule,
        user=crew.alice,
        start=BERLIN_DST_START,
        end=BERLIN_DST_START + timedelta(hours=5),
    )
    url = f"/api/v1/overrides/{override.pk}/"

    assert call("PATCH", crew.alice, url, {"end": "2026-03-29T09:00:00Z"}).status_code == 403
    assert call("DELETE", crew.alice, url).status_code == 403
    assert get(crew.alice, url).json()["user"] == "alice"
    assert Override.objects.get(pk=override.pk).end == BERLIN_DST_START + timedelta(hours=5)


def test_a_manager_puts_any_team_member_on_call_and_edits_it(crew: Crew) -> None:
    created = call("POST", crew.manager, "/api/v1/overrides/", override_body(crew, crew.bob))
    assert created.status_code == 201, created.content
    url = f"/api/v1/overrides/{created.json()['id']}/"

    edited = call("PATCH", crew.manager, url, {"user": crew.alice.pk})
    removed = call("DELETE", crew.manager, url)

    assert edited.status_code == 200, edited.content
    assert edited.json()["user"] == "alice"
    assert removed.status_code == 204
    assert not Override.objects.exists()


def test_an_override_covers_a_member_of_the_team_only(crew: Crew) -> None:
    response = call("POST", crew.manager, "/api/v1/overrides/", override_body(crew, crew.outsider))

    assert response.status_code == 400
    assert "otto" in response.json()["user"][0]


def test_naming_people_outside_the_team_tells_nothing_about_them(crew: Crew) -> None:
    """Someone of another team, an inactive member and nobody at all get the same answer,
    which names them as the caller did: an id never comes back as a username."""
    inactive = UserFactory(username="ida", is_active=False)
    MembershipFactory(team=crew.team, user=inactive)
    refs = [crew.outsider.pk, inactive.pk, 999_999]

    answers = [
        call(
            "POST",
            crew.alice,
            "/api/v1/overrides/",
            {**override_body(crew, crew.alice), "user": ref},
        )
        for ref in refs
    ]

    assert [a.json() for a in answers] == [
        {"user": [f"Not active members of the team Platform: {ref}."]} for ref in refs
    ]
    assert not Override.objects.exists()


def test_an_override_needs_an_end_after_its_start(crew: Crew) -> None:
    body = override_body(crew, crew.alice, end="2026-03-28T19:00:00Z")

    response = call("POST", crew.alice, "/api/v1/overrides/", body)

    assert response.status_code == 400
    assert response.json()["end"] == ["The end must be after the start."]


@pytest.mark.parametrize("persona", ["outsider", "auditor"])
def test_people_outside_the_team_cannot_take_its_shifts(crew: Crew, persona: str) -> None:
    user = getattr(crew, persona)

    response = call("POST", user, "/api/v1/overrides/", override_body(crew, user))

    assert response.status_code in {400, 403}
    assert not Override.objects.exists()


def test_the_auditor_reads_overrides_of_every_team(crew: Crew) -> None:
    theirs = Override.objects.create(
        schedule=crew.other_schedule,
        user=crew.outsider,
        start=BERLIN_DST_START,
        end=BERLIN_DST_START + timedelta(hours=1),
    )

    listed = get(crew.auditor, "/api/v1/overrides/").json()["results"]

    assert [row["id"] for row in listed] == [theirs.pk]
    assert get(crew.manager, "/api/v1/overrides/").json()["results"] == []


# --- Who is on call -------------------------------------------------------------------------


def oncall(user: Any, schedule: Schedule, **query: str) -> Any:
    return get(user, f"/api/v1/schedules/{schedule.pk}/oncall/", **query)


def test_oncall_gives_the_shift_with_its_real_edges_across_the_dst_change(crew: Crew) -> None:
    # Saturday's turn (bob) runs 09:00 CET -> 09:00 CEST: 23 hours.
    response = oncall(crew.alice, crew.schedule, at="2026-03-29T03:30:00+02:00")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["schedule"] == {"id": crew.schedule.pk, "name": "Primary", "team": crew.team.pk}
    assert body["at"] == "2026-03-29T01:30:00Z"
    assert body["shift"] == {
        "user": {"id": crew.bob.pk, "username": "bob"},
        "start": "2026-03-28T08:00:00Z",
        "end": "2026-03-29T07:00:00Z",
        "source": "layer",
        "ref": crew.rotation.pk,
    }


def test_oncall_defaults_to_now(crew: Crew) -> None:
    with time_machine.travel(datetime(2026, 3, 30, 12, 0, tzinfo=UTC), tick=False):
        body = oncall(crew.alice, crew.schedule).json()

    assert body["at"] == "2026-03-30T12:00:00Z"
    assert body["shift"]["user"]["username"] == "bob"  # Monday 30th: the 8th turn


def test_oncall_is_null_in_a_gap(crew: Crew) -> None:
    body = oncall(crew.alice, crew.schedule, at="2026-03-01T00:00:00Z").json()

    assert body["shift"] is None


def test_oncall_shows_an_override_and_its_real_edges(crew: Crew) -> None:
    override = Override.objects.create(
        schedule=crew.schedule,
        user=crew.manager,
        start=datetime(2026, 3, 28, 20, 0, tzinfo=UTC),
        end=datetime(2026, 3, 29, 4, 0, tzinfo=UTC),
    )

    shift = oncall(crew.alice, crew.schedule, at="2026-03-29T00:00:00Z").json()["shift"]

    assert shift["user"]["username"] == "maria"
    assert (shift["source"], shift["ref"]) == ("override", override.pk)
    assert (shift["start"], shift["end"]) == ("2026-03-28T20:00:00Z", "2026-03-29T04:00:00Z")


def test_a_plus_sent_unencoded_in_the_query_string_is_understood(crew: Crew) -> None:
    response = Client().get(
        f"/api/v1/schedules/{crew.schedule.pk}/oncall/?at=2026-03-29T03:30:00+02:00",
        headers=headers(crew.alice),
    )

    assert response.status_code == 200, response.content
    assert response.json()["at"] == "2026-03-29T01:30:00Z"


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2026-03-29T03:30:00", "Give a time zone offset"),
        ("tomorrow", "Datetime has wrong format"),
    ],
)
def test_oncall_refuses_an_unusable_instant(crew: Crew, at: str, message: str) -> None:
    response = oncall(crew.alice, crew.schedule, at=at)

    assert response.status_code == 400
    assert message in response.json()["at"][0]


def test_oncall_of_another_teams_schedule_is_not_found(crew: Crew) -> None:
    assert oncall(crew.alice, crew.other_schedule).status_code == 404


def test_oncall_everywhere_covers_the_schedules_the_user_may_see(crew: Crew) -> None:
    make_schedule(crew.team, "Secondary", [crew.bob, crew.alice])

    response = get(crew.alice, "/api/v1/schedules/oncall/", at="2026-03-29T03:30:00+02:00")

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert {row["schedule"]["name"]: row["shift"]["user"]["username"] for row in rows} == {
        "Primary": "bob",
        "Secondary": "alice",
    }
    everything = get(crew.auditor, "/api/v1/schedules/oncall/").json()
    assert everything["count"] == 3


def test_oncall_everywhere_takes_a_constant_number_of_queries(crew: Crew) -> None:
    def queries() -> int:
        Token.objects.get_or_create(user=crew.manager)
        with CaptureQueriesContext(connection) as captured:
            response = get(crew.manager, "/api/v1/schedules/oncall/")
        assert response.status_code == 200
        return len(captured)

    baseline = queries()
    for n in range(5):
        schedule = make_schedule(crew.team, f"Extra {n}", [crew.alice, crew.bob])
        Override.objects.create(
            schedule=schedule,
            user=crew.bob,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2027, 1, 1, tzinfo=UTC),
        )

    assert queries() == baseline


# --- Shifts and gaps ------------------------------------------------------------------------


def test_shifts_are_the_final_shifts_cut_at_the_range(crew: Crew) -> None:
    override = Override.objects.create(
        schedule=crew.schedule,
        user=crew.manager,
        start=datetime(2026, 3, 29, 10, 0, tzinfo=UTC),
        end=datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
    )

    response = get(
        crew.alice,
        f"/api/v1/schedules/{crew.schedule.pk}/shifts/",
        start="2026-03-28T12:00:00Z",
        end="2026-03-29T18:00:00+02:00",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-03-28T12:00:00Z", "2026-03-29T16:00:00Z")
    simple = [
        (s["user"]["username"], s["start"], s["end"], s["source"], s["ref"]) for s in body["shifts"]
    ]
    assert simple == [
        ("bob", "2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z", "layer", crew.rotation.pk),
        ("alice", "2026-03-29T07:00:00Z", "2026-03-29T10:00:00Z", "layer", crew.rotation.pk),
        ("maria", "2026-03-29T10:00:00Z", "2026-03-29T12:00:00Z", "override", override.pk),
        ("alice", "2026-03-29T12:00:00Z", "2026-03-29T16:00:00Z", "layer", crew.rotation.pk),
    ]


def test_gaps_are_where_nobody_is_on_call(crew: Crew) -> None:
    Restriction.objects.create(
        rotation=crew.rotation, start_time=time(9), end_time=time(17)
    )  # daily, Berlin time

    response = get(
        crew.alice,
        f"/api/v1/schedules/{crew.schedule.pk}/gaps/",
        start="2026-03-28T00:00:00Z",
        end="2026-03-30T00:00:00Z",
    )

    assert response.status_code == 200, response.content
    assert response.json()["gaps"] == [
        {"start": "2026-03-28T00:00:00Z", "end": "2026-03-28T08:00:00Z"},
        {"start": "2026-03-28T16:00:00Z", "end": "2026-03-29T07:00:00Z"},  # DST in between
        {"start": "2026-03-29T15:00:00Z", "end": "2026-03-30T00:00:00Z"},
    ]


def test_the_range_defaults_to_the_next_fourteen_days(crew: Crew) -> None:
    with time_machine.travel(datetime(2026, 4, 1, 6, 30, tzinfo=UTC), tick=False):
        body = get(crew.alice, f"/api/v1/schedules/{crew.schedule.pk}/shifts/").json()

    assert (body["start"], body["end"]) == ("2026-04-01T06:30:00Z", "2026-04-15T06:30:00Z")
    assert len(body["shifts"]) == 15  # a piece of today's turn, 13 whole ones, a piece


@pytest.mark.parametrize("endpoint", ["shifts", "gaps"])
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"start": "2026-03-28T00:00:00"}, "start", "Give a time zone offset"),
        (
            {"start": "2026-03-28T00:00:00Z", "end": "2026-03-28T00:00:00Z"},
            "end",
            "The end must be after the start",
        ),
        (
            {"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"},
            "end",
            "at most 366 days",
        ),
    ],
)
def test_a_bad_range_is_a_400_naming_the_parameter(
    crew: Crew, endpoint: str, query: dict[str, str], field: str, message: str
) -> None:
    response = get(crew.alice, f"/api/v1/schedules/{crew.schedule.pk}/{endpoint}/", **query)

    assert response.status_code == 400
    assert message in response.json()[field][0]


# --- Feed tokens ----------------------------------------------------------------------------


def test_the_schedule_feed_url_is_shown_only_to_who_may_change_the_schedule(
    crew: Crew,
) -> None:
    """As in the admin: the URL outlives a responder's membership, so it is the managers' to
    hand out (everyone has a feed of their own shifts)."""
    url = f"/api/v1/schedules/{crew.schedule.pk}/"

    readers = [crew.manager, crew.alice, crew.auditor]
    shown = {user.username: get(user, url).json()["feed_url"] for user in readers}
    listed = get(crew.alice, "/api/v1/schedules/").json()["results"]

    assert shown == {"maria": schedule_feed_url(crew.schedule), "alice": None, "audrey": None}
    assert [row["feed_url"] for row in listed] == [None]


def test_a_schedule_list_decides_every_feed_url_in_one_query(crew: Crew) -> None:
    for n in range(5):
        make_schedule(crew.team, f"Extra {n}", [crew.alice])
    get(crew.manager, "/api/v1/schedules/")  # the token is made on the first call

    with CaptureQueriesContext(connection) as few:
        get(crew.manager, "/api/v1/schedules/")
    for n in range(5, 15):
        make_schedule(crew.team, f"Extra {n}", [crew.alice])
    with CaptureQueriesContext(connection) as many:
        response = get(crew.manager, "/api/v1/schedules/")

    assert len(many) == len(few)
    assert all(row["feed_url"] for row in response.json()["results"])


def test_a_manager_rotates_the_schedule_feed_token(crew: Crew) -> None:
    old_url = get(crew.manager, f"/api/v1/schedules/{crew.schedule.pk}/").json()["feed_url"]

    response = call(
        "POST", crew.manager, f"/api/v1/schedules/{crew.schedule.pk}/rotate-feed-token/"
    )

    assert response.status_code == 200, response.content
    new_token = Schedule.objects.get(pk=crew.schedule.pk).feed_token
    assert response.json()["feed_url"].endswith(f"/{new_token}.ics")
    assert response.json()["feed_url"] != old_url
    entry = entries_for(crew.schedule).get(action=AuditEntry.Action.UPDATE)
    assert entry.actor == crew.manager
    assert new_token not in json.dumps(entry.changes)
    assert "feed_token" in entry.changes


def test_a_responder_cannot_rotate_the_schedule_feed_token(crew: Crew) -> None:
    token = crew.schedule.feed_token

    response = call("POST", crew.alice, f"/api/v1/schedules/{crew.schedule.pk}/rotate-feed-token/")

    assert response.status_code == 403
    assert Schedule.objects.get(pk=crew.schedule.pk).feed_token == token


def test_me_shows_my_feed_url_and_rotates_its_token(crew: Crew) -> None:
    first = get(crew.alice, "/api/v1/me/").json()
    token = PersonSettings.objects.get(user=crew.alice).feed_token

    rotated = call("POST", crew.alice, "/api/v1/me/rotate-feed-token/")

    assert first == {
        "username": "alice",
        "feed_url": f"{settings.SITE_URL}/calendars/people/{token}.ics",
    }
    assert rotated.status_code == 200
    person = PersonSettings.objects.get(user=crew.alice)
    assert person.feed_token != token
    assert rotated.json()["feed_url"].endswith(f"/calendars/people/{person.feed_token}.ics")
    assert entries_for(person).get(action=AuditEntry.Action.UPDATE).actor == crew.alice


def test_me_needs_a_signed_in_user(crew: Crew) -> None:
    assert Client().get("/api/v1/me/").status_code in {401, 403}
    assert Client().post("/api/v1/me/rotate-feed-token/").status_code in {401, 403}


# --- The published schema -------------------------------------------------------------------


def test_the_schema_documents_every_schedule_operation_and_its_parameters() -> None:
    schema = SchemaGenerator(title="t").get_schema(request=None, public=True)
    operations = {
        operation["operationId"]: operation
        for methods in schema["paths"].values()
        for operation in methods.values()
    }

    expected = {
        "listSchedules",
        "createSchedule",
        "retrieveSchedule",
        "updateSchedule",
        "partialUpdateSchedule",
        "destroySchedule",
        "retrieveScheduleOncall",
        "listSchedulesOncall",
        "listScheduleShifts",
        "listScheduleGaps",
        "rotateScheduleFeedToken",
        "listRotations",
        "createRotation",
        "destroyRotation",
        "listOverrides",
        "createOverride",
        "destroyOverride",
        "retrieveMe",
        "rotateMyFeedToken",
    }
    assert expected <= set(operations)
    parameters = {p["name"] for p in operations["listScheduleShifts"]["parameters"]}
    assert {"id", "start", "end"} <= parameters
    assert {"at", "limit", "offset"} <= {
        p["name"] for p in operations["listSchedulesOncall"]["parameters"]
    }
    assert "requestBody" not in operations["rotateScheduleFeedToken"]
