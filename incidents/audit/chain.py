"""Tamper evidence for the audit log: a hash chain over the entries.

Entries are written by django-auditlog as usual, with no lock on that hot path. A sealer
(`seal_pending`, run by the reconciler every ~30 s and by `seal_audit_log`) appends one
`AuditSeal` per entry afterwards, in its own order:

    digest[seq] = sha256(digest[seq - 1] + canonical_entry(entry))

The chain starts from 64 zeros, or from the newest `AuditCheckpoint` once old entries have
been pruned. `verify_chain` recomputes every link from the entries as they are now and names
the first one that no longer matches.

A chain without a secret proves order and integrity relative to a head someone kept: each
export's manifest records the head at export time, and pruning checkpoints are signed with
SECRET_KEY, so rewriting history shows up as a head or a checkpoint that no longer verifies.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Exists, F, Func, Max, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from incidents.audit.models import AuditCheckpoint, AuditEntry, AuditSeal

GENESIS_DIGEST = "0" * 64

# The entry columns covered by a digest, in the order `_canonical_rows` fetches them. The content
# type is covered by name (app_label.model), not by its numeric id, so a dump restored into
# another database still verifies.
ENTRY_COLUMNS = (
    "id",
    "content_type_id",
    "object_pk",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "actor_id",
    "actor_email",
    "actor_label",
    "team_id",
    "remote_addr",
    "remote_port",
    "cid",
    "timestamp",
    "additional_data",
    "serialized_data",
)

# A constant key for pg_advisory_xact_lock: every sealer and the pruner take it, so the chain
# head only ever moves under one writer. Entry inserts never take it.
_CHAIN_LOCK_KEY = 0x5753_4155_4449_54  # "WSAUDIT"


@dataclass(frozen=True)
class ChainHead:
    seq: int
    digest: str


@dataclass(frozen=True)
class ChainBreak:
    """The first link that does not verify. `entry_id` is None when no entry can be named
    (a missing seal, a bad checkpoint)."""

    seq: int
    entry_id: int | None
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    head: ChainHead | None
    broken: ChainBreak | None
    unsealed: int  # entries older than the settle time that have no seal yet
    checkpoint: ChainHead | None

    @property
    def ok(self) -> bool:
        return self.broken is None


# --- Canonical content ----------------------------------------------------------------------


def canonical_entry(entry: AuditEntry) -> bytes:
    """The bytes a seal covers: deterministic JSON (sorted keys, compact separators, ASCII) of
    the entry as stored, with the content type by name and the timestamp in ISO 8601 UTC.

    Defined over stored values (an entry read back from the database), so JSON columns hold
    plain JSON types."""
    row = tuple(getattr(entry, column) for column in ENTRY_COLUMNS)
    return _canonical_row(row, _content_type_labels(), from_text=False)


def _content_type_labels() -> dict[int, str]:
    return {
        pk: f"{app_label}.{model}"
        for pk, app_label, model in ContentType.objects.values_list("pk", "app_label", "model")
    }


def _canonical_row(row: Sequence[Any], content_types: dict[int, str], *, from_text: bool) -> bytes:
    """Canonical bytes from a row in ENTRY_COLUMNS order.

    `from_text`: the row comes from `_canonical_rows` on PostgreSQL, where the database already
    rendered the timestamp and the address as text and the JSON columns are unparsed text.
    Otherwise the values are Django's (datetime, parsed JSON)."""
    values = dict(zip(ENTRY_COLUMNS, row, strict=True))
    content_type_id = values.pop("content_type_id")
    values["content_type"] = content_types.get(content_type_id, f"#{content_type_id}")
    if from_text:
        for column in _JSON_COLUMNS:
            if values[column] is not None:
                values[column] = _loads(values[column])
    else:
        values["timestamp"] = _iso_utc(values["timestamp"])
        if values["remote_addr"] is not None:
            values["remote_addr"] = str(values["remote_addr"])
    return _dumps(values).encode()


_JSON_COLUMNS = ("changes", "additional_data", "serialized_data")
_loads = json.JSONDecoder().decode
# ensure_ascii keeps the bytes independent of how each database returns non-ASCII text.
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def link_digest(previous_digest: str, canonical: bytes) -> str:
    return hashlib.sha256(previous_digest.encode() + canonical).hexdigest()


