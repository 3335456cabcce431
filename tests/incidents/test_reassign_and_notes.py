"""Reassigning an incident, notes on its timeline and the resolution note: the services, the
API actions and the admin's forms.

The setup's policy pages alice (level 1) then bob (level 2), five minutes apart. Carol is a
third responder of the team, on no level; maria its manager; outsider is in another team.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from incidents.intake.events import AlertEvent
from incidents.models import AuditEntry, Incident, IncidentEvent, Notification
from incidents.services import (
    NOTE_MAX_LENGTH,
    Actor,
    DomainError,
    InvalidTransition,
    alert_ingest,
    incident_acknowledge,
    incident_add_note,
    incident_escalate,
    incident_reassign,
    incident_resolve,
    notification_deliver,
)
from schedules.access import AUDITORS_GROUP, role_group
from schedules.models import TeamMembership
from tests.conftest import Setup, trigger_event
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DELAY = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)
Status = Incident.Status
Kind = IncidentEvent.Kind


@dataclass
class Team:
    setup: Setup
    carol: Any
    maria: Any
    auditor: Any

    @property
    def alice(self) -> Any:
        return self.setup.alice

    @property
    def bob(self) -> Any:
        return self.setup.bob

    @property
    def outsider(self) -> Any:
        return self.setup.outsider


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def team(setup: Setup, clock: Any) -> Team:
    carol = UserFactory(username="carol", is_staff=True)
    maria = UserFactory(username="maria", is_staff=True)
    MembershipFactory(team=setup.service.team, user=carol)
    MembershipFactory(team=setup.service.team, user=maria, role=TeamMembership.Role.MANAGER)
    auditor = UserFactory(username="audrey", is_staff=True)
    auditor.groups.add(role_group(AUDITORS_GROUP))
    return Team(setup, carol, maria, auditor)


@pytest.fixture
def incident(team: Team) -> Incident:
    """Triggered at START: alice paged, level 2 due at START + 5 minutes."""
    [result] = alert_ingest(integration=team.setup.alertmanager, events=[trigger_event()])
    return Incident.objects.get(pk=result.incident_id)


def by(user: Any) -> Actor:
    return Actor.of_user(user)


def reload(incident: Incident) -> Incident:
    return Incident.objects.get(pk=incident.pk)


def pages(incident: Incident) -> list[tuple[str, int, str]]:
    rows = incident.notifications.order_by("pk").values_list(
        "user__username", "level_position", "status"
    )
    return list(rows)


def last_event(incident: Incident) -> IncidentEvent:
    return incident.events.order_by("pk").last()  # type: ignore[return-value]


# --- Reassign: the service -----------------------------------------------------------------------


def test_reassign_pages_the_new_assignee_at_once_and_restarts_the_level_timer(
    team: Team, incident: Incident, clock: Any
) -> None:
    old_token = incident.active_job_id
    clock.move_to(START + 2 * MINUTE)

    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)

    incident = reload(incident)
    assert (incident.status, incident.assignee) == (Status.TRIGGERED, team.carol)
    # Alice's page is moot; carol's is queued now, at the level the incident is on.
    assert pages(incident) == [("alice", 1, "cancelled"), ("carol", 1, "pending")]
    assert incident.next_escalation_at == START + 2 * MINUTE + DELAY
    assert incident.active_job_id not in {"", old_token}
    assert incident_escalate(incident_id=incident.pk, token=old_token) == "stale"
    event = last_event(incident)
    assert (event.kind, event.message, event.actor) == (
        Kind.REASSIGNED,
        "Reassigned to carol by alice.",
        team.alice,
    )
    assert event.data == {"from": None, "to": "carol", "paged": True}


def test_the_reassigned_page_is_delivered_to_the_assignee(team: Team, incident: Incident) -> None:
    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)
    page = incident.notifications.get(user=team.carol)

    assert notification_deliver(notification_id=page.pk) == "sent"

    [email] = mail.outbox
    assert email.to == ["carol@example.com"]
    assert f"#{incident.pk}" in email.subject
    assert page.purpose == Notification.Purpose.PAGE
    assert page.detail == "Reassigned to you by alice."


def test_the_reassignment_and_its_note_reach_the_new_assignee(
    team: Team, incident: Incident
) -> None:
    incident_reassign(
        incident_id=incident.pk, actor=by(team.alice), to_user=team.carol, note="DB disk again"
    )
    page = incident.notifications.get(user=team.carol)

    assert notification_deliver(notification_id=page.pk) == "sent"

    [email] = mail.outbox
    assert email.subject.endswith("Disk full on db-1 (reassigned to you)")
    assert "\nReassigned to you by alice: DB disk again\n" in email.body


def test_a_page_from_the_policy_says_nothing_of_a_reassignment(incident: Incident) -> None:
    page = incident.notifications.get()

    notification_deliver(notification_id=page.pk)

    [email] = mail.outbox
    assert "reassigned" not in email.subject.lower()
    assert "Reassigned" not in email.body


def test_an_assignee_who_does_not_acknowledge_hands_over_to_the_next_level(
    team: Team, incident: Incident, clock: Any
) -> None:
    clock.move_to(START + 2 * MINUTE)
    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)
    incident = reload(incident)
    clock.move_to(START + 5 * MINUTE)  # level 1's original deadline: the timer was restarted
    assert incident_escalate(incident_id=incident.pk, token=incident.active_job_id) == "early"

    clock.move_to(incident.next_escalation_at)
    assert incident_escalate(incident_id=incident.pk, token=incident.active_job_id) == "escalated"

    incident = reload(incident)
    assert incident.current_level == 2
    assert incident.assignee is None  # back with the policy
    assert [row[:2] for row in pages(incident)] == [("alice", 1), ("carol", 1), ("bob", 2)]


def test_reassigning_an_acknowledged_incident_triggers_it_again(
    team: Team, incident: Incident, clock: Any
) -> None:
    incident_acknowledge(incident_id=incident.pk, actor=by(team.alice))
    clock.move_to(START + 10 * MINUTE)

    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.bob)

    incident = reload(incident)
    assert incident.status == Status.TRIGGERED
    assert (incident.acknowledged_by, incident.acknowledged_at) == (None, None)
    assert incident.assignee == team.bob
    assert incident.next_escalation_at == START + 10 * MINUTE + DELAY
    assert pages(incident)[-1] == ("bob", 1, "pending")


def test_the_new_assignees_acknowledgement_is_the_incidents(
    team: Team, incident: Incident, clock: Any
) -> None:
    incident_acknowledge(incident_id=incident.pk, actor=by(team.alice))
    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.bob)
    clock.move_to(START + 3 * MINUTE)

    incident_acknowledge(incident_id=incident.pk, actor=by(team.bob))

    incident = reload(incident)
    assert (incident.status, incident.acknowledged_by) == (Status.ACKNOWLEDGED, team.bob)
    assert incident.acknowledged_at == START + 3 * MINUTE
    assert (incident.assignee, incident.next_escalation_at) == (team.bob, None)
    kinds = list(incident.events.values_list("kind", flat=True))
    assert kinds[-3:] == [Kind.ACKNOWLEDGED, Kind.REASSIGNED, Kind.ACKNOWLEDGED]


def test_a_person_already_paged_at_this_level_can_be_paged_again_as_assignee(
    team: Team, incident: Incident
) -> None:
    """Each reassignment is a page of its own: the outbox's idempotency keys do not collide."""
    incident_reassign(incident_id=incident.pk, actor=by(team.bob), to_user=team.alice)
    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.bob)
    incident_reassign(incident_id=incident.pk, actor=by(team.bob), to_user=team.alice)

    assert [row[0] for row in pages(incident)] == ["alice", "alice", "bob", "alice"]
    keys = set(incident.notifications.values_list("idempotency_key", flat=True))
    assert len(keys) == 4


