"""What each export kind contains: its columns and a stream of plain tuples.

Every source reads with `values_list(...).iterator(chunk_size=2000)`: a server-side cursor on
PostgreSQL, so memory stays flat whatever the period holds, and no model instances (which cost
~8x more per row than tuples).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat

from incidents.audit.export_encoding import Column
from incidents.audit.models import AuditEntry, AuditExport
from incidents.audit.reports import RESPONSE_TIME_COLUMNS, response_times
from incidents.models import Incident, IncidentEvent, Notification
from incidents.urgency import urgency_of

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class ExportScope:
    """The rows an export covers: a period [start, end) and optional filters."""

    start: Any
    end: Any
    team_id: int | None = None
    content_type_id: int | None = None  # audit log only
    actor: str | None = None


@dataclass(frozen=True)
class RowSource:
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    # itertools.batched arrives in Python 3.12; we support 3.11.
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class IsoTimestamp(Func):
    """A timestamp as the export writes it: ISO 8601, UTC, microseconds.

    On PostgreSQL the database formats it: psycopg's timestamptz loader plus isoformat() took
    6 of the ~25 seconds of a million-row export, to_char() takes under one. Elsewhere the
    value stays a datetime and the encoder formats it the same way."""

    template = "%(expressions)s"
    output_field = DateTimeField()

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, Any]:
        template = (
            "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)


# --- The audit log ------------------------------------------------------------------------------

AUDIT_LOG_COLUMNS = (
    Column("id"),
    Column("timestamp", "datetime"),
    Column("action"),
    Column("content_type"),
    Column("object_pk", "text"),
    Column("object_id"),
    Column("object_repr", "text"),
    Column("actor_id"),
    Column("actor", "text"),
    Column("actor_label", "text"),
    Column("actor_email", "text"),
    Column("remote_addr"),
    Column("remote_port"),
    Column("cid", "text"),
    Column("team_id"),
    Column("changes_text", "text"),
    Column("changes", "json"),
    Column("additional_data", "json"),
    Column("serialized_data", "json"),
)


def audit_entries_in(scope: ExportScope) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.filter(timestamp__gte=scope.start, timestamp__lt=scope.end)
    if scope.team_id is not None:
        entries = entries.filter(team_id=scope.team_id)
    if scope.content_type_id is not None:
        entries = entries.filter(content_type_id=scope.content_type_id)
    if scope.actor:
        entries = entries.filter(Q(actor__username=scope.actor) | Q(actor_label=scope.actor))
    return entries


def audit_log_rows(scope: ExportScope) -> RowSource:
    """Every column of every entry in the period, in id (chain) order.

    The database does the per-row work it does best: the action's name, "app.model", and the
    JSON columns as text (so they are never parsed into Python and dumped back).
    """
    actions = [
        When(action=value, then=Value(str(label))) for value, label in AuditEntry.Action.choices
    ]
    rows = (
        audit_entries_in(scope)
        .order_by("pk")
        .annotate(
            action_name=Case(
                *actions, default=Cast("action", CharField()), output_field=CharField()
            ),
            content_type_name=Concat(
                "content_type__app_label",
                Value("."),
                "content_type__model",
                output_field=CharField(),
            ),
            timestamp_iso=IsoTimestamp("timestamp"),
            changes_json=Cast("changes", TextField()),
            additional_data_json=Cast("additional_data", TextField()),
            serialized_data_json=Cast("serialized_data", TextField()),
        )
        .values_list(
            "pk",
            "timestamp_iso",
            "action_name",
            "content_type_name",
            "object_pk",
            "object_id",
            "object_repr",
            "actor_id",
            "actor__username",
            "actor_label",
            "actor_email",
            "remote_addr",
            "remote_port",
            "cid",
            "team_id",
            "changes_text",
            "changes_json",
            "additional_data_json",
            "serialized_data_json",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    return RowSource(AUDIT_LOG_COLUMNS, rows)


# --- Incident records ---------------------------------------------------------------------------

INCIDENT_COLUMNS = (
    Column("id"),
    Column("title", "text"),
    Column("service", "text"),
    Column("team", "text"),
    Column("severity"),
    Column("urgency"),
    Column("status"),
    Column("created_at", "datetime"),
    Column("acknowledged_by", "text"),
    Column("acknowledged_at", "datetime"),
    Column("resolved_by", "text"),
    Column("resolved_at", "datetime"),
    Column("time_to_acknowledge_s"),
    Column("time_to_resolve_s"),
    Column("levels_reached"),
    Column("people_notified", "text"),
    Column("notifications_failed", "text"),
    Column("jira_key"),
    Column("resolution_note", "text"),
)


def levels_reached(snapshot: dict[str, Any], level_index: int | None, loop: int) -> str:
    """The positions of the levels paged, from the frozen policy: every level once the policy
    looped, else the levels up to the last one paged. "1;2"."""
    levels = snapshot.get("levels", []) if snapshot else []
    if level_index is None or not levels:
        return ""
    reached = levels if loop > 0 else levels[: level_index + 1]
    return ";".join(str(level["position"]) for level in reached)


def _seconds_between(start: Any, end: Any) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


@dataclass
class IncidentExtras:
    """What an incident row needs from other tables, loaded for a whole batch at once."""

    notified: dict[int, list[str]]
    failed: dict[int, list[str]]
    acknowledged_by: dict[int, str]
    resolved_by: dict[int, str]

    @classmethod
    def load(cls, incident_ids: list[int]) -> "IncidentExtras":
        notified: dict[int, list[str]] = defaultdict(list)
        failed: dict[int, list[str]] = defaultdict(list)
        pages = (
            Notification.objects.filter(
                incident_id__in=incident_ids,
                status__in=[Notification.Status.SENT, Notification.Status.FAILED],
            )
            .order_by("incident_id", "user__username", "channel", "status")
            .values_list("incident_id", "user__username", "channel", "status")
            .distinct()
        )
        for incident_id, username, channel, status in pages:
            target = notified if status == Notification.Status.SENT else failed
            target[incident_id].append(f"{username}:{channel}")
        acknowledged_by, resolved_by = cls._transition_actors(incident_ids)
        return cls(notified, failed, acknowledged_by, resolved_by)

    @staticmethod
    def _transition_actors(incident_ids: list[int]) -> tuple[dict[int, str], dict[int, str]]:
        # The timeline names who acted in words, integrations included; the incident's FK only
        # knows users. A reassignment clears an acknowledgement and the new assignee's replaces
        # it, so the latest event of each kind is the one the incident's columns describe.
        acknowledged_by: dict[int, str] = {}
        resolved_by: dict[int, str] = {}
        events = IncidentEvent.objects.filter(
            incident_id__in=incident_ids,
            kind__in=[IncidentEvent.Kind.ACKNOWLEDGED, IncidentEvent.Kind.RESOLVED],
        ).values_list("incident_id", "kind", "actor_label")
        for incident_id, kind, label in events.order_by("at", "pk"):
            target = acknowledged_by if kind == IncidentEvent.Kind.ACKNOWLEDGED else resolved_by
            target[incident_id] = label
        return acknowledged_by, resolved_by


def incidents_in(scope: ExportScope) -> QuerySet[Incident]:
    incidents = Incident.objects.filter(created_at__gte=scope.start, created_at__lt=scope.end)
    if scope.team_id is not None:
        incidents = incidents.filter(service__team_id=scope.team_id)
    if scope.actor:
        # "Acted on by": acknowledged or resolved by this person (or integration, by label).
        # A subquery rather than a join, so an incident never comes out twice.
        transitions = IncidentEvent.objects.filter(
            actor_label=scope.actor,
            kind__in=[IncidentEvent.Kind.ACKNOWLEDGED, IncidentEvent.Kind.RESOLVED],
        ).values("incident_id")
        incidents = incidents.filter(
            Q(acknowledged_by__username=scope.actor)
            | Q(resolved_by__username=scope.actor)
            | Q(pk__in=transitions)
        )
    return incidents


def incident_rows(scope: ExportScope) -> RowSource:
    """One row per incident created in the period, in id order.

    Notifications and transition actors are fetched per batch of 2,000 incidents (two
    queries a batch), never per incident. The Jira key is empty until Jira ticketing exists.
    """
    incidents = (
        incidents_in(scope)
        .order_by("pk")
        .values_list(
            "pk",
            "title",
            "service__name",
            "service__team__name",
            "severity",
            "status",
            "created_at",
            "acknowledged_by__username",
            "acknowledged_at",
            "resolved_by__username",
            "resolved_at",
            "escalation_snapshot",
            "level_index",
            "loop",
            "resolution_note",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    return RowSource(INCIDENT_COLUMNS, _incident_records(incidents))


def _incident_records(incidents: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for batch in _batched(incidents, CHUNK_ROWS):
        extras = IncidentExtras.load([row[0] for row in batch])
        for row in batch:
            yield _incident_record(row, extras)


def _incident_record(row: tuple[Any, ...], extras: IncidentExtras) -> tuple[Any, ...]:
    (pk, title, service, team, severity, status, created) = row[:7]
    (ack_user, ack_at, res_user, res_at, snapshot, level_index, loop, resolution_note) = row[7:]
    return (
        pk,
        title,
        service,
        team,
        severity,
        urgency_of(severity),
        status,
        created,
        extras.acknowledged_by.get(pk, ack_user or "") if ack_at else "",
        ack_at,
        extras.resolved_by.get(pk, res_user or "") if res_at else "",
        res_at,
        _seconds_between(created, ack_at),
        _seconds_between(created, res_at),
        levels_reached(snapshot, level_index, loop),
        ";".join(extras.notified.get(pk, [])),
        ";".join(extras.failed.get(pk, [])),
        "",  # Jira key: no Jira integration yet
        resolution_note,
    )


# --- Response times -----------------------------------------------------------------------------

RESPONSE_TIME_EXPORT_COLUMNS = tuple(Column(name) for name in RESPONSE_TIME_COLUMNS)


def response_time_rows(scope: ExportScope) -> RowSource:
    rows = (
        times.as_row()
        for times in response_times(start=scope.start, end=scope.end, team_id=scope.team_id)
    )
    return RowSource(RESPONSE_TIME_EXPORT_COLUMNS, rows)


ROW_SOURCES = {
    AuditExport.Kind.AUDIT_LOG: audit_log_rows,
    AuditExport.Kind.INCIDENTS: incident_rows,
    AuditExport.Kind.RESPONSE_TIMES: response_time_rows,
}
