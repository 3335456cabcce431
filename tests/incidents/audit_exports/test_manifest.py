"""Manifests: what they record, that the SHA-256 is the file's, offline verification, the
command-line export, the chunked encoding, and the export's own audit entry."""

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from incidents.audit.export_encoding import Column, encoded_chunks
from incidents.audit.exports import EXPORTED_EVENT, manifest_document, verify_export
from incidents.audit.models import AuditEntry, AuditExport, AuditSeal
from tests.conftest import Setup
from tests.incidents.audit_exports.conftest import Q_END, Q_START, export, log_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_entries(setup: Setup) -> list[AuditEntry]:
    return [log_entry(setup.service, Q_START + timedelta(days=day)) for day in range(3)]


def test_manifest_records_the_export(three_entries: list[AuditEntry], setup: Setup) -> None:
    exported = export("audit_log", "csv", user=setup.alice, team=setup.service.team.name)

    manifest = manifest_document(exported.export)

    assert manifest["export_id"] == exported.export.pk
    assert (manifest["kind"], manifest["format"]) == ("audit_log", "csv")
    assert manifest["period"] == {"start": Q_START.isoformat(), "end": Q_END.isoformat()}
    assert manifest["filters"] == {
        "team_id": setup.service.team_id,
        "team": setup.service.team.name,
    }
    assert manifest["row_count"] == 3
    assert manifest["sha256"] == hashlib.sha256(exported.body).hexdigest()
    assert manifest["generated_by"] == "alice"
    assert manifest["generated_at"] is not None


def test_the_chain_head_is_taken_after_sealing_everything_before_the_export(
    three_entries: list[AuditEntry],
) -> None:
    pytest.importorskip("incidents.audit.chain", reason="the audit hash chain is not installed")
    exported = export("audit_log")

    head = manifest_document(exported.export)["chain_head"]
    last_seal = AuditSeal.objects.order_by("-seq").first()
    assert last_seal is not None
    assert head == {"seq": last_seal.seq, "digest": last_seal.digest}
    sealed = set(AuditSeal.objects.values_list("entry_id", flat=True))
    assert {entry.pk for entry in three_entries} <= sealed


def test_the_export_itself_is_in_the_audit_log(
    three_entries: list[AuditEntry], setup: Setup
) -> None:
    exported = export("audit_log", "jsonl", user=setup.alice, actor="alice")

    entry = AuditEntry.objects.get(additional_data__event=EXPORTED_EVENT)
    assert entry.action == AuditEntry.Action.ACCESS
    assert (entry.actor, entry.actor_label) == (setup.alice, "alice")
    assert entry.additional_data["export_id"] == exported.export.pk
    assert entry.additional_data["filters"] == {"actor": "alice"}
    assert entry.object_pk == str(exported.export.pk)


def write_export(tmp_path: Path, exported: Any) -> tuple[Path, Path]:
    data = tmp_path / f"export.{exported.export.format}"
    data.write_bytes(exported.body)
    manifest = tmp_path / "export.manifest.json"
    manifest.write_text(json.dumps(manifest_document(exported.export)))
    return data, manifest


@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_verify_export_accepts_the_file_as_exported(
    three_entries: list[AuditEntry], tmp_path: Path, export_format: str
) -> None:
    data, manifest = write_export(tmp_path, export("audit_log", export_format))

    result = verify_export(data, manifest)

    assert result.ok, result.message
    assert "3 rows" in result.message


@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_verify_export_detects_a_changed_byte(
    three_entries: list[AuditEntry], tmp_path: Path, export_format: str
) -> None:
    data, manifest = write_export(tmp_path, export("audit_log", export_format))
    data.write_bytes(data.read_bytes().replace(b"triggered", b"TRIGGERED", 1))

    result = verify_export(data, manifest)

    assert not result.ok
    assert "SHA-256" in result.message


def test_verify_export_detects_a_removed_row(
    three_entries: list[AuditEntry], tmp_path: Path
) -> None:
    data, manifest = write_export(tmp_path, export("audit_log", "jsonl"))
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:-1]))

    result = verify_export(data, manifest)

    assert not result.ok
    assert "the file has 2 rows, the manifest says 3" in result.message