def test_reassigning_to_the_current_assignee_is_a_no_op(team: Team, incident: Incident) -> None:
    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)
    events, notifications = incident.events.count(), incident.notifications.count()
    token = reload(incident).active_job_id

    incident_reassign(incident_id=incident.pk, actor=by(team.bob), to_user=team.carol)

    assert (incident.events.count(), incident.notifications.count()) == (events, notifications)
    assert reload(incident).active_job_id == token


def test_the_manager_may_be_assigned_and_a_note_goes_with_the_reassignment(
    team: Team, incident: Incident
) -> None:
    incident_reassign(
        incident_id=incident.pk,
        actor=by(team.alice),
        to_user=team.maria,
        note="  DB disk again, you know this box  ",
    )

    assert reload(incident).assignee == team.maria
    assert last_event(incident).message == (
        "Reassigned to maria by alice. Note: DB disk again, you know this box"
    )


def test_an_assignee_without_a_contact_method_is_recorded_and_escalation_goes_on(
    team: Team, incident: Incident
) -> None:
    team.carol.email = ""
    team.carol.save()

    incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)

    incident = reload(incident)
    assert not incident.notifications.filter(user=team.carol).exists()
    assert incident.next_escalation_at == START + DELAY
    event = last_event(incident)
    assert event.message == (
        "Reassigned to carol by alice. carol has no contact method and could not be paged."
    )
    assert event.data["paged"] is False


