from datetime import timedelta
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from schedules.models import Schedule, Team

MIN_LEVEL_DELAY = timedelta(seconds=1)


class EscalationPolicy(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalation_policies")
    name = models.CharField(max_length=100)
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
        help_text="Levels are paged in ascending order of position."
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


auditlog.register(EscalationPolicy)
auditlog.register(EscalationLevel, m2m_fields={"users", "schedules"})
auditlog.register(EscalationPolicyUserObjectPermission)
auditlog.register(EscalationPolicyGroupObjectPermission)
