"""Retention: pruning old entries keeps the chain verifiable through a signed checkpoint, and
is itself audited."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from incidents.audit.chain import (
    ChainBreak,
    chain_head,
    seal_pending,
    sign_checkpoint,
    verify_chain,
)
from incidents.audit.models import AuditCheckpoint, AuditEntry, AuditSeal
from incidents.audit.prune import PRUNED_EVENT, PruneRefused, prune_audit_log
from tests.incidents.audit.conftest import maintenance, make_entries

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def old_and_new(empty_log: None) -> tuple[list[AuditEntry], list[AuditEntry]]:
    """Four entries from long ago and three from today, all sealed."""
    with time_machine.travel(LONG_AGO, tick=False) as clock:
        old = []
        for _ in range(4):
            old += make_entries(1, "old")
            clock.shift(timedelta(minutes=1))
    new = make_entries(3, "new")
    seal_pending()
    return old, new


def prune(**options: Any) -> str:
    out = StringIO()
    call_command("prune_audit_log", stdout=out, **options)
    return out.getvalue().strip()


def test_pruning_removes_old_entries_and_the_chain_still_verifies(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]],
) -> None:
    old, new = old_and_new
    last_old_seal = AuditSeal.objects.get(entry_id=old[-1].pk)

    report = prune_audit_log(days=90)

    assert report.entries == 4
    assert not AuditEntry.objects.filter(pk__in=[entry.pk for entry in old]).exists()
    assert not AuditSeal.objects.filter(seq__lte=last_old_seal.seq).exists()
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.digest, checkpoint.entries_pruned) == (
        last_old_seal.seq,
        last_old_seal.digest,
        4,
    )
    assert checkpoint.pruned_before == report.cutoff
    assert checkpoint.signature == sign_checkpoint(
        checkpoint.seq, checkpoint.digest, checkpoint.pruned_before
    )
    seal_pending()  # the pruning's own entry
    verified = verify_chain()
    assert (verified.ok, verified.checked) == (True, len(new) + 1)
    assert verified.checkpoint is not None
    assert verified.checkpoint.seq == checkpoint.seq


def test_pruning_is_itself_audited(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]],
) -> None:
    out = prune(days=90)

    entry = AuditEntry.objects.get(additional_data__event=PRUNED_EVENT)
    checkpoint = AuditCheckpoint.objects.get()
    assert out.startswith("Pruned 4 audit entries before ")
    assert out.endswith(f"; checkpoint at seq {checkpoint.seq}.")
    assert entry.actor_label == "system: prune_audit_log"
    assert entry.action == AuditEntry.Action.ACCESS
    assert (entry.content_type.model, entry.object_pk) == ("auditcheckpoint", str(checkpoint.pk))
    assert entry.object_repr.startswith("Audit log pruned: 4 entries before ")
    assert entry.additional_data["entries_pruned"] == 4
    assert entry.additional_data["retention_days"] == 90


def test_verify_command_is_intact_after_pruning(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]],
) -> None:
    prune(days=90)
    seal_pending()
    out = StringIO()

    call_command("verify_audit_log", stdout=out)

    head = chain_head()
    checkpoint = AuditCheckpoint.objects.get()
    assert head is not None
    assert out.getvalue().strip() == (
        f"Audit chain intact: {head.seq - checkpoint.seq} entries (since checkpoint seq"
        f" {checkpoint.seq}), head seq {head.seq} digest {head.digest}"
    )


def test_pruning_stops_at_the_first_link_that_is_still_young(empty_log: None) -> None:
    """Chain order is sealing order: an old entry sealed after a young one stays."""
    with time_machine.travel(LONG_AGO):
        [old] = make_entries(1)
    seal_pending()
    [young] = make_entries(1)
    seal_pending()
    with time_machine.travel(LONG_AGO + timedelta(hours=1)):
        [old_but_late] = make_entries(1)
    seal_pending()

    assert prune_audit_log(days=90).entries == 1

    assert set(AuditEntry.objects.values_list("pk", flat=True)) >= {young.pk, old_but_late.pk}
    assert not AuditEntry.objects.filter(pk=old.pk).exists()


def test_pruning_twice_continues_from_the_checkpoint(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]],
) -> None:
    prune_audit_log(days=90)
    with time_machine.travel(timezone.now() + timedelta(days=200)):
        second = prune_audit_log(days=90)
        seal_pending()

        assert second.entries == 4  # three "new" entries and the first pruning's entry
        assert AuditCheckpoint.objects.count() == 2
        assert verify_chain().ok


def test_a_dry_run_changes_nothing(old_and_new: tuple[list[AuditEntry], list[AuditEntry]]) -> None:
    entries = AuditEntry.objects.count()

    out = prune(days=90, dry_run=True)

    assert out.startswith("Would prune 4 audit entries before ")
    assert AuditEntry.objects.count() == entries
    assert not AuditCheckpoint.objects.exists()


def test_nothing_old_enough_prunes_nothing(empty_log: None) -> None:
    make_entries(2)

    assert prune(days=1).startswith("No sealed audit entries before ")
    assert not AuditCheckpoint.objects.exists()


def test_retention_comes_from_the_setting_and_zero_keeps_everything(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]], settings: Any
) -> None:
    settings.AUDIT_RETENTION_DAYS = 0
    assert prune() == "Retention is off (AUDIT_RETENTION_DAYS=0): nothing pruned."

    settings.AUDIT_RETENTION_DAYS = 90
    assert prune().startswith("Pruned 4 audit entries")


def test_invalid_days_are_refused(db: None) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        prune(days=0)


def test_a_broken_chain_is_not_pruned(
    old_and_new: tuple[list[AuditEntry], list[AuditEntry]],
) -> None:
    old, _ = old_and_new
    with maintenance():
        AuditEntry.objects.filter(pk=old[1].pk).update(object_repr="rewritten")

    with pytest.raises(PruneRefused, match="content changed"):
        prune_audit_log(days=90)
    with pytest.raises(CommandError, match="refusing to prune"):
        prune(days=90)
    assert not AuditCheckpoint.objects.exists()


# --- Checkpoint tampering -------------------------------------------------------------------


@pytest.fixture
def pruned(old_and_new: tuple[list[AuditEntry], list[AuditEntry]]) -> AuditCheckpoint:
    prune_audit_log(days=90)
    seal_pending()
    return AuditCheckpoint.objects.get()


@pytest.mark.parametrize(
    "forgery",
    [
        {"digest": "0" * 64},
        {"seq": 1},
        {"pruned_before": datetime(2000, 1, 1, tzinfo=UTC)},
        {"signature": "0" * 64},
    ],
    ids=lambda forgery: next(iter(forgery)),
)
def test_a_forged_checkpoint_is_detected(pruned: AuditCheckpoint, forgery: dict[str, Any]) -> None:
    with maintenance():
        AuditCheckpoint.objects.filter(pk=pruned.pk).update(**forgery)

    report = verify_chain()

    assert report.broken is not None
    assert report.broken.reason == "bad checkpoint signature"


def test_a_checkpoint_re_signed_without_the_key_is_detected(pruned: AuditCheckpoint) -> None:
    forged = sign_checkpoint(pruned.seq, "0" * 64, pruned.pruned_before, key="guessed")
    with maintenance():
        AuditCheckpoint.objects.filter(pk=pruned.pk).update(digest="0" * 64, signature=forged)

    assert verify_chain().broken == ChainBreak(pruned.seq, None, "bad checkpoint signature")


def test_a_removed_checkpoint_is_detected(pruned: AuditCheckpoint) -> None:
    with maintenance():
        AuditCheckpoint.objects.all().delete()

    report = verify_chain()

    assert report.broken is not None
    assert report.broken.seq == 1
    assert report.broken.reason == (
        f"seq gap: seq 1..{pruned.seq} missing (or the pruning checkpoint was removed)"
    )


def test_a_checkpoint_survives_a_secret_key_rotation(
    pruned: AuditCheckpoint, settings: Any
) -> None:
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY

    assert verify_chain().ok
