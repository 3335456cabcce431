"""The audit hash chain: sealing, verification, tamper detection, and the PostgreSQL
append-only triggers."""

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from incidents.audit import chain
from incidents.audit.chain import (
    GENESIS_DIGEST,
    ChainHead,
    canonical_entry,
    chain_head,
    seal_pending,
    verify_chain,
)
from incidents.audit.models import AuditEntry, AuditSeal
from incidents.jobs import reconcile
from tests.factories import TeamFactory, UserFactory
from tests.incidents.audit.conftest import maintenance, make_entries, postgresql_only

pytestmark = pytest.mark.django_db


def seals() -> list[tuple[int, int]]:
    return list(AuditSeal.objects.order_by("seq").values_list("seq", "entry_id"))


def seq_of(entry: AuditEntry) -> int:
    return int(AuditSeal.objects.get(entry_id=entry.pk).seq)


def verify_command() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_log", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# --- Sealing and verifying ------------------------------------------------------------------


def test_sealing_links_every_entry_in_order_and_verifies() -> None:
    TeamFactory(name="Payments")  # a real model change, logged by auditlog
    make_entries(3)
    entries = list(AuditEntry.objects.order_by("id"))

    assert seal_pending() == len(entries)

    assert seals() == [(n + 1, entry.pk) for n, entry in enumerate(entries)]
    digest = GENESIS_DIGEST
    for entry in entries:  # the documented formula, recomputed by hand
        digest = hashlib.sha256(digest.encode() + canonical_entry(entry)).hexdigest()
    assert chain_head() == ChainHead(len(entries), digest)
    report = verify_chain()
    assert (report.ok, report.checked, report.head, report.unsealed) == (
        True,
        len(entries),
        ChainHead(len(entries), digest),
        0,
    )


def test_sealing_twice_adds_nothing_and_new_entries_extend_the_chain() -> None:
    make_entries(2)
    seal_pending()
    head = chain_head()

    assert seal_pending() == 0
    make_entries(1)
    assert seal_pending() == 1

    assert head is not None
    assert chain_head().seq == head.seq + 1  # type: ignore[union-attr]
    assert verify_chain().ok


def test_an_empty_log_verifies_with_no_head() -> None:
    with maintenance():  # remove the entries written while migrating the test database
        AuditEntry.objects.all().delete()

    report = verify_chain()

    assert (report.ok, report.checked, report.head) == (True, 0, None)
    assert chain_head() is None


def test_small_batches_give_the_same_chain_as_one_batch() -> None:
    make_entries(7)
    seal_pending(batch_size=2)

    assert [seq for seq, _ in seals()] == list(range(1, AuditEntry.objects.count() + 1))
    assert verify_chain(chunk_size=3).ok


def test_canonical_form_is_compact_sorted_json_of_the_stored_entry() -> None:
    user = UserFactory(username="zoë")
    stamp = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)  # no microseconds: still printed
    entry = AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(user),
        object_pk=str(user.pk),
        object_id=user.pk,
        object_repr="Zoë's account",
        action=AuditEntry.Action.UPDATE,
        changes={"b": [1, 2.5], "a": {"z": None, "y": "é"}},
        changes_text="",
        actor=user,
        actor_email="zoe@example.com",
        remote_addr="2001:db8::1",
        remote_port=443,
        cid="req-1",
        timestamp=stamp,
        additional_data={"team_id": 7},
    )
    entry.refresh_from_db()

    canonical = canonical_entry(entry)

    assert canonical == (
        b'{"action":1,"actor_email":"zoe@example.com","actor_id":%d,"actor_label":"zo\\u00eb",'
        b'"additional_data":{"team_id":7},"changes":{"a":{"y":"\\u00e9","z":null},'
        b'"b":[1,2.5]},"changes_text":"","cid":"req-1","content_type":"auth.user",'
        b'"id":%d,"object_pk":"%d","object_repr":"Zo\\u00eb\'s account",'
        b'"remote_addr":"2001:db8::1","remote_port":443,"serialized_data":null,"team_id":7,'
        b'"timestamp":"2026-05-01T08:30:00.000000+00:00"}' % (user.pk, entry.pk, user.pk)
    )


def test_the_fast_read_path_gives_the_same_bytes_as_the_model() -> None:
    """On PostgreSQL sealing reads the timestamp, address and JSON as database text; the
    digest must not depend on which path read the entry."""
    UserFactory(username="ünïcode")
    make_entries(2)
    AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(AuditEntry),
        object_pk="",
        object_repr="edge cases",
        action=AuditEntry.Action.ACCESS,
        changes={"n": [1.0, 10**20, -0.5], "s": 'quote " and \\ and \u2028'},
        remote_addr="::ffff:10.0.0.1",
        timestamp=datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
        serialized_data={"fields": {"name": "x"}, "model": "y"},
    )
    labels = chain._content_type_labels()

    fast = dict(chain._canonical_rows(AuditEntry.objects.order_by("id"), labels))

    assert fast == {entry.pk: canonical_entry(entry) for entry in AuditEntry.objects.all()}