def test_at_the_last_level_the_assignee_is_paged_and_nothing_is_armed(
    team: Team, incident: Incident, clock: Any
) -> None:
    clock.move_to(START + DELAY)
    incident_escalate(incident_id=incident.pk, token=incident.active_job_id)  # level 2, the last

    incident_reassign(incident_id=incident.pk, actor=by(team.bob), to_user=team.carol)

    incident = reload(incident)
    assert (incident.next_escalation_at, incident.active_job_id) == (None, "")
    assert pages(incident)[-1] == ("carol", 2, "pending")


@pytest.mark.parametrize("who", ["outsider", "inactive member"])
def test_only_an_active_member_of_the_team_can_be_assigned(
    team: Team, incident: Incident, who: str
) -> None:
    target = team.outsider
    if who == "inactive member":
        target = team.carol
        target.is_active = False
        target.save()
    before = (incident.events.count(), incident.notifications.count())

    with pytest.raises(DomainError, match=f"{target.username} is not an active member of team"):
        incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=target)

    incident = reload(incident)
    assert incident.assignee is None
    assert (incident.events.count(), incident.notifications.count()) == before


def test_a_resolved_incident_cannot_be_reassigned(team: Team, incident: Incident) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.alice))

    with pytest.raises(InvalidTransition, match="is resolved and cannot be reassigned"):
        incident_reassign(incident_id=incident.pk, actor=by(team.alice), to_user=team.carol)

    assert reload(incident).assignee is None


# --- Notes ---------------------------------------------------------------------------------------


def test_a_note_is_on_the_timeline_with_its_author(team: Team, incident: Incident) -> None:
    note = incident_add_note(
        incident_id=incident.pk, actor=by(team.bob), text="\n  Looking at db-1 now.  \n"
    )

    assert note == last_event(incident)
    assert (note.kind, note.message, note.actor, note.actor_label) == (
        Kind.NOTE,
        "Looking at db-1 now.",
        team.bob,
        "bob",
    )
    assert reload(incident).status == Status.TRIGGERED  # a note changes nothing else


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "A note cannot be blank."),
        (" \n\t ", "A note cannot be blank."),
        ("x" * (NOTE_MAX_LENGTH + 1), "at most 5000 characters"),
    ],
    ids=["empty", "blank", "too long"],
)
def test_a_blank_or_too_long_note_is_refused(
    team: Team, incident: Incident, text: str, error: str
) -> None:
    before = incident.events.count()

    with pytest.raises(DomainError, match=error):
        incident_add_note(incident_id=incident.pk, actor=by(team.bob), text=text)

    assert incident.events.count() == before


