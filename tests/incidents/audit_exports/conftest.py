"""Personas and a quarter of audit history for the export tests."""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token

from incidents.audit.exports import export_begin, export_request_from_params, export_stream
from incidents.audit.models import AuditEntry, AuditExport
from incidents.intake.events import AlertEvent
from incidents.models import Incident, Integration
from incidents.services import Actor, alert_ingest, incident_acknowledge, incident_resolve
from tests.conftest import Setup, trigger_event
from tests.factories import MembershipFactory, ServiceFactory, UserFactory, make_integration

# A closed quarter in the past: entries written "now" by fixtures fall outside it.
Q_START = datetime(2025, 1, 1, tzinfo=UTC)
Q_END = datetime(2025, 4, 1, tzinfo=UTC)
PERIOD = {"start": "2025-01-01", "end": "2025-04-01"}


@pytest.fixture(autouse=True)
def audit_chain_settings(settings: Any) -> None:
    # Seal entries as soon as they exist, so a manifest's chain head covers the export's own
    # "audit_exported" entry; in production a few seconds' settle time is normal.
    settings.AUDIT_SEAL_SETTLE_SECONDS = 0
    settings.AUDIT_SEAL_LOOKBACK_SECONDS = 3600


@pytest.fixture
def auditor(db: None) -> Any:
    group, _ = Group.objects.get_or_create(name="Auditors")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="incidents",
            codename__in=["export_auditentry", "view_auditentry"],
        )
    )
    user = UserFactory(username="auditor", is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def superuser(db: None) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def responder(setup: Setup) -> Any:
    """A staff member of the setup's team who may see the audit log but not export it."""
    user = UserFactory(username="responder", is_staff=True)
    MembershipFactory(team=setup.service.team, user=user)
    user.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    return user


@pytest.fixture
def outsider(setup: Setup) -> Any:
    return setup.outsider


def token_for(user: Any) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def log_entry(
    obj: Any,
    at: datetime,
    *,
    actor: Any = None,
    changes: dict[str, Any] | None = None,
    action: int = AuditEntry.Action.UPDATE,
    **fields: Any,
) -> AuditEntry:
    with time_machine.travel(at, tick=False):
        entry = AuditEntry.objects.log_create(
            obj,
            force_log=True,
            action=action,
            actor=actor,
            changes=changes if changes is not None else {"status": ["triggered", "resolved"]},
            **fields,
        )
    assert entry is not None
    return entry


@dataclass
class Exported:
    export: AuditExport
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def csv_rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.text, newline="")))

    def jsonl_rows(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


def export(kind: str, export_format: str = "jsonl", user: Any = None, **params: str) -> Exported:
    request = export_request_from_params(
        {"kind": kind, "format": export_format, **PERIOD, **params}
    )
    made = export_begin(request, requested_by=user, actor_label="test")
    body = b"".join(export_stream(made))
    made.refresh_from_db()
    return Exported(made, body)


# --- Incidents at controlled times --------------------------------------------------------------


def trigger_at(integration: Integration, at: datetime, dedup_key: str, **event: Any) -> Incident:
    with time_machine.travel(at, tick=False):
        result = alert_ingest(
            integration=integration, events=[trigger_event(dedup_key=dedup_key, **event)]
        )[0]
    return Incident.objects.get(pk=result.incident_id)


def acknowledge_at(incident: Incident, at: datetime, user: Any) -> None:
    with time_machine.travel(at, tick=False):
        incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(user))


def resolve_at(incident: Incident, at: datetime, user: Any) -> None:
    with time_machine.travel(at, tick=False):
        incident_resolve(incident_id=incident.pk, actor=Actor.of_user(user))


def resolve_by_integration_at(incident: Incident, integration: Integration, at: datetime) -> None:
    event = AlertEvent(action="resolve", dedup_key=incident.dedup_key, summary="", severity="")
    with time_machine.travel(at, tick=False):
        alert_ingest(integration=integration, events=[event])


@dataclass
class TwoTeams:
    """Team Alpha with services a1 and a2, team Bravo with service b1 (all paging alice, then
    bob five minutes later)."""

    a: Setup
    b: Setup
    a2_integration: Integration


@pytest.fixture
def two_teams(make_setup: Callable[..., Setup]) -> TwoTeams:
    a = make_setup(level_delay=timedelta(minutes=5))
    b = make_setup(level_delay=timedelta(minutes=5))
    for setup, team_name, service_name in ((a, "Alpha", "a1"), (b, "Bravo", "b1")):
        setup.service.team.name = team_name
        setup.service.team.save()
        setup.service.name = service_name
        setup.service.save()
    a2 = ServiceFactory(
        name="a2", team=a.service.team, escalation_policy=a.service.escalation_policy
    )
    a2_integration, _ = make_integration(a2, Integration.Kind.EVENTS_API_V2, "A2")
    return TwoTeams(a, b, a2_integration)
