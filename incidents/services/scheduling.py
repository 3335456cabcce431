"""Enqueueing RQ work from inside a transaction: always on commit, never with model instances.

`enqueue_at`/`enqueue_in` go to Redis at once even inside a transaction (django-rq's commit
mode only covers `enqueue`), so everything here defers to `transaction.on_commit` itself. The
callbacks are robust: if Redis is unreachable the commit still stands, and the reconciler
re-enqueues the overdue rows once Redis is back.
"""

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import django_rq
from django.db import transaction
from django.utils import timezone
from rq import get_current_job
from rq.registry import ScheduledJobRegistry

logger = logging.getLogger(__name__)

ESCALATION_QUEUE = "escalation"
NOTIFICATION_QUEUE = "notifications"
ESCALATION_STEP_JOB = "incidents.jobs.escalation_step"
DELIVERY_JOB = "incidents.jobs.deliver_notification"


def _enqueue(
    queue_name: str, func: str, args: tuple[Any, ...], due: datetime | None, job_id: str | None
) -> None:
    queue = django_rq.get_queue(queue_name)
    if due is None or due <= timezone.now():
        queue.enqueue(func, *args, job_id=job_id)
    else:
        queue.enqueue_at(_ceil_to_second(due), func, *args, job_id=job_id)


def _ceil_to_second(due: datetime) -> datetime:
    # RQ keeps due times as whole seconds, truncated, so a job can wake up to a second early.
    # Rounding up makes the early wake-up (and the job's re-check of the due time) rare.
    if due.microsecond == 0:
        return due
    return due.replace(microsecond=0) + timedelta(seconds=1)


def enqueue_on_commit(
    queue_name: str, func: str, *args: Any, due: datetime | None = None, job_id: str | None = None
) -> None:
    transaction.on_commit(partial(_enqueue, queue_name, func, args, due, job_id), robust=True)


def schedule_escalation_step(
    incident_id: int, token: str, due: datetime, *, job_id: str | None = None
) -> None:
    """Wake the escalation engine for `incident_id` at `due`; `token` is the fencing token."""
    enqueue_on_commit(
        ESCALATION_QUEUE, ESCALATION_STEP_JOB, incident_id, token, due=due, job_id=job_id
    )


def schedule_delivery(notification_id: int, due: datetime | None = None) -> None:
    enqueue_on_commit(NOTIFICATION_QUEUE, DELIVERY_JOB, notification_id, due=due)


def _unschedule(job_id: str) -> None:
    current = get_current_job()
    if current is not None and current.id == job_id:
        return  # the step that is running now: RQ finishes and expires it
    queue = django_rq.get_queue(ESCALATION_QUEUE)
    # Removed and deleted, not cancelled: RQ never expires cancelled jobs.
    ScheduledJobRegistry(queue=queue).remove(job_id, delete_job=True)


def cancel_job_on_commit(job_id: str) -> None:
    """Drop a scheduled step that is no longer wanted. Only tidiness: fencing already makes a
    stale job a no-op, so failing to drop it is harmless."""
    if job_id:
        transaction.on_commit(partial(_unschedule, job_id), robust=True)


def enqueue_now(queue_name: str, func: str, *args: Any) -> None:
    """Enqueue outside any transaction (the reconciler)."""
    _enqueue(queue_name, func, args, None, None)