def test_a_note_of_the_longest_length_is_kept_whole(team: Team, incident: Incident) -> None:
    text = "x" * NOTE_MAX_LENGTH

    assert incident_add_note(incident_id=incident.pk, actor=by(team.bob), text=text).message == text


def test_a_resolved_incident_still_takes_notes(team: Team, incident: Incident) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.alice))

    incident_add_note(incident_id=incident.pk, actor=by(team.alice), text="Post-mortem: PM-12")

    assert last_event(incident).message == "Post-mortem: PM-12"


# --- The resolution note -------------------------------------------------------------------------


def test_resolve_keeps_the_resolution_note_on_the_incident_and_its_timeline(
    team: Team, incident: Incident
) -> None:
    incident_resolve(
        incident_id=incident.pk, actor=by(team.bob), note=" Rotated logs; raised the alert. "
    )

    incident = reload(incident)
    assert incident.resolution_note == "Rotated logs; raised the alert."
    event = last_event(incident)
    assert (event.kind, event.message) == (
        Kind.RESOLVED,
        "Resolved by bob. Resolution note: Rotated logs; raised the alert.",
    )


def test_a_resolution_note_that_is_too_long_resolves_nothing(
    team: Team, incident: Incident
) -> None:
    with pytest.raises(DomainError, match="A resolution note may be at most 5000"):
        incident_resolve(
            incident_id=incident.pk, actor=by(team.bob), note="x" * (NOTE_MAX_LENGTH + 1)
        )

    assert reload(incident).status == Status.TRIGGERED


def resolve_by_the_tool(team: Team, incident: Incident) -> None:
    event = AlertEvent(action="resolve", dedup_key=incident.dedup_key, summary="", severity="")
    alert_ingest(integration=team.setup.alertmanager, events=[event])
    assert reload(incident).status == Status.RESOLVED


def test_an_incident_resolved_by_its_tool_can_get_its_resolution_note_later(
    team: Team, incident: Incident
) -> None:
    resolve_by_the_tool(team, incident)

    incident_resolve(incident_id=incident.pk, actor=by(team.bob), note="Disk replaced.")
    incident_resolve(incident_id=incident.pk, actor=by(team.bob), note="Disk replaced.")  # retry

    incident = reload(incident)
    assert incident.resolution_note == "Disk replaced."
    assert incident.resolved_by is None  # still the tool's resolution
    notes = incident.events.filter(kind=Kind.NOTE)
    assert [(n.message, n.actor) for n in notes] == [("Resolution note: Disk replaced.", team.bob)]


def test_a_second_different_resolution_note_is_refused(team: Team, incident: Incident) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.bob), note="Disk replaced.")

    with pytest.raises(DomainError, match="already has a resolution note; add a note instead"):
        incident_resolve(incident_id=incident.pk, actor=by(team.alice), note="It was DNS.")

    assert reload(incident).resolution_note == "Disk replaced."


# --- The API -------------------------------------------------------------------------------------


def api(client: Client, user: Any, incident: Incident, action: str, body: Any = None) -> Any:
    token, _ = Token.objects.get_or_create(user=user)
    return client.post(
        f"/api/v1/incidents/{incident.pk}/{action}/",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers={"Authorization": f"Token {token.key}"},
    )