def test_verify_export_detects_a_manifest_with_the_wrong_row_count(
    three_entries: list[AuditEntry], tmp_path: Path
) -> None:
    data, manifest = write_export(tmp_path, export("audit_log", "csv"))
    document = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**document, "row_count": 4}))

    result = verify_export(data, manifest)

    assert not result.ok
    assert "the file has 3 rows, the manifest says 4" in result.message
    assert "SHA-256" not in result.message


def test_verify_export_refuses_an_unreadable_manifest(tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    data.write_text("id\r\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json")

    result = verify_export(data, manifest)

    assert not result.ok
    assert "Cannot read the manifest" in result.message


def test_an_interrupted_export_has_no_manifest_figures(three_entries: list[AuditEntry]) -> None:
    from incidents.audit.exports import export_begin, export_request_from_params, export_stream

    request = export_request_from_params(
        {"kind": "audit_log", "format": "csv", "start": "2025-01-01", "end": "2025-04-01"}
    )
    made = export_begin(request, requested_by=None, actor_label="test")
    stream = export_stream(made)
    next(stream)
    stream.close()  # the client went away

    made.refresh_from_db()
    assert (made.finished_at, made.row_count, made.sha256) == (None, None, "")


# --- The command -------------------------------------------------------------------------------


def test_the_command_writes_the_file_and_its_manifest(
    three_entries: list[AuditEntry], tmp_path: Path, capsys: Any
) -> None:
    output = tmp_path / "q1.csv"

    call_command(
        "export_audit_log",
        "--kind=audit_log",
        "--format=csv",
        "--start=2025-01-01",
        "--end=2025-04-01",
        f"--output={output}",
    )

    manifest_path = tmp_path / "q1.csv.manifest.json"
    assert capsys.readouterr().out.strip() == str(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["row_count"] == 3
    assert manifest["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert verify_export(output, manifest_path).ok
    entry = AuditEntry.objects.get(additional_data__event=EXPORTED_EVENT)
    assert entry.actor_label.startswith("command line")


def test_the_command_as_a_user_needs_the_permission(
    three_entries: list[AuditEntry], tmp_path: Path, setup: Setup, auditor: Any
) -> None:
    args = ["--kind=incidents", "--format=jsonl", "--start=2025-01-01", "--end=2025-04-01"]

    with pytest.raises(CommandError, match="may not export"):
        call_command("export_audit_log", *args, "--user=alice", f"--output={tmp_path / 'x'}")
    call_command("export_audit_log", *args, "--user=auditor", f"--output={tmp_path / 'y'}")

    assert AuditExport.objects.get().requested_by == auditor


def test_the_command_refuses_bad_dates(tmp_path: Path, db: None) -> None:
    with pytest.raises(CommandError, match="end: the period's end must be after its start"):
        call_command(
            "export_audit_log",
            "--kind=audit_log",
            "--format=csv",
            "--start=2025-04-01",
            "--end=2025-01-01",
            f"--output={tmp_path / 'x.csv'}",
        )
    assert not AuditExport.objects.exists()


# --- Chunking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_rows_are_encoded_in_64kb_chunks_not_one_per_row(export_format: str) -> None:
    columns = [Column("id"), Column("text", "text"), Column("data", "json")]
    rows = ((n, f"row {n} " + "x" * 100, json.dumps({"n": n})) for n in range(10_000))

    chunks = list(encoded_chunks(export_format, columns, rows))

    assert 15 < len(chunks) < 40  # ~1.2 MB in ~64 KB pieces
    assert all(64 * 1024 <= len(chunk) < 65 * 1024 for chunk in chunks[:-1])
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 10_000 + (export_format == "csv")
    if export_format == "jsonl":
        assert json.loads(lines[-1]) == {
            "id": 9999,
            "text": "row 9999 " + "x" * 100,
            "data": {"n": 9999},
        }
