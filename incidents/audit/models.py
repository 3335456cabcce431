"""The audit trail: django-auditlog entries, sealed into a hash chain, and the exports made of
them. Imported by incidents/models.py so Django registers these models in the app."""

from auditlog.models import AbstractLogEntry
from django.conf import settings
from django.db import models


class AuditEntry(AbstractLogEntry):
    """django-auditlog's entry (AUDITLOG_LOGENTRY_MODEL) with two first-class columns:
    who acted in words (a user, an integration, "system") and the team the object belongs to,
    so exports can filter by team without parsing JSON."""

    actor_label = models.CharField(max_length=255, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        permissions = [("export_auditentry", "Can export the audit log and incident records")]

    def save(self, *args: object, **kwargs: object) -> None:
        if self.team_id is None and isinstance(self.additional_data, dict):
            self.team_id = self.additional_data.get("team_id")
        if not self.actor_label:
            self.actor_label = self.actor_email or (str(self.actor) if self.actor_id else "")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class AuditSeal(models.Model):
    """One link of the hash chain: `digest` covers the previous link's digest and the entry's
    canonical content. Links are written in chain order (`seq`), which is sealing order.

    `entry_id` is deliberately not a foreign key: deleting an entry must leave its seal
    behind, as evidence."""

    seq = models.BigIntegerField(primary_key=True)
    entry_id = models.BigIntegerField(unique=True)
    digest = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"seal {self.seq} of entry {self.entry_id}"


class AuditCheckpoint(models.Model):
    """Where the chain resumes after pruning: the last pruned link, signed with SECRET_KEY so a
    forged checkpoint cannot hide a rewritten history."""

    seq = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    pruned_before = models.DateTimeField()
    entries_pruned = models.PositiveIntegerField()
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint at seal {self.seq} ({self.entries_pruned} entries pruned)"


class AuditExport(models.Model):
    """One export an auditor made, and its manifest."""

    class Kind(models.TextChoices):
        AUDIT_LOG = "audit_log", "Audit log"
        INCIDENTS = "incidents", "Incident records"
        RESPONSE_TIMES = "response_times", "MTTA/MTTR per service and team"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    format = models.CharField(max_length=10, choices=Format.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    filters = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    chain_head_seq = models.BigIntegerField(null=True, blank=True)
    chain_head_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"