@pytest.mark.parametrize("ref", ["username", "id"])
def test_api_reassign_by_username_or_id(
    client: Client, team: Team, incident: Incident, ref: str
) -> None:
    user = team.carol.username if ref == "username" else team.carol.pk

    response = api(client, team.alice, incident, "reassign", {"user": user, "note": "yours"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["assignee"]) == ("triggered", "carol")
    assert body["timeline"][-1]["message"] == "Reassigned to carol by alice. Note: yours"
    assert body["next_escalation_at"] == (START + DELAY).isoformat().replace("+00:00", "Z")


def test_api_reassign_of_an_acknowledged_incident_by_the_manager(
    client: Client, team: Team, incident: Incident
) -> None:
    incident_acknowledge(incident_id=incident.pk, actor=by(team.alice))

    response = api(client, team.maria, incident, "reassign", {"user": "bob"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["assignee"], body["acknowledged_by"]) == (
        "triggered",
        "bob",
        None,
    )


@pytest.mark.parametrize("user", ["outsider", "nobody-by-that-name", 999_999])
def test_api_reassign_to_someone_outside_the_team_says_so_the_same_way(
    client: Client, team: Team, incident: Incident, user: Any
) -> None:
    response = api(client, team.alice, incident, "reassign", {"user": user})

    assert response.status_code == 400
    team_name = team.setup.service.team.name
    assert response.json() == {"user": [f"Not active members of the team {team_name}: {user}."]}
    assert reload(incident).assignee is None


@pytest.mark.parametrize("body", [{}, {"user": True}, {"user": "carol", "note": "x" * 5001}])
def test_api_reassign_refuses_a_bad_body(
    client: Client, team: Team, incident: Incident, body: dict[str, Any]
) -> None:
    response = api(client, team.alice, incident, "reassign", body)

    assert response.status_code == 400
    assert reload(incident).assignee is None


def test_api_reassign_of_a_resolved_incident_is_a_conflict(
    client: Client, team: Team, incident: Incident
) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.alice))

    response = api(client, team.alice, incident, "reassign", {"user": "carol"})

    assert response.status_code == 409
    assert "cannot be reassigned" in response.json()["detail"]


def test_api_add_note(client: Client, team: Team, incident: Incident) -> None:
    response = api(client, team.bob, incident, "notes", {"text": " Looking into it. "})

    assert response.status_code == 201, response.content
    note = last_event(incident)
    assert response.json() == {
        "id": note.pk,
        "at": START.isoformat().replace("+00:00", "Z"),
        "author": "bob",
        "text": "Looking into it.",
    }
    timeline = api_detail(client, team.alice, incident)["timeline"]
    assert timeline[-1] == {
        "at": START.isoformat().replace("+00:00", "Z"),
        "kind": "note",
        "message": "Looking into it.",
        "actor_label": "bob",
        "data": {},
    }


def api_detail(client: Client, user: Any, incident: Incident) -> Any:
    token, _ = Token.objects.get_or_create(user=user)
    response = client.get(
        f"/api/v1/incidents/{incident.pk}/", headers={"Authorization": f"Token {token.key}"}
    )
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("body", [{}, {"text": "   "}, {"text": "x" * 5001}])
def test_api_refuses_a_blank_or_too_long_note(
    client: Client, team: Team, incident: Incident, body: dict[str, Any]
) -> None:
    before = incident.events.count()

    response = api(client, team.bob, incident, "notes", body)

    assert response.status_code == 400
    assert "text" in response.json()
    assert incident.events.count() == before


def test_api_resolve_with_a_resolution_note(client: Client, team: Team, incident: Incident) -> None:
    response = api(client, team.bob, incident, "resolve", {"note": "Cleared /var/log."})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["resolution_note"]) == ("resolved", "Cleared /var/log.")
    assert body["timeline"][-1]["message"] == "Resolved by bob. Resolution note: Cleared /var/log."


def test_api_resolve_needs_no_body(client: Client, team: Team, incident: Incident) -> None:
    response = api(client, team.bob, incident, "resolve")

    assert response.status_code == 200
    assert response.json()["resolution_note"] == ""


def test_api_a_second_resolution_note_is_refused_with_the_reason(
    client: Client, team: Team, incident: Incident
) -> None:
    api(client, team.bob, incident, "resolve", {"note": "Cleared /var/log."})

    response = api(client, team.alice, incident, "resolve", {"note": "It was DNS."})

    assert response.status_code == 400
    assert "already has a resolution note" in response.json()["detail"]


