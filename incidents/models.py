import hashlib
import secrets
from typing import Any, ClassVar

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from escalation.channels import display_address
from escalation.models import ADDRESS_MASK, EscalationPolicy

# The audit models live in their own module; importing them here registers them in the app.
from incidents.audit.models import (  # noqa: F401
    AuditCheckpoint,
    AuditEntry,
    AuditExport,
    AuditSeal,
)
from schedules.limits import validate_one_line
from schedules.models import Schedule, Team


class Severity(models.TextChoices):
    """PagerDuty's four severities, in increasing order of urgency."""

    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"

    @classmethod
    def rank(cls, value: str) -> int:
        return [choice.value for choice in cls].index(value)

    @classmethod
    def highest(cls, *values: str) -> str:
        return max(values, key=cls.rank)


class Service(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(max_length=100, validators=[validate_one_line])
    description = models.TextField(blank=True)
    escalation_policy = models.ForeignKey(
        EscalationPolicy, on_delete=models.PROTECT, related_name="services"
    )

    class Meta:
        ordering = ["team", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="unique_service_name_per_team")
        ]

    def __str__(self) -> str:
        return self.name

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.team_id}

    def clean(self) -> None:
        policy_team = (
            getattr(self.escalation_policy, "team_id", None) if self.escalation_policy_id else None
        )
        if policy_team is not None and self.team_id and policy_team != self.team_id:
            raise ValidationError(
                {"escalation_policy": "The escalation policy must belong to the service's team."}
            )


def hash_integration_key(key: str) -> str:
    # Keys are 128 random bits, so a plain SHA-256 is enough (no stretching needed) and lets the
    # intake look a key up by an indexed column without ever storing it.
    return hashlib.sha256(key.encode()).hexdigest()


class Integration(models.Model):
    class Kind(models.TextChoices):
        EVENTS_API_V2 = "events_api_v2", "PagerDuty Events API v2"
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=100, validators=[validate_one_line])
    kind = models.CharField(max_length=30, choices=Kind.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(
        max_length=8, editable=False, help_text="The first characters of the key, to recognise it."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service", "name"]

    def __str__(self) -> str:
        return f"{self.service} / {self.name}"

    def issue_key(self) -> str:
        """Generate a new key, keep only its hash, and return it: it is shown once."""
        key = secrets.token_hex(16)  # 32 characters, the length of a PagerDuty routing key
        while key.isdigit():  # all digits would route to the API's integration by id
            key = secrets.token_hex(16)
        self.key_hash = hash_integration_key(key)
        self.key_prefix = key[:6]
        return key

    def webhook_path(self, key: str) -> str:
        return f"/api/v1/integrations/{key}/"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.service.team_id}


class Incident(models.Model):
    class Status(models.TextChoices):
        TRIGGERED = "triggered", "Triggered"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    OPEN_STATUSES: ClassVar[list[str]] = [Status.TRIGGERED, Status.ACKNOWLEDGED]

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="incidents")
    title = models.CharField(max_length=1024)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.TRIGGERED, editable=False
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.CRITICAL)
    dedup_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # What the resolver wrote about the cause and the fix, for the incident record.
    resolution_note = models.TextField(blank=True, editable=False)
    # The person the incident was last reassigned to. Empty while the escalation policy alone
    # decides who is paged, and again once the assignee let a level time out.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # Escalation state. The snapshot is the policy frozen when escalation started; level_index
    # and loop say which step was paged last; next_escalation_at is when the next step is due
    # (the database, not Redis, is the clock); active_job_id fences out stale RQ jobs.
    escalation_snapshot = models.JSONField(default=dict, editable=False)
    level_index = models.IntegerField(null=True, blank=True, editable=False)
    loop = models.PositiveSmallIntegerField(default=0, editable=False)
    next_escalation_at = models.DateTimeField(null=True, blank=True, editable=False)
    active_job_id = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open incident per dedup key and service. This, not Python, is what
            # keeps concurrent identical triggers from opening two incidents.
            models.UniqueConstraint(
                fields=["service", "dedup_key"],
                condition=Q(status__in=["triggered", "acknowledged"]),
                name="unique_open_incident_per_dedup_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(next_escalation_at__isnull=False),
                name="incident_escalation_due",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title[:80]}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.service.team_id}

    @property
    def current_level(self) -> int | None:
        """The position of the level paged last, as the policy numbers it."""
        if self.level_index is None:
            return None
        levels = self.escalation_snapshot.get("levels", [])
        if self.level_index >= len(levels):
            return None
        return int(levels[self.level_index]["position"])


