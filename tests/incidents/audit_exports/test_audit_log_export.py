"""The audit log export: every column, the period's boundaries, and each filter."""

import json
from datetime import timedelta
from typing import Any

import pytest

from incidents.audit.exports import ExportParameterError
from incidents.audit.models import AuditEntry
from tests.conftest import Setup
from tests.incidents.audit_exports.conftest import Q_END, Q_START, TwoTeams, export, log_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(two_teams: TwoTeams) -> dict[str, AuditEntry]:
    a, b = two_teams.a, two_teams.b
    return {
        "before": log_entry(a.service, Q_START - timedelta(microseconds=1), actor=a.alice),
        "at_start": log_entry(a.service, Q_START, actor=a.alice),
        "team_b": log_entry(
            b.service, Q_START + timedelta(days=3), actor=a.bob, changes={"name": ["x", "b1"]}
        ),
        "integration": log_entry(
            a.alertmanager,
            Q_START + timedelta(days=5),
            actor_label="integration 'AM' (Prometheus Alertmanager)",
        ),
        "last": log_entry(a.service, Q_END - timedelta(microseconds=1), actor=a.bob),
        "at_end": log_entry(a.service, Q_END, actor=a.alice),
    }


def test_the_period_includes_its_start_and_excludes_its_end(entries: dict[str, Any]) -> None:
    rows = export("audit_log").jsonl_rows()

    expected = ["at_start", "team_b", "integration", "last"]
    assert [row["id"] for row in rows] == [entries[name].pk for name in expected]


def test_jsonl_has_every_column_with_json_changes_as_objects(
    entries: dict[str, Any], two_teams: TwoTeams
) -> None:
    row = next(r for r in export("audit_log").jsonl_rows() if r["id"] == entries["team_b"].pk)

    entry = entries["team_b"]
    assert row == {
        "id": entry.pk,
        "timestamp": entry.timestamp.isoformat(timespec="microseconds"),
        "action": "update",
        "content_type": "incidents.service",
        "object_pk": str(two_teams.b.service.pk),
        "object_id": two_teams.b.service.pk,
        "object_repr": "b1",
        "actor_id": two_teams.a.bob.pk,
        "actor": "bob",
        "actor_label": entry.actor_label,
        "actor_email": entry.actor_email,
        "remote_addr": None,
        "remote_port": None,
        "cid": entry.cid,
        "team_id": two_teams.b.service.team_id,
        "changes_text": "",
        "changes": {"name": ["x", "b1"]},
        "additional_data": entry.additional_data,
        "serialized_data": None,
    }


def test_csv_has_a_header_and_the_same_rows(entries: dict[str, Any]) -> None:
    exported = export("audit_log", "csv")

    rows = exported.csv_rows()
    assert [int(row["id"]) for row in rows] == [
        entries[name].pk for name in ["at_start", "team_b", "integration", "last"]
    ]
    assert exported.text.splitlines()[0].startswith("id,timestamp,action,content_type,")
    team_b = rows[1]
    assert json.loads(team_b["changes"]) == {"name": ["x", "b1"]}
    assert team_b["actor"] == "bob"
    assert team_b["remote_addr"] == ""  # None is an empty cell
    assert exported.export.row_count == 4


def test_team_filter(entries: dict[str, Any], two_teams: TwoTeams) -> None:
    rows = export("audit_log", team=two_teams.b.service.team.name).jsonl_rows()

    assert [row["id"] for row in rows] == [entries["team_b"].pk]


def test_team_filter_by_id(entries: dict[str, Any], two_teams: TwoTeams) -> None:
    rows = export("audit_log", team=str(two_teams.a.service.team_id)).jsonl_rows()

    assert {row["id"] for row in rows} == {
        entries[name].pk for name in ["at_start", "integration", "last"]
    }


def test_model_filter(entries: dict[str, Any]) -> None:
    rows = export("audit_log", model="incidents.integration").jsonl_rows()

    assert [row["id"] for row in rows] == [entries["integration"].pk]


def test_actor_filter_matches_a_username_or_an_actor_label(entries: dict[str, Any]) -> None:
    by_user = export("audit_log", actor="bob").jsonl_rows()
    by_label = export("audit_log", actor="integration 'AM' (Prometheus Alertmanager)")

    assert [row["id"] for row in by_user] == [entries["team_b"].pk, entries["last"].pk]
    assert [row["id"] for row in by_label.jsonl_rows()] == [entries["integration"].pk]


def test_filters_combine(entries: dict[str, Any], two_teams: TwoTeams) -> None:
    rows = export(
        "audit_log", team=two_teams.a.service.team.name, model="incidents.service", actor="alice"
    ).jsonl_rows()

    assert [row["id"] for row in rows] == [entries["at_start"].pk]


def test_spreadsheet_formulas_are_defused_in_csv_but_kept_in_jsonl(setup: Setup) -> None:
    setup.service.name = '=HYPERLINK("http://evil.example")'
    setup.service.save()
    entry = log_entry(setup.service, Q_START + timedelta(days=1))

    csv_row = export("audit_log", "csv").csv_rows()[0]
    jsonl_row = export("audit_log").jsonl_rows()[0]

    assert csv_row["id"] == str(entry.pk)
    assert csv_row["object_repr"] == '\'=HYPERLINK("http://evil.example")'
    assert jsonl_row["object_repr"] == '=HYPERLINK("http://evil.example")'


def test_text_with_line_breaks_and_quotes_round_trips_through_csv(setup: Setup) -> None:
    log_entry(setup.service, Q_START, changes_text='line one\nline "two", and more')

    row = export("audit_log", "csv").csv_rows()[0]

    assert row["changes_text"] == 'line one\nline "two", and more'


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "incidents.nosuchmodel"}, "model: unknown model"),
        ({"team": "No Such Team"}, "team: there is no team"),
        ({"start": "2025-02-30"}, "start: '2025-02-30' is not a date"),
        ({"end": "2024-12-31"}, "end: the period's end must be after its start"),
    ],
)
def test_bad_parameters_are_refused_with_a_readable_message(
    setup: Setup, params: dict[str, str], message: str
) -> None:
    with pytest.raises(ExportParameterError, match=message):
        export("audit_log", **params)


def test_the_model_filter_is_for_the_audit_log_only(setup: Setup) -> None:
    with pytest.raises(ExportParameterError, match="only the audit_log export"):
        export("incidents", model="incidents.incident")