@pytest.mark.parametrize(
    ("action", "body"),
    [("reassign", {"user": "carol"}), ("notes", {"text": "hi"}), ("resolve", {"note": "x"})],
)
@pytest.mark.parametrize(("persona", "status"), [("outsider", 404), ("auditor", 403)])
def test_api_other_teams_get_404_and_auditors_403(
    client: Client,
    team: Team,
    incident: Incident,
    action: str,
    body: dict[str, Any],
    persona: str,
    status: int,
) -> None:
    user = team.outsider if persona == "outsider" else team.auditor
    before = (incident.events.count(), incident.notifications.count())

    response = api(client, user, incident, action, body)

    assert response.status_code == status
    incident = reload(incident)
    assert (incident.status, incident.assignee, incident.resolution_note) == (
        Status.TRIGGERED,
        None,
        "",
    )
    assert (incident.events.count(), incident.notifications.count()) == before


def test_api_reassign_is_audited_with_the_token_user(
    client: Client, team: Team, incident: Incident
) -> None:
    api(client, team.alice, incident, "reassign", {"user": "carol"})

    entries = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_id=incident.pk
    )
    [entry] = [e for e in entries if "assignee" in e.changes_dict]
    assert entry.actor == team.alice
    assert entry.changes_dict["assignee"][1] == team.carol.pk


# --- The admin -----------------------------------------------------------------------------------


def change_page(client: Client, incident: Incident) -> str:
    response = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert response.status_code == 200
    return response.content.decode()


def admin_post(client: Client, incident: Incident, name: str, data: dict[str, Any]) -> Any:
    url = reverse(f"admin:incidents_incident_{name}", args=[incident.pk])
    return client.post(url, data, follow=True)


def shown(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def carol_browser(client: Client, team: Team) -> Client:
    client.force_login(team.carol)
    return client


def test_the_incident_page_offers_the_teams_active_members_to_reassign_to(
    carol_browser: Client, team: Team, incident: Incident
) -> None:
    team.bob.is_active = False
    team.bob.save()

    html = change_page(carol_browser, incident)

    for form in ("resolve", "reassign", "note"):
        assert reverse(f"admin:incidents_incident_{form}", args=[incident.pk]) in html
    assert 'id="resolve-incident"' in html
    assert 'id="reassign-incident"' in html
    assert 'id="add-note"' in html
    options = [f'<option value="{u.pk}">{u.username}</option>' for u in (team.alice, team.carol)]
    assert all(option in html for option in options)
    assert f'<option value="{team.bob.pk}">' not in html  # deactivated
    assert f'<option value="{team.outsider.pk}">' not in html


def test_a_resolved_incident_page_offers_only_the_note(
    carol_browser: Client, team: Team, incident: Incident
) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.alice), note="Fixed by restart.")

    html = change_page(carol_browser, incident)

    assert 'id="add-note"' in html
    assert 'id="reassign-incident"' not in html
    assert 'id="resolve-incident"' not in html
    assert "Fixed by restart." in html  # the resolution note, shown with the incident


def test_the_auditor_sees_the_incident_but_no_forms(
    client: Client, team: Team, incident: Incident
) -> None:
    incident_add_note(incident_id=incident.pk, actor=by(team.alice), text="Seen by auditors")
    client.force_login(team.auditor)

    html = change_page(client, incident)

    assert "Seen by auditors" in html
    assert 'id="add-note"' not in html
    assert 'id="reassign-incident"' not in html


def test_admin_add_note(carol_browser: Client, team: Team, incident: Incident) -> None:
    response = admin_post(carol_browser, incident, "note", {"text": "Restarting db-1."})

    assert response.redirect_chain[-1][0] == reverse(
        "admin:incidents_incident_change", args=[incident.pk]
    )
    assert shown(response) == ["Note added."]
    note = last_event(incident)
    assert (note.kind, note.message, note.actor) == (Kind.NOTE, "Restarting db-1.", team.carol)
    assert "Restarting db-1." in response.content.decode()  # on the timeline