# On PostgreSQL the database renders the timestamp, the address and the JSON columns as text:
# Django's per-row converters (datetime and JSON parsing) would otherwise take more time than
# hashing. tests/incidents/audit/test_chain.py checks both paths give the same bytes.
_PG_TEXT_COLUMNS = {
    "remote_addr": Func(F("remote_addr"), function="host", output_field=TextField()),
    "timestamp": Func(
        F("timestamp"),
        template=(
            "to_char(%(expressions)s AT TIME ZONE 'UTC',"
            """ 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        ),
        output_field=TextField(),
    ),
    "changes": Cast("changes", TextField()),
    "additional_data": Cast("additional_data", TextField()),
    "serialized_data": Cast("serialized_data", TextField()),
}


def _canonical_rows(
    entries: QuerySet[AuditEntry], content_types: dict[int, str]
) -> Iterator[tuple[int, bytes]]:
    """(entry id, canonical bytes) for each entry of the queryset, in its order."""
    if connection.vendor != "postgresql":
        for row in entries.values_list(*ENTRY_COLUMNS):
            yield row[0], _canonical_row(row, content_types, from_text=False)
        return
    text = {f"_text_{name}": expression for name, expression in _PG_TEXT_COLUMNS.items()}
    columns = [f"_text_{c}" if c in _PG_TEXT_COLUMNS else c for c in ENTRY_COLUMNS]
    for row in entries.annotate(**text).values_list(*columns):
        yield row[0], _canonical_row(row, content_types, from_text=True)


# --- Checkpoints ----------------------------------------------------------------------------


def sign_checkpoint(seq: int, digest: str, pruned_before: datetime, key: str | None = None) -> str:
    message = f"{seq}:{digest}:{_iso_utc(pruned_before)}".encode()
    secret = (key if key is not None else settings.SECRET_KEY).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def checkpoint_is_authentic(checkpoint: AuditCheckpoint) -> bool:
    # Also accept SECRET_KEY_FALLBACKS, so rotating the key does not turn history "forged".
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        hmac.compare_digest(
            checkpoint.signature,
            sign_checkpoint(checkpoint.seq, checkpoint.digest, checkpoint.pruned_before, key),
        )
        for key in keys
    )


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-seq", "-pk").first()


# --- Sealing --------------------------------------------------------------------------------


def lock_chain() -> None:
    """Serialise writers of the chain head. Call inside transaction.atomic().

    PostgreSQL: a transaction-scoped advisory lock (entry inserts never wait on it). SQLite:
    the project opens every transaction with BEGIN IMMEDIATE, which already holds the write
    lock. Elsewhere the unique seq and entry_id columns still refuse a duplicate link."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def chain_head() -> ChainHead | None:
    """The newest link: the last seal, or the checkpoint when everything sealed was pruned."""
    last = AuditSeal.objects.order_by("-seq").values_list("seq", "digest").first()
    if last is not None:
        return ChainHead(*last)
    checkpoint = latest_checkpoint()
    return ChainHead(checkpoint.seq, checkpoint.digest) if checkpoint else None


def _unsealed(after_id: int = 0) -> QuerySet[AuditEntry]:
    """Entries with an id above `after_id` that have no seal.

    The bound is repeated inside NOT EXISTS on purpose: PostgreSQL plans this as a merge anti
    join and does not carry the outer range over, so without it every batch would read the
    seal index from the start (quadratic over a large first pass)."""
    seals = AuditSeal.objects.filter(entry_id=OuterRef("pk"), entry_id__gt=after_id)
    return AuditEntry.objects.filter(~Exists(seals), id__gt=after_id)


def seal_pending(batch_size: int = 5000, *, full: bool = False) -> int:
    """Append a seal for every entry older than the settle time that has none yet; returns
    how many were sealed.

    Safe to run from several workers at once: each batch takes the chain lock, re-reads the
    head and re-selects unsealed entries, so no seq is used twice or skipped.

    Entries newer than the newest sealed entry id are found by a cheap primary-key range. An
    entry whose transaction committed after a higher id was already sealed (a straggler) is
    found again by timestamp within AUDIT_SEAL_LOOKBACK_SECONDS; `full=True` searches the
    whole table instead (`seal_audit_log --full`, and before pruning)."""
    now = timezone.now()
    settled_before = now - timedelta(seconds=settings.AUDIT_SEAL_SETTLE_SECONDS)
    sealed_up_to = AuditSeal.objects.aggregate(top=Max("entry_id"))["top"] or 0
    stragglers = Q(id__lte=sealed_up_to)
    if not full:
        lookback = timedelta(seconds=settings.AUDIT_SEAL_LOOKBACK_SECONDS)
        stragglers &= Q(timestamp__gte=now - lookback)
    settled = Q(timestamp__lt=settled_before)
    content_types = _content_type_labels()
    return _seal_from(0, stragglers & settled, batch_size, content_types) + _seal_from(
        sealed_up_to, settled, batch_size, content_types
    )


def _seal_from(lowest_id: int, where: Q, batch_size: int, content_types: dict[int, str]) -> int:
    sealed, after_id = 0, lowest_id
    while True:
        with transaction.atomic():
            lock_chain()
            head = chain_head() or ChainHead(0, GENESIS_DIGEST)
            batch = _unsealed(after_id).filter(where).order_by("id")[:batch_size]
            links = _links(head, _canonical_rows(batch, content_types))
            if links:
                _insert_links(links)
        sealed += len(links)
        if len(links) < batch_size:
            return sealed
        after_id = links[-1][1]


def _links(head: ChainHead, entries: Iterable[tuple[int, bytes]]) -> list[tuple[int, int, str]]:
    """(seq, entry id, digest) for each entry, continuing the chain from `head`."""
    seq, digest = head.seq, head.digest
    links: list[tuple[int, int, str]] = []
    for entry_id, canonical in entries:
        seq += 1
        digest = link_digest(digest, canonical)
        links.append((seq, entry_id, digest))
    return links


def _insert_links(links: list[tuple[int, int, str]]) -> None:
    sealed_at = timezone.now()
    if connection.vendor == "postgresql":
        # COPY is ~10x faster than a multi-row INSERT built by bulk_create, which matters when
        # a first pass seals millions of existing entries.
        table = AuditSeal._meta.db_table
        with connection.cursor() as cursor:
            copy_sql = f"COPY {table} (seq, entry_id, digest, sealed_at) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for seq, entry_id, digest in links:
                    copy.write_row((seq, entry_id, digest, sealed_at))
        return
    AuditSeal.objects.bulk_create(
        AuditSeal(seq=seq, entry_id=entry_id, digest=digest, sealed_at=sealed_at)
        for seq, entry_id, digest in links
    )


# --- Verification ---------------------------------------------------------------------------


def verify_chain(chunk_size: int = 5000) -> VerifyReport:
    """Recompute every link from the entries as they are now, starting at the newest
    checkpoint, and report the first one that does not match.

    Reads in keyset-paginated chunks (constant memory). On PostgreSQL it runs in one
    REPEATABLE READ snapshot, so a concurrent prune or seal cannot look like a gap."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _verify(chunk_size)
    return _verify(chunk_size)


def _verify(chunk_size: int) -> VerifyReport:
    checkpoint = latest_checkpoint()
    start = ChainHead(checkpoint.seq, checkpoint.digest) if checkpoint else None
    broken: ChainBreak | None = None
    checked, head = 0, start
    if checkpoint is not None and not checkpoint_is_authentic(checkpoint):
        broken = ChainBreak(checkpoint.seq, None, "bad checkpoint signature")
    else:
        checked, head, broken = _walk(start or ChainHead(0, GENESIS_DIGEST), chunk_size)
    return VerifyReport(
        checked=checked,
        head=head if head is not None and head.seq > 0 else None,
        broken=broken,
        unsealed=count_unsealed(),
        checkpoint=start,
    )


def _walk(start: ChainHead, chunk_size: int) -> tuple[int, ChainHead, ChainBreak | None]:
    content_types = _content_type_labels()
    checked, previous = 0, start
    for seals, entries in _seal_chunks(start.seq, chunk_size, content_types):
        for seq, entry_id, digest in seals:
            broken = _check_link(previous, seq, entry_id, digest, entries)
            if broken is not None:
                return checked, previous, broken
            checked, previous = checked + 1, ChainHead(seq, digest)
    return checked, previous, None


def _check_link(
    previous: ChainHead,
    seq: int,
    entry_id: int,
    digest: str,
    entries: dict[int, bytes],
) -> ChainBreak | None:
    if seq != previous.seq + 1:
        missing = f"seq {previous.seq + 1}" + (f"..{seq - 1}" if seq - 1 > previous.seq + 1 else "")
        hint = " (or the pruning checkpoint was removed)" if previous.seq == 0 else ""
        return ChainBreak(previous.seq + 1, None, f"seq gap: {missing} missing{hint}")
    canonical = entries.get(entry_id)
    if canonical is None:
        return ChainBreak(seq, entry_id, "entry deleted")
    if link_digest(previous.digest, canonical) != digest:
        return ChainBreak(seq, entry_id, "content changed (digest mismatch)")
    return None


def _seal_chunks(
    after_seq: int, chunk_size: int, content_types: dict[int, str]
) -> Iterator[tuple[list[tuple[int, int, str]], dict[int, bytes]]]:
    """Seals in seq order, a chunk at a time, with the canonical bytes of their entries."""
    while True:
        seals = list(
            AuditSeal.objects.filter(seq__gt=after_seq)
            .order_by("seq")
            .values_list("seq", "entry_id", "digest")[:chunk_size]
        )
        if not seals:
            return
        entries = _entries_of(seals)
        yield seals, dict(_canonical_rows(entries.order_by(), content_types))
        after_seq = seals[-1][0]


def _entries_of(seals: list[tuple[int, int, str]]) -> QuerySet[AuditEntry]:
    ids = [entry_id for _, entry_id, _ in seals]
    low, high = min(ids), max(ids)
    # Chain order follows id order closely, so a chunk's entries are nearly always one narrow
    # id range: a range scan is far cheaper than thousands of IN parameters.
    if high - low < 2 * len(ids):
        return AuditEntry.objects.filter(id__gte=low, id__lte=high)
    return AuditEntry.objects.filter(id__in=ids)


def count_unsealed() -> int:
    settled_before = timezone.now() - timedelta(seconds=settings.AUDIT_SEAL_SETTLE_SECONDS)
    return _unsealed().filter(timestamp__lt=settled_before).count()
