"""The reconciler re-enqueues overdue work from the database, so a flushed Redis or a killed
worker delays a page but never loses it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import django_rq
import pytest

from incidents.jobs import reconcile, wake_reconciler
from incidents.models import Incident, Notification
from incidents.services import alert_ingest, notification_deliver
from tests.conftest import Setup, trigger_event

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# The reconciler runs in a job, outside any transaction, where django-rq enqueues at once;
# inside a test's wrapping transaction it would defer every enqueue to a commit that never comes.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def incident(setup: Setup, time_machine: Any, redis_conn: Any) -> Incident:
    time_machine.move_to(START, tick=False)
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    redis_conn.flushdb()  # Redis lost every job it had been given
    return Incident.objects.get(pk=result.incident_id)


def queued(queue_name: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [(job.func_name, job.args) for job in django_rq.get_queue(queue_name).get_jobs()]


def test_nothing_is_re_enqueued_before_it_is_overdue(
    incident: Incident, time_machine: Any, settings: Any
) -> None:
    time_machine.move_to(START + timedelta(seconds=settings.RECONCILE_GRACE_SECONDS - 1))
    Notification.objects.update(status=Notification.Status.SENT)
    time_machine.move_to(incident.next_escalation_at)

    assert reconcile() == {"escalations": 0, "deliveries": 0, "shift_notices": 0}
    assert queued("escalation") == []


def test_overdue_escalation_step_and_delivery_are_re_enqueued(
    incident: Incident, time_machine: Any
) -> None:
    time_machine.move_to(incident.next_escalation_at + timedelta(minutes=1))

    assert reconcile() == {"escalations": 1, "deliveries": 1, "shift_notices": 0}

    assert queued("escalation") == [
        ("incidents.jobs.escalation_step", (incident.pk, incident.active_job_id))
    ]
    notification = incident.notifications.get()
    assert queued("notifications") == [("incidents.jobs.deliver_notification", (notification.pk,))]


def test_sent_and_acknowledged_work_is_left_alone(incident: Incident, time_machine: Any) -> None:
    notification_deliver(notification_id=incident.notifications.get().pk)
    Incident.objects.filter(pk=incident.pk).update(status=Incident.Status.ACKNOWLEDGED)
    time_machine.move_to(START + timedelta(hours=1))

    assert reconcile() == {"escalations": 0, "deliveries": 0, "shift_notices": 0}


def test_waking_the_reconciler_is_throttled_across_workers(redis_conn: Any) -> None:
    for _ in range(3):
        wake_reconciler(redis_conn)

    assert queued("escalation") == [("incidents.jobs.reconcile", ())]
