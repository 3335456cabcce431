"""Retention: delete old audit entries without breaking the chain.

Entries are removed from the start of the chain up to a seal boundary (the last link whose
entry, and every entry before it in chain order, is older than the cutoff), together with
their seals. A signed `AuditCheckpoint` records the last removed link, so `verify_chain`
resumes from it; the pruning itself becomes an audit entry.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from incidents.audit.actors import record_event
from incidents.audit.chain import (
    latest_checkpoint,
    lock_chain,
    seal_pending,
    sign_checkpoint,
    verify_chain,
)
from incidents.audit.models import AuditCheckpoint, AuditEntry, AuditSeal

PRUNED_EVENT = "audit_pruned"


class PruneRefused(Exception):
    """Pruning would destroy evidence: the chain does not verify."""


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    entries: int  # pruned, or that would be pruned in a dry run
    checkpoint: AuditCheckpoint | None  # None in a dry run or when nothing was old enough
    dry_run: bool


def prune_audit_log(*, days: int, dry_run: bool = False) -> PruneReport:
    """Seal everything, check the chain, then delete entries older than `days` up to a seal
    boundary and write a signed checkpoint. Refuses (PruneRefused) when the chain is broken:
    pruning must never launder a tampered history into a signed checkpoint."""
    if days < 1:
        raise ValueError("the retention period must be at least one day")
    cutoff = timezone.now() - timedelta(days=days)
    seal_pending(full=True)
    report = verify_chain()
    if report.broken is not None:
        broken = report.broken
        raise PruneRefused(
            f"Audit chain BROKEN at seq {broken.seq} (entry {broken.entry_id}): {broken.reason};"
            " refusing to prune."
        )
    with transaction.atomic():
        lock_chain()
        start = _chain_start()
        boundary = _boundary(start, cutoff)
        if boundary is None:
            return PruneReport(cutoff, 0, None, dry_run)
        if dry_run:
            return PruneReport(cutoff, _seals_between(start, boundary).count(), None, dry_run)
        digest = _digest_at(boundary)  # read before its seal goes
        with _maintenance():
            pruned = _delete_through(start, boundary)
        checkpoint = AuditCheckpoint.objects.create(
            seq=boundary,
            digest=digest,
            pruned_before=cutoff,
            entries_pruned=pruned,
            signature=sign_checkpoint(boundary, digest, cutoff),
        )
        _record_pruning(checkpoint, days)
    return PruneReport(cutoff, pruned, checkpoint, dry_run)


def _chain_start() -> int:
    checkpoint = latest_checkpoint()
    return checkpoint.seq if checkpoint else 0


def _seals_between(start: int, boundary: int) -> QuerySet[AuditSeal]:
    return AuditSeal.objects.filter(seq__gt=start, seq__lte=boundary)


def _boundary(start: int, cutoff: datetime) -> int | None:
    """The last seq that may go: just before the first link whose entry is newer than the
    cutoff (chain order is sealing order, which is not strictly time order)."""
    newer = AuditEntry.objects.filter(pk=OuterRef("entry_id"), timestamp__gte=cutoff)
    seals = AuditSeal.objects.filter(seq__gt=start).order_by("seq")
    first_kept = seals.filter(Exists(newer)).values_list("seq", flat=True).first()
    if first_kept is not None:
        boundary = first_kept - 1
    else:
        boundary = seals.reverse().values_list("seq", flat=True).first() or start
    return boundary if boundary > start else None


@contextlib.contextmanager
def _maintenance() -> Iterator[None]:
    """Let this transaction past the append-only triggers (PostgreSQL), and only this part."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL watchstander.audit_maintenance = 'on'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL watchstander.audit_maintenance = 'off'")


def _delete_through(start: int, boundary: int) -> int:
    # Plain SQL: QuerySet.delete() would load every entry into memory whenever any
    # pre/post_delete receiver listens to all models.
    entries, seals = AuditEntry._meta.db_table, AuditSeal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {entries} WHERE id IN"  # noqa: S608 - table names from our models
            f" (SELECT entry_id FROM {seals} WHERE seq > %s AND seq <= %s)",
            [start, boundary],
        )
        pruned = cursor.rowcount
        cursor.execute(f"DELETE FROM {seals} WHERE seq <= %s", [boundary])  # noqa: S608
    return pruned


def _digest_at(seq: int) -> str:
    return str(AuditSeal.objects.values_list("digest", flat=True).get(seq=seq))


def _record_pruning(checkpoint: AuditCheckpoint, days: int) -> None:
    record_event(
        PRUNED_EVENT,
        checkpoint,
        message=(
            f"Audit log pruned: {checkpoint.entries_pruned} entries before"
            f" {checkpoint.pruned_before:%Y-%m-%d %H:%M:%S} UTC; the chain now starts after"
            f" seq {checkpoint.seq}"
        ),
        data={
            "entries_pruned": checkpoint.entries_pruned,
            "pruned_before": checkpoint.pruned_before.isoformat(),
            "retention_days": days,
            "checkpoint_seq": checkpoint.seq,
            "checkpoint_digest": checkpoint.digest,
        },
    )
