"""Incident records and response times (MTTA/MTTR) for a period."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.audit.export_rows import ExportScope, incident_rows
from incidents.audit.reports import response_times
from incidents.models import Incident, Notification
from incidents.services import Actor, incident_escalate, incident_reassign, incident_resolve
from tests.incidents.audit_exports.conftest import (
    Q_END,
    Q_START,
    TwoTeams,
    acknowledge_at,
    export,
    resolve_at,
    resolve_by_integration_at,
    trigger_at,
)

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def deliver(incident: Incident, username: str, status: str = Notification.Status.SENT) -> None:
    """What the delivery job would have recorded."""
    incident.notifications.filter(user__username=username).update(status=status)


@dataclass
class Quarter:
    acked_and_resolved: Incident
    resolved_by_integration: Incident
    resolved_unacked: Incident
    open_escalated: Incident
    other_team: Incident
    before: Incident


@pytest.fixture
def quarter(two_teams: TwoTeams) -> Quarter:
    a, b = two_teams.a, two_teams.b
    alice, bob = a.alice, a.bob

    t1 = Q_START + DAY
    i1 = trigger_at(a.alertmanager, t1, "i1", severity="critical")
    deliver(i1, "alice")
    acknowledge_at(i1, t1 + 60 * SECOND, alice)
    resolve_at(i1, t1 + 600 * SECOND, alice)

    t2 = Q_START + 2 * DAY
    i2 = trigger_at(a.alertmanager, t2, "i2", severity="warning")
    acknowledge_at(i2, t2 + 180 * SECOND, bob)
    resolve_by_integration_at(i2, a.alertmanager, t2 + 1200 * SECOND)

    t3 = Q_START + 3 * DAY
    i3 = trigger_at(two_teams.a2_integration, t3, "i3", severity="error")
    resolve_at(i3, t3 + 300 * SECOND, bob)

    t4 = Q_START + 4 * DAY
    i4 = trigger_at(a.alertmanager, t4, "i4", severity="info")
    deliver(i4, "alice")
    i4.refresh_from_db()
    with time_machine.travel(i4.next_escalation_at + SECOND, tick=False):
        assert incident_escalate(incident_id=i4.pk, token=i4.active_job_id) == "escalated"
    deliver(i4, "bob", Notification.Status.FAILED)

    t5 = Q_START + 5 * DAY
    i5 = trigger_at(b.alertmanager, t5, "i5", severity="critical")
    acknowledge_at(i5, t5 + 30 * SECOND, alice)
    resolve_at(i5, t5 + 90 * SECOND, alice)

    before = trigger_at(a.alertmanager, Q_START - SECOND, "before")
    return Quarter(i1, i2, i3, i4, i5, before)


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(row["id"]): row for row in rows}


def test_one_record_per_incident_created_in_the_period(quarter: Quarter) -> None:
    rows = export("incidents").jsonl_rows()

    assert [row["id"] for row in rows] == [
        quarter.acked_and_resolved.pk,
        quarter.resolved_by_integration.pk,
        quarter.resolved_unacked.pk,
        quarter.open_escalated.pk,
        quarter.other_team.pk,
    ]


def test_an_acknowledged_and_resolved_incident(quarter: Quarter) -> None:
    incident = quarter.acked_and_resolved
    incident.refresh_from_db()

    row = by_id(export("incidents").jsonl_rows())[incident.pk]

    assert row == {
        "id": incident.pk,
        "title": "Disk full on db-1",
        "service": "a1",
        "team": "Alpha",
        "severity": "critical",
        "urgency": "high",
        "status": "resolved",
        "created_at": (Q_START + DAY).isoformat(timespec="microseconds"),
        "acknowledged_by": "alice",
        "acknowledged_at": (Q_START + DAY + 60 * SECOND).isoformat(timespec="microseconds"),
        "resolved_by": "alice",
        "resolved_at": (Q_START + DAY + 600 * SECOND).isoformat(timespec="microseconds"),
        "time_to_acknowledge_s": 60.0,
        "time_to_resolve_s": 600.0,
        "levels_reached": "1",
        "people_notified": "alice:email",
        "notifications_failed": "",
        "jira_key": "",
        "resolution_note": "",
    }


def test_who_resolved_names_an_integration_too(quarter: Quarter) -> None:
    row = by_id(export("incidents").jsonl_rows())[quarter.resolved_by_integration.pk]

    assert (row["acknowledged_by"], row["resolved_by"]) == (
        "bob",
        "integration 'AM' (Prometheus Alertmanager)",
    )
    assert (row["urgency"], row["time_to_resolve_s"]) == ("low", 1200.0)


def test_an_open_incident_escalated_to_the_second_level(quarter: Quarter) -> None:
    rows = by_id(export("incidents", "csv").csv_rows())

    row = rows[quarter.open_escalated.pk]
    assert row["status"] == "triggered"
    assert (row["acknowledged_by"], row["acknowledged_at"], row["time_to_acknowledge_s"]) == (
        "",
        "",
        "",
    )
    assert row["levels_reached"] == "1;2"
    assert row["people_notified"] == "alice:email"
    assert row["notifications_failed"] == "bob:email"
    assert row["urgency"] == "low"


def test_incidents_filtered_by_team(quarter: Quarter) -> None:
    rows = export("incidents", team="Bravo").jsonl_rows()

    assert [row["id"] for row in rows] == [quarter.other_team.pk]


def test_incidents_filtered_by_who_acted_on_them(quarter: Quarter) -> None:
    by_bob = export("incidents", actor="bob").jsonl_rows()
    by_integration = export("incidents", actor="integration 'AM' (Prometheus Alertmanager)")

    assert [row["id"] for row in by_bob] == [
        quarter.resolved_by_integration.pk,
        quarter.resolved_unacked.pk,
    ]
    assert [row["id"] for row in by_integration.jsonl_rows()] == [
        quarter.resolved_by_integration.pk
    ]


def test_the_incident_export_reads_a_constant_number_of_queries(two_teams: TwoTeams) -> None:
    scope = ExportScope(start=Q_START, end=Q_END)

    def queries_for_export() -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = list(incident_rows(scope).rows)
        assert rows
        return len(captured)

    for n in range(2):
        incident = trigger_at(two_teams.a.alertmanager, Q_START + n * DAY, f"few-{n}")
        deliver(incident, "alice")
    few = queries_for_export()
    for n in range(8):
        incident = trigger_at(two_teams.b.alertmanager, Q_START + n * DAY, f"many-{n}")
        deliver(incident, "alice")
        acknowledge_at(incident, Q_START + n * DAY + SECOND, two_teams.b.bob)

    assert queries_for_export() == few == 3  # incidents, their notifications, their actors


# --- Response times -----------------------------------------------------------------------------


def test_mtta_and_mttr_per_service_and_team(quarter: Quarter) -> None:
    report = {
        (times.team, times.service): times for times in response_times(start=Q_START, end=Q_END)
    }

    assert list(report) == [
        ("Alpha", ""),
        ("Alpha", "a1"),
        ("Alpha", "a2"),
        ("Bravo", ""),
        ("Bravo", "b1"),
    ]
    a1 = report["Alpha", "a1"]
    assert (a1.incidents, a1.acknowledged, a1.resolved) == (3, 2, 2)
    assert (a1.mtta_mean, a1.mtta_median, a1.mttr_mean, a1.mttr_median) == (120, 120, 900, 900)
    a2 = report["Alpha", "a2"]
    assert (a2.incidents, a2.acknowledged, a2.resolved) == (1, 0, 1)
    assert (a2.mtta_mean, a2.mttr_mean, a2.mttr_median) == (None, 300, 300)
    team = report["Alpha", ""]
    assert (team.scope, team.incidents, team.acknowledged, team.resolved) == ("team", 4, 2, 3)
    assert (team.mtta_mean, team.mtta_median) == (120, 120)
    assert (team.mttr_mean, team.mttr_median) == (700, 600)
    bravo = report["Bravo", "b1"]
    assert (bravo.mtta_mean, bravo.mttr_mean) == (30, 90)


def test_response_times_export_for_one_team(quarter: Quarter) -> None:
    exported = export("response_times", "csv", team="Alpha")

    rows = exported.csv_rows()
    assert [(row["scope"], row["service"]) for row in rows] == [
        ("team", ""),
        ("service", "a1"),
        ("service", "a2"),
    ]
    assert rows[0] == {
        "scope": "team",
        "team": "Alpha",
        "service": "",
        "incidents": "4",
        "acknowledged": "2",
        "resolved": "3",
        "mtta_mean_s": "120.0",
        "mtta_median_s": "120.0",
        "mttr_mean_s": "700.0",
        "mttr_median_s": "600.0",
    }
    assert exported.export.row_count == 3


# --- Resolution notes and reassignments ---------------------------------------------------------


def test_the_resolution_note_is_in_the_incident_record(two_teams: TwoTeams) -> None:
    a = two_teams.a
    noted = trigger_at(a.alertmanager, Q_START + DAY, "noted")
    plain = trigger_at(a.alertmanager, Q_START + DAY, "plain")
    with time_machine.travel(Q_START + DAY + 60 * SECOND, tick=False):
        note = 'Disk filled by a runaway log; rotated, alert at 80%. "Quoted", and;\nmultiline.'
        incident_resolve(incident_id=noted.pk, actor=Actor.of_user(a.alice), note=note)
    resolve_at(plain, Q_START + DAY + 60 * SECOND, a.alice)

    jsonl = by_id(export("incidents").jsonl_rows())
    csv_rows = by_id(export("incidents", "csv").csv_rows())

    assert jsonl[noted.pk]["resolution_note"] == note
    assert csv_rows[noted.pk]["resolution_note"] == note
    assert (jsonl[plain.pk]["resolution_note"], csv_rows[plain.pk]["resolution_note"]) == ("", "")


def test_a_reassigned_incident_records_its_final_acknowledgement(two_teams: TwoTeams) -> None:
    """A reassignment clears the first acknowledgement: who and when acknowledged, and the
    time to acknowledge, are the new assignee's."""
    a = two_teams.a
    t = Q_START + DAY
    incident = trigger_at(a.alertmanager, t, "handed-over")
    acknowledge_at(incident, t + 60 * SECOND, a.alice)
    with time_machine.travel(t + 120 * SECOND, tick=False):
        incident_reassign(incident_id=incident.pk, actor=Actor.of_user(a.alice), to_user=a.bob)
    acknowledge_at(incident, t + 300 * SECOND, a.bob)

    row = by_id(export("incidents").jsonl_rows())[incident.pk]

    assert (row["status"], row["acknowledged_by"]) == ("acknowledged", "bob")
    assert row["acknowledged_at"] == (t + 300 * SECOND).isoformat(timespec="microseconds")
    assert row["time_to_acknowledge_s"] == 300.0
