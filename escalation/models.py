from datetime import timedelta
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from escalation.channels import CHANNELS, channel_choices, display_address
from schedules.limits import SMALLINT_MAX, validate_one_line
from schedules.models import Schedule, Team

MIN_LEVEL_DELAY = timedelta(seconds=1)
MAX_RULE_DELAY_MINUTES = 24 * 60


class EscalationPolicy(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalation_policies")
    name = models.CharField(max_length=100, validators=[validate_one_line])
    description = models.TextField(blank=True)
    repeat = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(9)],
        help_text="How many more times to run through all levels after the last one times out.",
    )

    class Meta:
        verbose_name_plural = "escalation policies"
        ordering = ["team", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="unique_policy_name_per_team")
        ]

    def __str__(self) -> str:
        return self.name

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.team_id}


class EscalationLevel(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(SMALLINT_MAX)],
        help_text="Levels are paged in ascending order of position.",
    )
    delay = models.DurationField(
        default=timedelta(minutes=15),
        help_text=(
            "How long this level has to acknowledge before the next level is paged, "
            'as HH:MM:SS (e.g. "00:15:00" for 15 minutes).'
        ),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="escalation_levels", blank=True
    )
    schedules = models.ManyToManyField(
        Schedule,
        related_name="escalation_levels",
        blank=True,
        help_text="Whoever is on call in these schedules when the level fires is paged.",
    )

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "position"], name="unique_level_position_per_policy"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy} level {self.position}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.policy.team_id}

    def clean(self) -> None:
        if self.delay is not None and self.delay < MIN_LEVEL_DELAY:
            raise ValidationError({"delay": "The delay must be at least one second."})


class EscalationPolicyUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE)


class EscalationPolicyGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE)


class Urgency(models.TextChoices):
    """How urgently an incident needs people (PagerDuty's two urgencies). An incident's is
    derived from its severity: incidents.urgency.urgency_of."""

    HIGH = "high", "High"
    LOW = "low", "Low"


class ContactMethod(models.Model):
    """One way to reach a person: an e-mail address, a webhook URL. Each kind is a channel's
    (escalation.channels), which also says what a valid address of that kind looks like.

    `verified` says the method may be paged. E-mail addresses and webhooks are verified as soon
    as they are saved: whoever enters one is taken at their word (a wrong address shows up as
    failed deliveries on the incident's timeline). Kinds that will need proof of control (a
    code sent by SMS) start unverified and are skipped until verified."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=20, choices=channel_choices, default="email")
    # 255: the outbox row that carries a page copies the address into a field of that size.
    address = models.CharField(
        max_length=255, help_text="An e-mail address, or a webhook's https:// or http:// URL."
    )
    label = models.CharField(
        max_length=100, blank=True, help_text='Your name for it, e.g. "Work e-mail".'
    )
    verified = models.BooleanField(
        default=False,
        editable=False,
        help_text="Only verified methods are paged. E-mail and webhooks are verified on entry.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "pk"]

    def __str__(self) -> str:
        # Also the audit log's name for the row, and shown to auditors: never the whole of a
        # webhook URL (its owner sees that in the address field).
        where = f"{self.get_kind_display()}: {display_address(self.kind, self.address)}"
        return f"{self.label} ({where})" if self.label else where

    def save(self, *args: Any, **kwargs: Any) -> None:
        channel = CHANNELS.get(self.kind)
        if channel is not None and not channel.needs_verification:
            self.verified = True
        super().save(*args, **kwargs)

    @property
    def usable(self) -> bool:
        """Whether pages may be sent here: verified, and its channel still exists."""
        return self.verified and self.kind in CHANNELS

    def clean(self) -> None:
        channel = CHANNELS.get(self.kind)
        if channel is None:
            return  # the field's own choices validation reports it
        try:
            channel.validate_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from exc


class RuleUrgency(models.TextChoices):
    """Which incidents a notification rule is for."""

    HIGH = Urgency.HIGH.value, "High-urgency incidents"
    LOW = Urgency.LOW.value, "Low-urgency incidents"
    ANY = "any", "Any incident"


class NotificationRule(models.Model):
    """When to use one of a person's contact methods once an escalation level pages them:
    "e-mail me at once; post to my webhook after 5 minutes if nobody has acknowledged". An
    acknowledgement cancels what has not been sent yet.

    The rule's person is always its contact method's person (set on save, refused if someone
    else is given): a rule can only point at its owner's own methods."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_rules",
        editable=False,
    )
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.CASCADE, related_name="rules"
    )
    delay_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_RULE_DELAY_MINUTES)],
        help_text="Minutes after the level pages you; 0 is at once.",
    )
    urgency = models.CharField(max_length=10, choices=RuleUrgency.choices, default=RuleUrgency.ANY)

    class Meta:
        ordering = ["user", "delay_minutes", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_method", "urgency", "delay_minutes"],
                name="unique_rule_per_method_urgency_delay",
            )
        ]

    def __str__(self) -> str:
        when = f"after {self.delay_minutes} min" if self.delay_minutes else "at once"
        return f"{when}, {self.get_urgency_display().lower()}: {self.contact_method}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.user_id is None:
            self.user_id = self.contact_method.user_id
        self.clean()
        super().save(*args, **kwargs)

    def applies_to(self, urgency: str | None) -> bool:
        """Whether this rule fires for an incident of `urgency` (None: whatever its urgency)."""
        return urgency is None or self.urgency in {RuleUrgency.ANY, urgency}

    def clean(self) -> None:
        try:
            owner = self.contact_method.user_id
        except ContactMethod.DoesNotExist:
            return  # the field's own validation reports the missing method
        if self.user_id is not None and self.user_id != owner:
            raise ValidationError(
                {"contact_method": "A rule can only use its own person's contact methods."}
            )


auditlog.register(EscalationPolicy)
auditlog.register(EscalationLevel, m2m_fields={"users", "schedules"})
auditlog.register(EscalationPolicyUserObjectPermission)
auditlog.register(EscalationPolicyGroupObjectPermission)
# The audit log is append-only and read by auditors: an address (a webhook URL may carry its
# secret) is recorded as its channel shows it to others. Rules name their method by __str__.
ADDRESS_MASK = "escalation.channels.mask_address"
auditlog.register(ContactMethod, mask_fields=["address"], mask_callable=ADDRESS_MASK)
auditlog.register(NotificationRule)
