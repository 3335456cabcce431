"""RQ entry points. Each takes ids, calls one service, and returns what happened."""

import logging

import django_rq
from django.conf import settings
from redis import Redis

from incidents import services
from incidents.services.scheduling import ESCALATION_QUEUE

logger = logging.getLogger(__name__)

RECONCILE_LOCK_KEY = "watchstander:reconcile-lock"


def escalation_step(incident_id: int, token: str) -> str:
    outcome = services.incident_escalate(incident_id=incident_id, token=token)
    logger.info("escalation step incident=%s token=%s: %s", incident_id, token, outcome)
    return outcome


def deliver_notification(notification_id: int) -> str:
    outcome = services.notification_deliver(notification_id=notification_id)
    logger.info("delivery notification=%s: %s", notification_id, outcome)
    return outcome


def reconcile() -> dict[str, int]:
    report = services.reconcile_overdue()
    if report.escalations or report.deliveries:
        logger.warning("reconciler re-enqueued overdue work: %s", report)
    return {"escalations": report.escalations, "deliveries": report.deliveries}


def wake_reconciler(connection: Redis) -> None:
    """Enqueue the reconciler unless some worker did so within the interval."""
    if connection.set(RECONCILE_LOCK_KEY, "1", nx=True, ex=settings.RECONCILE_INTERVAL_SECONDS):
        django_rq.get_queue(ESCALATION_QUEUE).enqueue(reconcile, result_ttl=0)
