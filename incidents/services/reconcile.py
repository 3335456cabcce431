"""The reconciler: the database is the clock, Redis only wakes workers.

Anything that should have happened by now (an escalation step, a delivery) but has not is
enqueued again. Running it too often, or alongside the original job, is harmless: escalation
steps are fenced by their token and deliveries re-check their row under a lock.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from incidents.models import Incident, Notification
from incidents.services.scheduling import (
    DELIVERY_JOB,
    ESCALATION_QUEUE,
    ESCALATION_STEP_JOB,
    NOTIFICATION_QUEUE,
    enqueue_now,
)

BATCH = 1000


@dataclass(frozen=True)
class ReconcileReport:
    escalations: int
    deliveries: int


def reconcile_overdue() -> ReconcileReport:
    cutoff = timezone.now() - timedelta(seconds=settings.RECONCILE_GRACE_SECONDS)
    steps = list(
        Incident.objects.filter(
            status=Incident.Status.TRIGGERED, next_escalation_at__lte=cutoff
        ).values_list("pk", "active_job_id")[:BATCH]
    )
    for incident_id, token in steps:
        enqueue_now(ESCALATION_QUEUE, ESCALATION_STEP_JOB, incident_id, token)
    deliveries = list(
        # Pending pages whose job was lost, and claims whose worker died mid-send.
        Notification.objects.filter(
            status__in=[Notification.Status.PENDING, Notification.Status.SENDING],
            next_attempt_at__lte=cutoff,
        ).values_list("pk", flat=True)[:BATCH]
    )
    for notification_id in deliveries:
        enqueue_now(NOTIFICATION_QUEUE, DELIVERY_JOB, notification_id)
    return ReconcileReport(escalations=len(steps), deliveries=len(deliveries))
