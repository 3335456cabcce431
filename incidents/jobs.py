"""RQ entry points. Each takes ids, calls one service, and returns what happened.

Every job runs inside `audit_actor_system()`, so the audit entries its changes write are
attributed to "system" (a job has no request, hence no actor otherwise)."""

import logging

import django_rq
from django.conf import settings
from redis import Redis

from incidents import services
from incidents.audit.actors import audit_actor_system
from incidents.audit.chain import seal_pending
from incidents.services.scheduling import ESCALATION_QUEUE

logger = logging.getLogger(__name__)

RECONCILE_LOCK_KEY = "watchstander:reconcile-lock"


def escalation_step(incident_id: int, token: str) -> str:
    with audit_actor_system():
        outcome = services.incident_escalate(incident_id=incident_id, token=token)
    logger.info("escalation step incident=%s token=%s: %s", incident_id, token, outcome)
    return outcome


def deliver_notification(notification_id: int) -> str:
    with audit_actor_system():
        outcome = services.notification_deliver(notification_id=notification_id)
    logger.info("delivery notification=%s: %s", notification_id, outcome)
    return outcome


def reconcile() -> dict[str, int]:
    """Re-enqueue overdue work, write the shift notices now due, then seal new audit entries
    into the hash chain (all of it every RECONCILE_INTERVAL_SECONDS, with no extra process)."""
    with audit_actor_system():
        report = services.reconcile_overdue()
        notices = services.shift_notices_queue()
        sealed = seal_pending()
    if report.escalations or report.deliveries:
        logger.warning("reconciler re-enqueued overdue work: %s", report)
    if notices:
        logger.info("reconciler queued %s shift notices", notices)
    if sealed:
        logger.info("reconciler sealed %s audit entries", sealed)
    return {
        "escalations": report.escalations,
        "deliveries": report.deliveries,
        "shift_notices": notices,
    }


def wake_reconciler(connection: Redis) -> None:
    """Enqueue the reconciler unless some worker did so within the interval."""
    if connection.set(RECONCILE_LOCK_KEY, "1", nx=True, ex=settings.RECONCILE_INTERVAL_SECONDS):
        django_rq.get_queue(ESCALATION_QUEUE).enqueue(reconcile, result_ttl=0)