class Alert(models.Model):
    """One event as a source sent it: the raw record behind an incident."""

    class Action(models.TextChoices):
        TRIGGER = "trigger", "Trigger"
        ACKNOWLEDGE = "acknowledge", "Acknowledge"
        RESOLVE = "resolve", "Resolve"

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="alerts")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    dedup_key = models.CharField(max_length=255)
    # The source's own id for this alert inside a group (Alertmanager fingerprint), if any.
    alert_key = models.CharField(max_length=255, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    summary = models.CharField(max_length=1024, blank=True)
    source = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.summary[:60] or self.dedup_key}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.integration.service.team_id}


class IncidentEvent(models.Model):
    """The incident's timeline: every transition, page and note, in order. A note's message
    is its text and its actor is its author."""

    class Kind(models.TextChoices):
        TRIGGERED = "triggered", "Triggered"
        ALERT_ADDED = "alert_added", "Alert added"
        ESCALATED = "escalated", "Escalated"
        NOBODY_TO_PAGE = "nobody_to_page", "Nobody to page"
        EXHAUSTED = "exhausted", "Escalation exhausted"
        NOTIFIED = "notified", "Notified"
        NOTIFICATION_FAILED = "notification_failed", "Notification failed"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        REASSIGNED = "reassigned", "Reassigned"
        NOTE = "note", "Note"
        RESOLVED = "resolved", "Resolved"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted, in words: a user, "integration <name>" or "system".
    actor_label = models.CharField(max_length=255)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.message}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.incident.service.team_id}


class Notification(models.Model):
    """The outbox: one row per delivery to one person, written before anything is sent.

    Most rows are pages. The same outbox (retries, leases, never twice) carries the notices
    that are not pages: a manager told that a level had nobody to page (on an incident), and
    a person told that their shift starts or has ended (on a schedule, with no incident)."""

    class Purpose(models.TextChoices):
        PAGE = "page", "Page"
        NOBODY_ON_CALL = "nobody_on_call", "Nobody on call (to a manager)"
        SHIFT_START = "shift_start", "Shift starts"
        SHIFT_END = "shift_end", "Shift ended"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"  # claimed by a worker; next_attempt_at is its lease
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.PAGE)
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A shift notice's moment: the start or the end of the shift it is about.
    shift_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=20)
    address = models.CharField(max_length=255)
    level_position = models.PositiveSmallIntegerField(null=True, blank=True)
    loop = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    # Why a manager is told (the "nobody on call" notice): which schedules were empty, who had
    # no contact method.
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        purpose__in=["page", "nobody_on_call"],
                        incident__isnull=False,
                        level_position__isnull=False,
                    )
                    | Q(
                        purpose__in=["shift_start", "shift_end"],
                        schedule__isnull=False,
                        shift_at__isnull=False,
                    )
                ),
                name="notification_has_its_subject",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_pending_due",
            )
        ]

    def __str__(self) -> str:
        # Also the audit log's name for the row: never the whole of a webhook URL.
        return f"{self.channel} to {display_address(self.channel, self.address)} ({self.status})"

    def get_additional_data(self) -> dict[str, Any]:
        if self.incident_id is None:
            return {"team_id": self.schedule.team_id if self.schedule else None}
        return {"team_id": self.incident.service.team_id}  # type: ignore[union-attr]


class ServiceUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Service, on_delete=models.CASCADE)


class ServiceGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Service, on_delete=models.CASCADE)


class IntegrationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Integration, on_delete=models.CASCADE)


class IntegrationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Integration, on_delete=models.CASCADE)


class IncidentUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)


class IncidentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)


auditlog.register(Service)
auditlog.register(Integration, exclude_fields=["key_hash"])
auditlog.register(Incident, exclude_fields=["escalation_snapshot"])
auditlog.register(Alert, exclude_fields=["payload"])
auditlog.register(IncidentEvent)
auditlog.register(Notification, mask_fields=["address"], mask_callable=ADDRESS_MASK)
for permission_model in [
    ServiceUserObjectPermission,
    ServiceGroupObjectPermission,
    IntegrationUserObjectPermission,
    IntegrationGroupObjectPermission,
    IncidentUserObjectPermission,
    IncidentGroupObjectPermission,
]:
    auditlog.register(permission_model)
