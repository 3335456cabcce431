"""Every audit entry says who acted and from where: admin users, API token owners,
integrations, jobs and commands; forwarded addresses only from trusted proxies."""

import contextvars
import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from auditlog.context import auditlog_value, set_actor
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.models.signals import pre_save
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token

from incidents.audit.actors import (
    audit_actor_label,
    audit_actor_system,
    client_address,
    live_scope,
    record_event,
)
from incidents.audit.models import AuditEntry
from incidents.jobs import deliver_notification, escalation_step
from incidents.models import Incident, Notification
from incidents.services import alert_ingest
from schedules.models import Team
from tests.conftest import Setup, trigger_event
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


class NewEntries:
    """The audit entries written since it was created."""

    def __init__(self) -> None:
        self.before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def all(self) -> list[AuditEntry]:
        return list(AuditEntry.objects.filter(id__gt=self.before).order_by("id"))

    def labels(self) -> set[str]:
        return {entry.actor_label for entry in self.all()}

    def addresses(self) -> set[str | None]:
        return {entry.remote_addr for entry in self.all()}


@pytest.fixture
def root(db: None) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def admin_form_data(client: Client, url: str, **fields: str) -> dict[str, str]:
    """The add form's data with empty inlines (their management forms), plus `fields`."""
    response = client.get(url)
    assert response.status_code == 200
    data = dict(fields)
    for inline in response.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


# --- Web requests ---------------------------------------------------------------------------


def test_an_admin_form_save_is_attributed_to_the_username(client: Client, root: Any) -> None:
    client.force_login(root)
    url = reverse("admin:schedules_team_add")
    data = admin_form_data(client, url, name="Payments")
    new = NewEntries()

    response = client.post(url, data)

    assert response.status_code == 302, response.content
    team = Team.objects.get(name="Payments")
    [created] = [
        entry
        for entry in new.all()
        if entry.content_type.model == "team"
        and entry.object_pk == str(team.pk)
        and entry.action == AuditEntry.Action.CREATE
    ]
    assert (created.action, created.actor, created.actor_label, created.remote_addr) == (
        AuditEntry.Action.CREATE,
        root,
        "root",
        "127.0.0.1",
    )
    assert new.labels() == {"root"}


def test_an_admin_action_is_attributed_to_the_username(
    client: Client, root: Any, setup: Setup
) -> None:
    incident = Incident.objects.get(
        pk=alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0].incident_id
    )
    client.force_login(root)
    new = NewEntries()

    client.post(reverse("admin:incidents_incident_acknowledge", args=[incident.pk]))

    assert new.all(), "the acknowledgement wrote no audit entry"
    assert new.labels() == {"root"}
    assert {entry.actor for entry in new.all()} == {root}


def test_a_token_api_acknowledge_is_attributed_to_the_token_owner(
    client: Client, setup: Setup
) -> None:
    incident = Incident.objects.get(
        pk=alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0].incident_id
    )
    token = Token.objects.create(user=setup.alice)
    new = NewEntries()

    response = client.post(
        f"/api/v1/incidents/{incident.pk}/acknowledge/",
        headers={"Authorization": f"Token {token.key}"},
    )

    assert response.status_code == 200, response.content
    assert new.all()
    assert new.labels() == {"alice"}
    assert {entry.actor for entry in new.all()} == {setup.alice}


def test_intake_is_attributed_to_the_integration(client: Client, setup: Setup) -> None:
    new = NewEntries()
    event = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "dedup_key": "disk",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
    }

    response = client.post("/v2/enqueue", json.dumps(event), content_type="application/json")

    assert response.status_code == 202
    assert {entry.content_type.model for entry in new.all()} >= {"incident", "alert"}
    assert new.labels() == {"integration 'PD' (PagerDuty Events API v2)"}
    assert {entry.actor for entry in new.all()} == {None}
    assert new.addresses() == {"127.0.0.1"}


def test_requests_leave_no_audit_scope_or_receiver_behind(client: Client, setup: Setup) -> None:
    post_intake(client, setup)
    receivers, value = len(pre_save.receivers), auditlog_value.get(None)

    for _ in range(3):
        post_intake(client, setup)

    assert len(pre_save.receivers) == receivers
    assert auditlog_value.get(None) is value
    assert live_scope() is None


# --- X-Forwarded-For ------------------------------------------------------------------------


def post_intake(client: Client, setup: Setup, **headers: str) -> None:
    event = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "dedup_key": "spoof",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
    }
    client.post(
        "/v2/enqueue",
        json.dumps(event),
        content_type="application/json",
        headers=headers,
    )


def test_a_spoofed_forwarded_for_from_an_untrusted_client_is_ignored(
    client: Client, setup: Setup
) -> None:
    new = NewEntries()

    post_intake(client, setup, **{"X-Forwarded-For": "198.51.100.66", "X-Forwarded-Port": "1"})

    assert new.addresses() == {"127.0.0.1"}
    assert {entry.remote_port for entry in new.all()} == {None}


def test_forwarded_for_is_believed_from_a_trusted_proxy(
    client: Client, setup: Setup, settings: Any
) -> None:
    settings.AUDIT_TRUSTED_PROXIES = ["127.0.0.1"]
    new = NewEntries()

    # The client itself sent a forged first hop; the proxy appended the real address.
    post_intake(
        client,
        setup,
        **{"X-Forwarded-For": "198.51.100.66, 203.0.113.7", "X-Forwarded-Port": "51234"},
    )

    assert new.addresses() == {"203.0.113.7"}
    assert {entry.remote_port for entry in new.all()} == {51234}


