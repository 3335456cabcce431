"""Exports for auditors: the audit log, incident records and response times for a period, as
CSV or JSON Lines, streamed with constant memory, each with a manifest that lets an auditor
check the file offline.

The flow, shared by the admin, the API and `manage.py export_audit_log`:

1. `export_request_from_params` / `build_export_request` validate what was asked for
   (`ExportParameterError` carries a message fit to show the person who asked).
2. `export_begin` writes the manifest record (`AuditExport`) and logs the export itself in the
   audit log ("audit_exported"), before a single row is read: an export that is interrupted
   was still an access to the data.
3. `export_stream` yields the file in ~64 KB chunks, hashing and counting as it goes; when the
   last chunk is out, `export_finish` seals the pending audit entries and stores the row count,
   the SHA-256 and the chain head in the manifest record.
4. `manifest_document` is the manifest as JSON; `verify_export` checks a file against it
   offline (used by `verify_audit_log --export FILE --manifest FILE`).
"""

import csv
import getpass
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from incidents.audit.export_encoding import RowCounter, encoded_chunks
from incidents.audit.export_rows import ROW_SOURCES, ExportScope
from incidents.audit.models import AuditEntry, AuditExport
from schedules.models import Team

logger = logging.getLogger(__name__)

EXPORT_PERMISSION = "incidents.export_auditentry"
EXPORTED_EVENT = "audit_exported"
MANIFEST_VERSION = 1
Kind = AuditExport.Kind
Format = AuditExport.Format


def can_export(user: User | AnonymousUser) -> bool:
    """Auditors (granted the permission, usually through a group) and superusers."""
    return bool(user.is_active and user.has_perm(EXPORT_PERMISSION))


class ExportParameterError(ValueError):
    """A request for an export that cannot be made; the message says why, for a person."""


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    format: str
    start: datetime
    end: datetime
    team: Team | None = None
    model: ContentType | None = None
    actor: str = ""

    def filters(self) -> dict[str, Any]:
        """The filters as the manifest records them (only those given)."""
        filters: dict[str, Any] = {}
        if self.team is not None:
            filters["team_id"] = self.team.pk
            filters["team"] = self.team.name
        if self.model is not None:
            filters["model"] = f"{self.model.app_label}.{self.model.model}"
        if self.actor:
            filters["actor"] = self.actor
        return filters


# --- Parameters --------------------------------------------------------------------------------


