"""The incidents REST API: token auth, team scoping, acknowledge/resolve and the audit actor."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from incidents.intake.events import AlertEvent
from incidents.models import Alert, Incident, IncidentEvent, Notification
from incidents.models import AuditEntry as LogEntry
from incidents.services import alert_ingest, incident_escalate
from tests.conftest import Setup
from tests.factories import PolicyFactory, ServiceFactory, UserFactory, add_level, make_integration

pytestmark = pytest.mark.django_db

INCIDENTS_URL = "/api/v1/incidents/"


def detail_url(incident: Incident, action: str = "") -> str:
    return f"{INCIDENTS_URL}{incident.pk}/" + (f"{action}/" if action else "")


def token_headers(user: Any) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def api_get(client: Client, user: Any, url: str) -> Any:
    return client.get(url, headers=token_headers(user))


def api_post(client: Client, user: Any, url: str) -> Any:
    return client.post(url, headers=token_headers(user))


def pd_trigger(
    client: Client, setup: Setup, dedup_key: str = "db-1/disk", summary: str = "Disk full on db-1"
) -> Incident:
    """Open an incident the way a monitoring tool does: a PagerDuty event on the intake."""
    event = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }
    response = client.post("/v2/enqueue", data=json.dumps(event), content_type="application/json")
    assert response.status_code == 202, response.content
    return Incident.objects.get(
        service=setup.service, dedup_key=dedup_key, status__in=Incident.OPEN_STATUSES
    )


def foreign_incident() -> Incident:
    """An incident of a service that belongs to a team none of the setup's people are in."""
    policy = PolicyFactory()
    add_level(policy, [UserFactory(username="carol")], timedelta(minutes=5))
    service = ServiceFactory(team=policy.team, escalation_policy=policy)
    integration, _ = make_integration(service)
    [result] = alert_ingest(
        integration=integration,
        events=[AlertEvent(action="trigger", dedup_key="other/cpu", summary="CPU hot")],
    )
    return Incident.objects.get(pk=result.incident_id)


def results_ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- visibility ---------------------------------------------------------------------------------


def test_list_shows_only_incidents_of_the_users_teams(client: Client, setup: Setup) -> None:
    own = pd_trigger(client, setup)
    foreign_incident()

    assert results_ids(api_get(client, setup.alice, INCIDENTS_URL)) == {own.pk}


def test_list_is_empty_for_a_member_of_another_team(client: Client, setup: Setup) -> None:
    pd_trigger(client, setup)

    response = api_get(client, setup.outsider, INCIDENTS_URL)

    assert results_ids(response) == set()
    assert response.json()["count"] == 0


def test_superuser_lists_the_incidents_of_every_team(client: Client, setup: Setup) -> None:
    own = pd_trigger(client, setup)
    other = foreign_incident()
    root = UserFactory(username="root", is_superuser=True, is_staff=True)

    assert results_ids(api_get(client, root, INCIDENTS_URL)) == {own.pk, other.pk}


def test_list_rows_name_the_service_team_and_level(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)

    [row] = api_get(client, setup.bob, INCIDENTS_URL).json()["results"]

    assert row["id"] == incident.pk
    assert row["status"] == "triggered"
    assert row["service"] == setup.service.name
    assert row["team"] == setup.service.team.name
    assert row["current_level"] == 1
    assert row["acknowledged_by"] is None
    assert "timeline" not in row


def test_list_query_count_does_not_grow_with_the_number_of_incidents(
    client: Client, setup: Setup
) -> None:
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api_get(client, setup.alice, INCIDENTS_URL).status_code == 200
        return len(queries)

    for n in range(2):
        pd_trigger(client, setup, dedup_key=f"k{n}")
    api_post(client, setup.alice, detail_url(Incident.objects.first(), "acknowledge"))
    with_two = count_queries()
    for n in range(2, 10):
        pd_trigger(client, setup, dedup_key=f"k{n}")
    api_post(client, setup.alice, detail_url(Incident.objects.last(), "resolve"))

    assert count_queries() == with_two


def test_detail_includes_the_timeline_and_the_alerts(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup, summary="Disk full on db-1")
    pd_trigger(client, setup, summary="Disk still full on db-1")  # same dedup key: attaches

    response = api_get(client, setup.alice, detail_url(incident))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == incident.pk
    kinds = [event["kind"] for event in body["timeline"]]
    assert kinds == ["triggered", "escalated", "alert_added"]
    assert "paging alice" in body["timeline"][1]["message"]
    assert sorted(alert["summary"] for alert in body["alerts"]) == [
        "Disk full on db-1",
        "Disk still full on db-1",
    ]
    assert {alert["dedup_key"] for alert in body["alerts"]} == {"db-1/disk"}