@pytest.mark.parametrize(
    ("remote_addr", "forwarded", "trusted", "expected"),
    [
        ("10.0.0.5", "", [], "10.0.0.5"),
        ("10.0.0.5", "203.0.113.7", [], "10.0.0.5"),
        ("10.0.0.5", "203.0.113.7", ["10.0.0.5"], "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7, 10.0.0.9", ["10.0.0.5", "10.0.0.9"], "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7:4431", ["10.0.0.5"], "203.0.113.7"),
        ("10.0.0.5", "[2001:db8::7]:443", ["10.0.0.5"], "2001:db8::7"),
        ("::1", "2001:db8::7", ["0:0:0:0:0:0:0:1"], "2001:db8::7"),
        ("10.0.0.5", "not-an-address", ["10.0.0.5"], "10.0.0.5"),
        ("10.0.0.5", "10.0.0.5", ["10.0.0.5"], "10.0.0.5"),
    ],
)
def test_client_address(
    settings: Any, remote_addr: str, forwarded: str, trusted: list[str], expected: str
) -> None:
    settings.AUDIT_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected


# --- Jobs and commands ----------------------------------------------------------------------


@pytest.fixture
def triggered(setup: Setup, time_machine: Any) -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Incident.objects.get(pk=result.incident_id)


def test_an_escalation_job_is_attributed_to_the_system(
    triggered: Incident, time_machine: Any
) -> None:
    time_machine.move_to(triggered.next_escalation_at + timedelta(seconds=1))
    new = NewEntries()

    assert escalation_step(triggered.pk, triggered.active_job_id) == "escalated"

    assert new.all()
    assert new.labels() == {"system"}
    assert live_scope() is None


def test_a_delivery_job_is_attributed_to_the_system(triggered: Incident) -> None:
    notification = Notification.objects.get(incident=triggered)
    new = NewEntries()

    assert deliver_notification(notification.pk) == "sent"

    assert new.all()
    assert new.labels() == {"system"}


def test_a_management_command_is_attributed_to_the_system_and_names_itself(
    empty_log: None,
) -> None:
    with time_machine.travel("2020-01-01T00:00:00Z"):
        TeamFactory(name="Old team")
    new = NewEntries()

    call_command("prune_audit_log", days=30, stdout=StringIO())

    [pruned] = new.all()
    assert pruned.actor_label == "system: prune_audit_log"


def test_an_explicit_user_inside_a_system_scope_is_still_labelled_system() -> None:
    user = UserFactory(username="carol")
    with audit_actor_system("import_teams"):
        entry = record_event("imported", message="Imported", actor=user)

    assert (entry.actor, entry.actor_label) == (user, "system: import_teams")


def test_scopes_nest_and_restore_the_outer_label() -> None:
    new = NewEntries()
    with audit_actor_system("outer"):
        TeamFactory(name="A")
        with audit_actor_label("integration 'X' (Webhook)"):
            TeamFactory(name="B")
        TeamFactory(name="C")
    TeamFactory(name="D")

    labels = [
        (entry.object_repr, entry.actor_label)
        for entry in new.all()
        if entry.content_type == ContentType.objects.get_for_model(Team)
        and entry.action == AuditEntry.Action.CREATE
    ]
    assert labels == [
        ("A", "system: outer"),
        ("B", "integration 'X' (Webhook)"),
        ("C", "system: outer"),
        ("D", ""),
    ]
    assert live_scope() is None


def test_a_stale_auditlog_scope_is_not_mistaken_for_a_live_one() -> None:
    """auditlog's set_actor leaves its dict in the context variable after it exits."""
    actor = UserFactory(username="earlier")

    def after_a_closed_auditlog_scope() -> Team:
        with set_actor(actor):
            pass
        assert auditlog_value.get()["actor"] == actor
        with audit_actor_system():
            return TeamFactory(name="After")

    # In a copy of the context, so the leftover does not outlive this test.
    team = contextvars.copy_context().run(after_a_closed_auditlog_scope)

    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Team),
        object_pk=str(team.pk),
        action=AuditEntry.Action.CREATE,
    )
    assert (entry.actor, entry.actor_label) == (None, "system")


# --- record_event ---------------------------------------------------------------------------


def test_record_event_writes_an_access_entry_with_a_readable_description(
    setup: Setup,
) -> None:
    entry = record_event(
        "permission_granted",
        setup.service,
        message="Granted change_service on Service 'x' to bob",
        data={"permission": "change_service", "team_id": setup.service.team_id},
        actor=setup.alice,
    )
    entry.refresh_from_db()

    assert entry.action == AuditEntry.Action.ACCESS
    assert entry.additional_data == {
        "permission": "change_service",
        "team_id": setup.service.team_id,
        "event": "permission_granted",
    }
    assert entry.object_repr == "Granted change_service on Service 'x' to bob"
    assert (entry.content_type.model, entry.object_pk) == ("service", str(setup.service.pk))
    assert (entry.actor, entry.actor_label, entry.team_id) == (
        setup.alice,
        "alice",
        setup.service.team_id,
    )


def test_record_event_without_an_object() -> None:
    entry = record_event("maintenance", message="Nightly check", data={})

    assert (entry.object_pk, entry.object_repr, entry.actor_label) == ("", "Nightly check", "")
    assert entry.additional_data == {"event": "maintenance"}