@pytest.mark.parametrize(
    ("text", "error"),
    [("  ", "Note: This field is required."), ("x" * 5001, "Note: Ensure this value has at most")],
)
def test_admin_refuses_a_blank_or_too_long_note_with_a_message(
    carol_browser: Client, incident: Incident, text: str, error: str
) -> None:
    before = incident.events.count()

    response = admin_post(carol_browser, incident, "note", {"text": text})

    assert response.status_code == 200
    [message] = shown(response)
    assert message.startswith(error)
    assert incident.events.count() == before


def test_admin_reassign(carol_browser: Client, team: Team, incident: Incident) -> None:
    data = {"assignee": team.alice.pk, "note": "Your box."}

    response = admin_post(carol_browser, incident, "reassign", data)

    assert shown(response) == [f"Incident #{incident.pk} reassigned to alice."]
    incident = reload(incident)
    assert incident.assignee == team.alice
    assert last_event(incident).message == "Reassigned to alice by carol. Note: Your box."


@pytest.mark.parametrize("who", ["outsider", "nobody"])
def test_admin_reassign_to_someone_outside_the_team_is_refused_with_a_message(
    carol_browser: Client, team: Team, incident: Incident, who: str
) -> None:
    assignee = team.outsider.pk if who == "outsider" else ""

    response = admin_post(carol_browser, incident, "reassign", {"assignee": assignee})

    assert response.status_code == 200
    [message] = shown(response)
    assert message.startswith("Reassign to: ")
    assert reload(incident).assignee is None


def test_admin_reassign_of_an_incident_resolved_meanwhile_shows_why(
    carol_browser: Client, team: Team, incident: Incident
) -> None:
    incident_resolve(incident_id=incident.pk, actor=by(team.alice))

    response = admin_post(carol_browser, incident, "reassign", {"assignee": team.bob.pk})

    assert response.status_code == 200
    assert shown(response) == [f"Incident #{incident.pk} is resolved and cannot be reassigned."]


def test_admin_resolve_with_a_note(carol_browser: Client, team: Team, incident: Incident) -> None:
    response = admin_post(carol_browser, incident, "resolve", {"note": "Log rotation fixed."})

    assert shown(response) == ["1 incident(s) resolved."]
    incident = reload(incident)
    assert (incident.status, incident.resolution_note) == (Status.RESOLVED, "Log rotation fixed.")


def test_admin_resolve_with_a_too_long_note_resolves_nothing(
    carol_browser: Client, incident: Incident
) -> None:
    response = admin_post(carol_browser, incident, "resolve", {"note": "x" * 5001})

    [message] = shown(response)
    assert message.startswith("Resolution note: Ensure this value has at most 5000")
    assert reload(incident).status == Status.TRIGGERED


@pytest.mark.parametrize("name", ["note", "reassign"])
@pytest.mark.parametrize(("persona", "status"), [("outsider", 404), ("auditor", 403)])
def test_admin_forms_refuse_other_teams_and_auditors(
    client: Client, team: Team, incident: Incident, name: str, persona: str, status: int
) -> None:
    team.outsider.is_staff = True
    team.outsider.save()
    client.force_login(team.outsider if persona == "outsider" else team.auditor)
    data = {"text": "hi", "assignee": team.carol.pk}
    before = incident.events.count()

    response = client.post(reverse(f"admin:incidents_incident_{name}", args=[incident.pk]), data)

    assert response.status_code == status
    assert incident.events.count() == before
    assert reload(incident).assignee is None


@pytest.mark.parametrize("name", ["note", "reassign"])
def test_admin_form_urls_refuse_get(carol_browser: Client, incident: Incident, name: str) -> None:
    response = carol_browser.get(reverse(f"admin:incidents_incident_{name}", args=[incident.pk]))

    assert response.status_code == 405