@pytest.mark.parametrize(
    ("method", "action"), [("get", ""), ("post", "acknowledge"), ("post", "resolve")]
)
def test_another_teams_incident_is_not_found(
    client: Client, setup: Setup, method: str, action: str
) -> None:
    incident = pd_trigger(client, setup)

    response = getattr(client, method)(
        detail_url(incident, action), headers=token_headers(setup.outsider)
    )

    assert response.status_code == 404
    assert response.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED
    assert not incident.events.filter(actor=setup.outsider).exists()


UNAUTHENTICATED_TARGETS = {
    "list": ("get", lambda incident: INCIDENTS_URL),
    "detail": ("get", lambda incident: detail_url(incident)),
    "acknowledge": ("post", lambda incident: detail_url(incident, "acknowledge")),
    "resolve": ("post", lambda incident: detail_url(incident, "resolve")),
}


@pytest.mark.parametrize("target", UNAUTHENTICATED_TARGETS)
def test_unauthenticated_requests_are_refused(client: Client, setup: Setup, target: str) -> None:
    incident = pd_trigger(client, setup)
    method, url = UNAUTHENTICATED_TARGETS[target]

    response = getattr(client, method)(url(incident))

    assert response.status_code in (401, 403)
    assert set(response.json()) == {"detail"}
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


def test_an_unknown_token_is_refused_with_401(client: Client, setup: Setup) -> None:
    pd_trigger(client, setup)

    response = client.get(INCIDENTS_URL, headers={"Authorization": "Token " + "0" * 40})

    assert response.status_code == 401


def test_a_token_of_a_deactivated_user_is_refused(client: Client, setup: Setup) -> None:
    pd_trigger(client, setup)
    headers = token_headers(setup.alice)
    setup.alice.is_active = False
    setup.alice.save()

    assert client.get(INCIDENTS_URL, headers=headers).status_code == 401


# --- acknowledge and resolve ---------------------------------------------------------------------


def test_acknowledge_stops_paging_and_records_who_acknowledged(
    client: Client, setup: Setup
) -> None:
    incident = pd_trigger(client, setup)
    assert incident.next_escalation_at is not None
    assert incident.notifications.filter(user=setup.alice, status="pending").exists()

    response = api_post(client, setup.alice, detail_url(incident, "acknowledge"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "alice"
    assert body["next_escalation_at"] is None
    assert body["timeline"][-1]["kind"] == "acknowledged"
    assert body["timeline"][-1]["actor_label"] == "alice"
    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_by == setup.alice
    assert incident.acknowledged_at is not None
    assert incident.next_escalation_at is None
    assert incident.active_job_id == ""
    event = incident.events.get(kind=IncidentEvent.Kind.ACKNOWLEDGED)
    assert event.actor == setup.alice
    statuses = set(incident.notifications.values_list("status", flat=True))
    assert statuses == {Notification.Status.CANCELLED}


def test_acknowledge_makes_the_armed_escalation_step_a_no_op(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)
    armed_token = incident.active_job_id

    api_post(client, setup.alice, detail_url(incident, "acknowledge"))

    assert incident_escalate(incident_id=incident.pk, token=armed_token) == "not-triggered"
    assert not Notification.objects.filter(incident=incident, user=setup.bob).exists()


def test_acknowledge_twice_is_a_no_op(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)
    api_post(client, setup.alice, detail_url(incident, "acknowledge"))
    first_ack_at = Incident.objects.get(pk=incident.pk).acknowledged_at

    response = api_post(client, setup.bob, detail_url(incident, "acknowledge"))

    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "alice"
    incident.refresh_from_db()
    assert incident.acknowledged_by == setup.alice
    assert incident.acknowledged_at == first_ack_at
    assert incident.events.filter(kind=IncidentEvent.Kind.ACKNOWLEDGED).count() == 1


def test_resolve_a_triggered_incident(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)

    response = api_post(client, setup.bob, detail_url(incident, "resolve"))

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_by"] == "bob"
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.resolved_by == setup.bob
    assert incident.resolved_at is not None
    assert incident.next_escalation_at is None
    assert not incident.notifications.filter(status=Notification.Status.PENDING).exists()
    assert incident.events.get(kind=IncidentEvent.Kind.RESOLVED).actor == setup.bob


def test_resolve_an_acknowledged_incident(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)
    api_post(client, setup.alice, detail_url(incident, "acknowledge"))

    response = api_post(client, setup.alice, detail_url(incident, "resolve"))

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["acknowledged_by"], body["resolved_by"]) == (
        "resolved",
        "alice",
        "alice",
    )
    assert [event["kind"] for event in body["timeline"]][-2:] == ["acknowledged", "resolved"]


def test_resolve_twice_is_a_no_op(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)
    api_post(client, setup.alice, detail_url(incident, "resolve"))

    response = api_post(client, setup.bob, detail_url(incident, "resolve"))

    assert response.status_code == 200
    assert response.json()["resolved_by"] == "alice"
    assert incident.events.filter(kind=IncidentEvent.Kind.RESOLVED).count() == 1


def test_acknowledging_a_resolved_incident_is_a_conflict_with_a_readable_message(
    client: Client, setup: Setup
) -> None:
    incident = pd_trigger(client, setup)
    api_post(client, setup.alice, detail_url(incident, "resolve"))

    response = api_post(client, setup.bob, detail_url(incident, "acknowledge"))

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"#{incident.pk}" in detail
    assert "resolved" in detail
    assert "acknowledged" in detail
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.acknowledged_by is None


def test_a_new_trigger_after_resolve_opens_a_new_incident(client: Client, setup: Setup) -> None:
    first = pd_trigger(client, setup)
    api_post(client, setup.alice, detail_url(first, "resolve"))

    second = pd_trigger(client, setup)

    assert second.pk != first.pk
    assert Alert.objects.filter(incident=second).count() == 1


# --- audit trail --------------------------------------------------------------------------------


def incident_log_entries(incident: Incident) -> Any:
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_id=incident.pk
    )