def test_reconciler_job_seals_new_entries(redis_conn: Any) -> None:
    make_entries(2)

    reconcile()

    assert AuditSeal.objects.count() == AuditEntry.objects.count()


def test_seal_command_reports_how_many_it_sealed() -> None:
    make_entries(2)
    total = AuditEntry.objects.count()
    out = StringIO()

    call_command("seal_audit_log", stdout=out)

    head = chain_head()
    assert head is not None
    assert out.getvalue().strip() == (
        f"Sealed {total} audit entries; head seq {head.seq} digest {head.digest}"
    )


# --- Settle time and late commits -----------------------------------------------------------


def test_entries_younger_than_the_settle_time_wait_for_the_next_pass(settings: Any) -> None:
    seal_pending()
    settings.AUDIT_SEAL_SETTLE_SECONDS = 2
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False) as clock:
        make_entries(1)

        assert seal_pending() == 0
        clock.shift(timedelta(seconds=1))
        assert seal_pending() == 0
        clock.shift(timedelta(seconds=2))
        assert seal_pending() == 1


def test_verify_reports_settled_entries_that_are_still_unsealed() -> None:
    make_entries(2)

    report = verify_chain()

    assert report.ok
    assert report.unsealed == AuditEntry.objects.count()
    code, out, _ = verify_command()
    assert code == 0
    assert "Audit chain intact: 0 entries" in out
    assert f"Warning: {report.unsealed} entries older than 0 s are not sealed yet" in out


def test_an_entry_committed_late_with_a_lower_id_is_sealed_on_the_next_pass() -> None:
    """A long transaction can commit an entry whose id is below one already sealed: the chain
    order is sealing order, not id order."""
    late_id, second = reserve_an_id_below_a_sealed_entry()

    commit_late(late_id, timezone.now() - timedelta(seconds=30))
    assert seal_pending() == 1

    assert seq_of(second) < AuditSeal.objects.get(entry_id=late_id).seq
    assert verify_chain().ok


def reserve_an_id_below_a_sealed_entry() -> tuple[int, AuditEntry]:
    """An id that a still-open transaction holds while a later entry gets sealed."""
    first, second = make_entries(2)
    with maintenance():
        AuditEntry.objects.filter(pk=first.pk).delete()
    seal_pending()
    assert seq_of(second) > 0
    return first.pk, second


def commit_late(entry_id: int, timestamp: datetime) -> None:
    """The late transaction commits, with the id and timestamp it got earlier."""
    AuditEntry.objects.create(
        id=entry_id,
        content_type=ContentType.objects.get_for_model(AuditEntry),
        object_pk="",
        object_repr="committed late",
        action=AuditEntry.Action.ACCESS,
        timestamp=timestamp,
    )


def test_a_full_pass_finds_entries_beyond_the_lookback(settings: Any) -> None:
    settings.AUDIT_SEAL_LOOKBACK_SECONDS = 60
    late_id, _ = reserve_an_id_below_a_sealed_entry()
    commit_late(late_id, timezone.now() - timedelta(hours=2))

    assert seal_pending() == 0
    assert verify_chain().unsealed == 1
    assert seal_pending(full=True) == 1
    assert verify_chain().unsealed == 0


# --- Tampering ------------------------------------------------------------------------------


@pytest.fixture
def sealed_log() -> list[AuditEntry]:
    entries = make_entries(5)
    seal_pending()
    return entries


def broken_at(entry: AuditEntry) -> tuple[int, int | None, str]:
    report = verify_chain()
    assert report.broken is not None, "tampering went unnoticed"
    assert report.checked == seq_of(entry) - 1
    return report.broken.seq, report.broken.entry_id, report.broken.reason