def parse_instant(value: str, name: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time (UTC when it has no offset)."""
    text = (value or "").strip()
    try:
        parsed_datetime = parse_datetime(text)
        parsed_date = None if parsed_datetime else parse_date(text)
    except ValueError:
        parsed_datetime = parsed_date = None
    if parsed_datetime is not None:
        if timezone.is_naive(parsed_datetime):
            return parsed_datetime.replace(tzinfo=UTC)
        return parsed_datetime
    if parsed_date is not None:
        return datetime.combine(parsed_date, time.min, tzinfo=UTC)
    raise ExportParameterError(
        f"{name}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time."
    )


def find_team(value: str) -> Team:
    """A team by id or by name (case-insensitive)."""
    text = value.strip()
    team = (
        Team.objects.filter(pk=int(text)).first()
        if text.isdigit()
        else Team.objects.filter(name__iexact=text).first()
    )
    if team is None:
        raise ExportParameterError(f"team: there is no team named or numbered {value!r}.")
    return team


def find_model(value: str) -> ContentType:
    """A model as "app_label.model", e.g. "incidents.incident"."""
    app_label, _, model = value.strip().lower().partition(".")
    try:
        return ContentType.objects.get_by_natural_key(app_label, model)
    except ContentType.DoesNotExist:
        raise ExportParameterError(
            f"model: unknown model {value!r}; expected app_label.model, e.g. incidents.incident."
        ) from None


def build_export_request(
    *,
    kind: str,
    export_format: str,
    start: datetime,
    end: datetime,
    team: Team | None = None,
    model: ContentType | None = None,
    actor: str = "",
) -> ExportRequest:
    """Check that the combination makes sense; raises ExportParameterError."""
    if kind not in Kind.values:
        raise ExportParameterError(f"kind: {kind!r} is not one of {', '.join(Kind.values)}.")
    if export_format not in Format.values:
        raise ExportParameterError(
            f"format: {export_format!r} is not one of {', '.join(Format.values)}."
        )
    if end <= start:
        raise ExportParameterError("end: the period's end must be after its start.")
    if model is not None and kind != Kind.AUDIT_LOG:
        raise ExportParameterError("model: only the audit_log export can be filtered by model.")
    if actor and kind == Kind.RESPONSE_TIMES:
        raise ExportParameterError("actor: the response_times export cannot be filtered by actor.")
    return ExportRequest(kind, export_format, start, end, team, model, actor.strip())


def export_request_from_params(params: Mapping[str, Any]) -> ExportRequest:
    """An ExportRequest from strings (query parameters, command options)."""
    for required in ("kind", "format", "start", "end"):
        if not params.get(required):
            raise ExportParameterError(f"{required}: this parameter is required.")
    team, model = params.get("team"), params.get("model")
    return build_export_request(
        kind=str(params["kind"]),
        export_format=str(params["format"]),
        start=parse_instant(str(params["start"]), "start"),
        end=parse_instant(str(params["end"]), "end"),
        team=find_team(str(team)) if team else None,
        model=find_model(str(model)) if model else None,
        actor=str(params.get("actor") or ""),
    )


# --- Making an export --------------------------------------------------------------------------


def command_line_label() -> str:
    """Who ran a management command without naming a user: the operating-system account."""
    try:
        return f"command line (os user {getpass.getuser()})"
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return "command line"


def export_begin(
    request: ExportRequest,
    *,
    requested_by: User | None,
    actor_label: str = "",
) -> AuditExport:
    """Write the manifest record and log the export as an "audit_exported" audit entry.

    `requested_by` is the person (None for a command run without --user, in which case
    `actor_label` says who, e.g. the OS account).
    """
    export = AuditExport.objects.create(
        kind=request.kind,
        format=request.format,
        period_start=request.start,
        period_end=request.end,
        filters=request.filters(),
        requested_by=requested_by,
    )
    label = requested_by.get_username() if requested_by is not None else actor_label
    _record_exported(export, requested_by, label or "system")
    return export


def _record_exported(export: AuditExport, user: User | None, label: str) -> None:
    message = (
        f"{label} exported {export.get_kind_display()} ({export.format}) "
        f"for {export.period_start.isoformat()} .. {export.period_end.isoformat()}"
    )
    data = {
        "export_id": export.pk,
        "kind": export.kind,
        "format": export.format,
        "period_start": export.period_start.isoformat(),
        "period_end": export.period_end.isoformat(),
        "filters": export.filters,
        "requested_by": label,
    }
    try:
        from incidents.audit.actors import record_event
    except ModuleNotFoundError as exc:
        if exc.name != "incidents.audit.actors":
            raise
        AuditEntry.objects.log_create(
            export,
            force_log=True,
            action=AuditEntry.Action.ACCESS,
            actor=user,
            actor_label=label,
            object_repr=message,
            additional_data={**data, "event": EXPORTED_EVENT},
        )
        return
    record_event(EXPORTED_EVENT, export, message=message, data=data, actor=user, actor_label=label)


def export_scope(export: AuditExport) -> ExportScope:
    """The rows an export record describes: the stream is derived from the manifest record,
    so the manifest cannot describe anything but what was exported."""
    filters = export.filters or {}
    model = filters.get("model")
    return ExportScope(
        start=export.period_start,
        end=export.period_end,
        team_id=filters.get("team_id"),
        content_type_id=find_model(model).pk if model else None,
        actor=filters.get("actor") or None,
    )


def export_stream(export: AuditExport) -> Iterator[bytes]:
    """The export's file, in ~64 KB chunks; the manifest is completed after the last one.

    Nothing is accumulated: rows come from a server-side cursor in batches of 2,000, are
    encoded into a buffer that is handed out whenever it passes 64 KB, and only the SHA-256
    state and a counter survive from one chunk to the next. If the consumer stops early (a
    closed download), the manifest stays unfinished, which is what it should say.
    """
    source = ROW_SOURCES[Kind(export.kind)](export_scope(export))
    counter = RowCounter()
    digest = hashlib.sha256()
    for chunk in encoded_chunks(export.format, source.columns, counter.count(source.rows)):
        digest.update(chunk)
        yield chunk
    export_finish(export, row_count=counter.rows, sha256=digest.hexdigest())


def export_finish(export: AuditExport, *, row_count: int, sha256: str) -> AuditExport:
    """Fill in the manifest: rows, SHA-256, and the audit chain head after sealing everything
    logged so far (this export's own "audit_exported" entry included)."""
    export.chain_head_seq, export.chain_head_digest = _seal_and_read_chain_head()
    export.row_count = row_count
    export.sha256 = sha256
    export.finished_at = timezone.now()
    export.save(
        update_fields=["row_count", "sha256", "finished_at", "chain_head_seq", "chain_head_digest"]
    )
    return export


def _seal_and_read_chain_head() -> tuple[int | None, str]:
    try:
        from incidents.audit import chain
    except ModuleNotFoundError as exc:
        if exc.name != "incidents.audit.chain":
            raise
        # The hash chain is not installed: the manifest says so with an empty head.
        logger.warning("Audit chain unavailable; export manifest carries no chain head.")
        return None, ""
    chain.seal_pending()
    head = chain.chain_head()
    return (head.seq, head.digest) if head is not None else (None, "")


def export_filename(export: AuditExport) -> str:
    return (
        f"watchstander-{export.kind.replace('_', '-')}-{export.period_start:%Y%m%d}"
        f"-{export.period_end:%Y%m%d}-{export.pk}.{export.format}"
    )


def export_content_type(export: AuditExport) -> str:
    if export.format == Format.CSV:
        return "text/csv; charset=utf-8"
    return "application/jsonl; charset=utf-8"


# --- Manifest and offline verification ---------------------------------------------------------


def manifest_document(export: AuditExport) -> dict[str, Any]:
    """The manifest as a JSON-ready dict. Unfinished exports have no row count or SHA-256."""
    head = None
    if export.chain_head_seq is not None:
        head = {"seq": export.chain_head_seq, "digest": export.chain_head_digest}
    requested_by = export.requested_by
    return {
        "manifest_version": MANIFEST_VERSION,
        "export_id": export.pk,
        "kind": export.kind,
        "format": export.format,
        "period": {"start": export.period_start.isoformat(), "end": export.period_end.isoformat()},
        "filters": export.filters or {},
        "row_count": export.row_count,
        "sha256": export.sha256 or None,
        "chain_head": head,
        "requested_at": export.created_at.isoformat(),
        "generated_at": export.finished_at.isoformat() if export.finished_at else None,
        "generated_by": requested_by.get_username() if requested_by is not None else None,
    }


def manifest_json(export: AuditExport) -> str:
    return json.dumps(manifest_document(export), indent=2) + "\n"


@dataclass(frozen=True)
class ExportVerification:
    ok: bool
    message: str


def verify_export(export_path: str | Path, manifest_path: str | Path) -> ExportVerification:
    """Check an export file against its manifest with no database: the SHA-256 of the bytes,
    and the number of rows (CSV: records after the header, parsed, since cells may hold line
    breaks; JSON Lines: non-empty lines)."""
    try:
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
        expected_sha, expected_rows = manifest["sha256"], manifest["row_count"]
        export_format = manifest["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return ExportVerification(False, f"Cannot read the manifest {manifest_path}: {exc!r}")
    if not expected_sha or expected_rows is None:
        return ExportVerification(False, "The manifest is of an export that never finished.")
    try:
        actual_sha = file_sha256(export_path)
        actual_rows = count_rows(export_path, export_format)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return ExportVerification(False, f"Cannot read the export {export_path}: {exc!r}")
    problems = []
    if actual_sha != expected_sha:
        problems.append(f"SHA-256 is {actual_sha}, the manifest says {expected_sha}")
    if actual_rows != expected_rows:
        problems.append(f"the file has {actual_rows} rows, the manifest says {expected_rows}")
    if problems:
        return ExportVerification(
            False, "Export does NOT match its manifest: " + "; ".join(problems)
        )
    return ExportVerification(
        True, f"Export matches its manifest: {actual_rows} rows, SHA-256 {actual_sha}."
    )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: str | Path, export_format: str) -> int:
    if export_format == Format.CSV:
        # A cell may legitimately be large (an entry's serialised object); the csv module's
        # default 128 KB field limit would call such a file unreadable.
        csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
        with open(path, encoding="utf-8", newline="") as file:
            return max(sum(1 for _ in csv.reader(file)) - 1, 0)
    with open(path, "rb") as file:
        return sum(1 for line in file if line.strip())