def test_token_acknowledge_is_audited_with_the_token_user_as_actor(
    client: Client, setup: Setup
) -> None:
    incident = pd_trigger(client, setup)

    api_post(client, setup.alice, detail_url(incident, "acknowledge"))

    [entry] = [
        entry
        for entry in incident_log_entries(incident).filter(action=LogEntry.Action.UPDATE)
        if "status" in entry.changes_dict
    ]
    assert entry.changes_dict["status"][1] == "acknowledged"
    assert entry.actor == setup.alice
    assert entry.actor_email == setup.alice.email
    assert entry.remote_addr == "127.0.0.1"


def test_token_resolve_audits_every_row_it_changes_with_the_token_user(
    client: Client, setup: Setup
) -> None:
    incident = pd_trigger(client, setup)
    token_headers(setup.bob)  # bob's token exists before: its creation is audited too
    before = set(LogEntry.objects.values_list("pk", flat=True))

    api_post(client, setup.bob, detail_url(incident, "resolve"))

    entries = LogEntry.objects.exclude(pk__in=before)
    models = {entry.content_type.model for entry in entries}
    assert {"incident", "incidentevent", "notification"} <= models
    assert {entry.actor for entry in entries} == {setup.bob}


def test_intake_changes_are_not_attributed_to_an_earlier_api_user(
    client: Client, setup: Setup
) -> None:
    first = pd_trigger(client, setup, dedup_key="a")
    api_post(client, setup.alice, detail_url(first, "acknowledge"))
    before = set(LogEntry.objects.values_list("pk", flat=True))

    pd_trigger(client, setup, dedup_key="b")

    entries = LogEntry.objects.exclude(pk__in=before)
    assert entries.exists()
    assert {entry.actor for entry in entries} == {None}


def test_api_requests_leave_no_audit_signal_receivers_behind(client: Client, setup: Setup) -> None:
    incident = pd_trigger(client, setup)
    api_get(client, setup.alice, INCIDENTS_URL)  # warm up lazily connected receivers
    receivers_before = len(pre_save.receivers)

    for _ in range(3):
        api_get(client, setup.alice, detail_url(incident))
    api_post(client, setup.alice, detail_url(incident, "acknowledge"))

    assert len(pre_save.receivers) == receivers_before


def status_update_entry(incident: Incident) -> Any:
    updates = incident_log_entries(incident).filter(action=LogEntry.Action.UPDATE)
    [entry] = [entry for entry in updates if "status" in entry.changes_dict]
    return entry


def test_token_api_changes_record_the_same_source_address_as_admin_changes(
    client: Client, setup: Setup, settings: Any
) -> None:
    # The test client connects from 127.0.0.1; it and the inner proxy are trusted, so the
    # client is the right-most untrusted hop.
    settings.AUDIT_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.1"]
    through_api, through_admin = pd_trigger(client, setup, "a"), pd_trigger(client, setup, "b")
    proxy = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "X-Forwarded-Port": "51234"}
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    admin = Client()
    admin.force_login(root)

    client.post(
        detail_url(through_api, "acknowledge"), headers={**token_headers(setup.alice), **proxy}
    )
    admin.post(f"/admin/incidents/incident/{through_admin.pk}/acknowledge/", headers=proxy)

    by_admin, by_api = status_update_entry(through_admin), status_update_entry(through_api)
    assert (by_admin.actor, by_admin.remote_addr, by_admin.remote_port) == (
        root,
        "203.0.113.7",
        51234,
    )
    assert (by_api.actor, by_api.remote_addr, by_api.remote_port) == (
        setup.alice,
        "203.0.113.7",
        51234,
    )