@pytest.mark.parametrize(
    "change",
    [
        {"changes": {"status": ["triggered", "resolved"]}},
        {"additional_data": {"event": "test", "n": 99}},
        {"actor_label": "someone else"},
        {"actor_email": "mallory@example.com"},
        {"timestamp": datetime(2020, 1, 1, tzinfo=UTC)},
        {"remote_addr": "203.0.113.9"},
        {"object_repr": "nothing to see"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changing_an_entry_is_detected_at_its_seq(
    sealed_log: list[AuditEntry], change: dict[str, Any]
) -> None:
    victim = sealed_log[2]
    with maintenance():
        AuditEntry.objects.filter(pk=victim.pk).update(**change)

    assert broken_at(victim) == (seq_of(victim), victim.pk, "content changed (digest mismatch)")


def test_changing_the_actor_is_detected(sealed_log: list[AuditEntry]) -> None:
    victim = sealed_log[1]
    with maintenance():
        AuditEntry.objects.filter(pk=victim.pk).update(actor=UserFactory(username="mallory"))

    assert broken_at(victim)[:2] == (seq_of(victim), victim.pk)


def test_deleting_an_entry_is_detected(sealed_log: list[AuditEntry]) -> None:
    victim = sealed_log[3]
    seq = seq_of(victim)
    with maintenance():
        AuditEntry.objects.filter(pk=victim.pk).delete()

    report = verify_chain()
    assert report.broken == chain.ChainBreak(seq, victim.pk, "entry deleted")


def test_deleting_an_entry_and_its_seal_leaves_a_gap(sealed_log: list[AuditEntry]) -> None:
    victim = sealed_log[1]
    seq = seq_of(victim)
    with maintenance():
        AuditSeal.objects.filter(seq=seq).delete()
        AuditEntry.objects.filter(pk=victim.pk).delete()

    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.entry_id) == (seq, None)
    assert report.broken.reason.startswith(f"seq gap: seq {seq} missing")


def test_rewriting_a_seal_digest_is_detected(sealed_log: list[AuditEntry]) -> None:
    victim = sealed_log[0]
    with maintenance():
        AuditSeal.objects.filter(entry_id=victim.pk).update(digest="f" * 64)

    assert broken_at(victim)[:2] == (seq_of(victim), victim.pk)


def test_verify_command_locates_the_tampered_entry(sealed_log: list[AuditEntry]) -> None:
    code, out, _ = verify_command()
    head = chain_head()
    assert head is not None
    assert (code, out.splitlines()[0]) == (
        0,
        f"Audit chain intact: {head.seq} entries, head seq {head.seq} digest {head.digest}",
    )

    victim = sealed_log[2]
    with maintenance():
        AuditEntry.objects.filter(pk=victim.pk).update(changes_text="edited")

    code, out, err = verify_command()
    assert code == 1
    assert err.strip() == (
        f"Audit chain BROKEN at seq {seq_of(victim)} (entry {victim.pk}):"
        " content changed (digest mismatch)"
    )


def test_verify_command_checks_an_export_against_its_manifest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from incidents.audit import exports

    calls: list[tuple[str, str]] = []

    def fake_verify_export(export_path: str, manifest_path: str) -> SimpleNamespace:
        calls.append((export_path, manifest_path))
        ok = export_path.endswith("good.csv")
        return SimpleNamespace(ok=ok, message="Export verified" if ok else "SHA-256 mismatch")

    monkeypatch.setattr(exports, "verify_export", fake_verify_export)
    out, err = StringIO(), StringIO()

    call_command("verify_audit_log", export="good.csv", manifest="m.json", stdout=out)
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit_log", export="bad.csv", manifest="m.json", stderr=err)

    assert calls == [("good.csv", "m.json"), ("bad.csv", "m.json")]
    assert out.getvalue().strip() == "Export verified"
    assert (exited.value.code, err.getvalue().strip()) == (1, "SHA-256 mismatch")


# --- PostgreSQL: append-only ----------------------------------------------------------------


def change_rows(rows: Any, operation: str) -> None:
    if operation == "update":
        field = rows.model._meta.pk.name
        rows.update(**{field: rows.get().pk})  # even a no-op UPDATE is refused
    else:
        rows.delete()


@postgresql_only
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_postgresql_refuses_changing_audit_rows(
    sealed_log: list[AuditEntry], operation: str
) -> None:
    entry = sealed_log[0]
    for rows in (
        AuditEntry.objects.filter(pk=entry.pk),
        AuditSeal.objects.filter(entry_id=entry.pk),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change_rows(rows, operation)

    assert verify_chain().ok


@postgresql_only
def test_postgresql_refuses_raw_sql_tampering_and_deleting_an_actor(
    sealed_log: list[AuditEntry],
) -> None:
    actor = UserFactory(username="leaver")
    AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(actor),
        object_pk=str(actor.pk),
        object_repr="leaver",
        action=AuditEntry.Action.ACCESS,
        actor=actor,
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE incidents_auditentry SET object_repr = 'x'")
    # SET_NULL on the actor column is an UPDATE: users are deactivated, not deleted.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        actor.delete()


# --- Concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_never_skip_or_repeat_a_seq() -> None:
    """Several workers sealing while entries keep arriving: one chain, no gaps, no twins."""
    workers, rounds = 4, 6
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                make_entries(3)
                seal_pending(batch_size=2)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seal_pending()

    assert errors == []
    sequence = seals()
    assert [seq for seq, _ in sequence] == list(range(1, len(sequence) + 1))
    assert sorted(entry for _, entry in sequence) == sorted(
        AuditEntry.objects.values_list("pk", flat=True)
    )
    assert verify_chain().ok
