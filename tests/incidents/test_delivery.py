"""Delivering pages from the outbox."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail.utils import DNS_NAME
from rq.timeouts import JobTimeoutException

from escalation.channels import PermanentDeliveryError, TransientDeliveryError
from escalation.channels.email import EmailChannel
from incidents.models import Incident, IncidentEvent, Notification
from incidents.services import SYSTEM, alert_ingest, incident_acknowledge, notification_deliver
from incidents.services.delivery import SEND_LEASE
from tests.conftest import Setup, trigger_event

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def page(setup: Setup, time_machine: Any) -> Notification:
    time_machine.move_to(START, tick=False)
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Notification.objects.get(incident_id=result.incident_id)


@pytest.fixture
def failing_channel(monkeypatch: pytest.MonkeyPatch) -> list[Exception]:
    """Make the e-mail channel raise the queued errors, one per attempt."""
    errors: list[Exception] = []

    def send(self: EmailChannel, message: Any) -> None:
        raise errors.pop(0)

    monkeypatch.setattr(EmailChannel, "send", send)
    return errors


def test_delivery_sends_one_email_and_records_it(page: Notification) -> None:
    assert notification_deliver(notification_id=page.pk) == "sent"

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["alice@example.com"]
    assert email.subject == f"[Watchstander] #{page.incident_id} CRITICAL: Disk full on db-1"
    assert f"/admin/incidents/incident/{page.incident_id}/change/" in email.body
    assert f"/api/v1/incidents/{page.incident_id}/acknowledge/" in email.body
    assert page.idempotency_key in email.extra_headers["Message-ID"]
    page.refresh_from_db()
    assert (page.status, page.attempts, page.sent_at) == ("sent", 1, START)
    assert page.incident.events.last().kind == IncidentEvent.Kind.NOTIFIED


def test_a_sent_page_is_never_sent_again(page: Notification) -> None:
    notification_deliver(notification_id=page.pk)

    assert notification_deliver(notification_id=page.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_transient_failure_retries_with_backoff(
    page: Notification, failing_channel: list[Exception]
) -> None:
    failing_channel += [TransientDeliveryError("timeout"), TransientDeliveryError("timeout")]

    assert notification_deliver(notification_id=page.pk) == "retry"
    page.refresh_from_db()
    assert (page.status, page.attempts, page.last_error) == ("pending", 1, "timeout")
    assert page.next_attempt_at == START + timedelta(seconds=30)

    assert notification_deliver(notification_id=page.pk) == "early"

    page.next_attempt_at = START
    page.save()
    assert notification_deliver(notification_id=page.pk) == "retry"
    page.refresh_from_db()
    assert page.next_attempt_at == START + timedelta(seconds=60)


def test_retry_after_from_the_far_end_is_honoured(
    page: Notification, failing_channel: list[Exception]
) -> None:
    failing_channel.append(TransientDeliveryError("429", retry_after=600))

    notification_deliver(notification_id=page.pk)

    page.refresh_from_db()
    assert page.next_attempt_at == START + timedelta(seconds=600)


def test_gives_up_after_the_maximum_attempts(
    page: Notification, settings: Any, failing_channel: list[Exception]
) -> None:
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    failing_channel += [TransientDeliveryError("down"), TransientDeliveryError("still down")]
    notification_deliver(notification_id=page.pk)
    Notification.objects.filter(pk=page.pk).update(next_attempt_at=START)

    assert notification_deliver(notification_id=page.pk) == "failed"

    page.refresh_from_db()
    assert page.status == Notification.Status.FAILED
    assert "still down" in page.last_error
    assert page.incident.events.last().kind == IncidentEvent.Kind.NOTIFICATION_FAILED


def test_permanent_failure_is_not_retried(
    page: Notification, failing_channel: list[Exception]
) -> None:
    failing_channel.append(PermanentDeliveryError("550 no such user"))

    assert notification_deliver(notification_id=page.pk) == "failed"
    assert notification_deliver(notification_id=page.pk) == "skipped"


def test_an_unexpected_error_is_retried_not_lost(
    page: Notification, failing_channel: list[Exception]
) -> None:
    failing_channel.append(RuntimeError("template blew up"))

    assert notification_deliver(notification_id=page.pk) == "retry"
    page.refresh_from_db()
    assert page.status == "pending"
    assert "RuntimeError" in page.last_error


def test_pages_for_an_acknowledged_incident_are_not_sent(page: Notification) -> None:
    incident_acknowledge(incident_id=page.incident_id, actor=SYSTEM)

    assert notification_deliver(notification_id=page.pk) == "skipped"
    assert mail.outbox == []
    assert Incident.objects.get(pk=page.incident_id).status == "acknowledged"


def test_a_claimed_page_is_not_sent_by_a_second_worker(
    page: Notification, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one worker is sending (its claim committed), another delivery of the same row
    does nothing."""
    outcomes = []

    def send_and_race(self: EmailChannel, message: Any) -> None:
        outcomes.append(notification_deliver(notification_id=page.pk))

    monkeypatch.setattr(EmailChannel, "send", send_and_race)

    assert notification_deliver(notification_id=page.pk) == "sent"
    assert outcomes == ["skipped"]


def test_an_abandoned_claim_is_retried_after_its_lease(
    page: Notification, time_machine: Any
) -> None:
    Notification.objects.filter(pk=page.pk).update(
        status=Notification.Status.SENDING, attempts=1, next_attempt_at=START + SEND_LEASE
    )

    assert notification_deliver(notification_id=page.pk) == "skipped"
    time_machine.move_to(START + SEND_LEASE)
    assert notification_deliver(notification_id=page.pk) == "sent"

    page.refresh_from_db()
    assert (page.status, page.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1


def test_acknowledged_while_sending_a_failed_attempt_is_not_retried(
    page: Notification, monkeypatch: pytest.MonkeyPatch
) -> None:
    def acknowledge_then_fail(self: EmailChannel, message: Any) -> None:
        incident_acknowledge(incident_id=page.incident_id, actor=SYSTEM)
        raise TransientDeliveryError("timeout")

    monkeypatch.setattr(EmailChannel, "send", acknowledge_then_fail)

    assert notification_deliver(notification_id=page.pk) == "cancelled"
    page.refresh_from_db()
    assert page.status == Notification.Status.CANCELLED


def test_every_attempt_of_a_page_carries_the_same_message_id(page: Notification) -> None:
    # Sent twice, as a worker dying between the send and its record would do.
    notification_deliver(notification_id=page.pk)
    Notification.objects.filter(pk=page.pk).update(
        status=Notification.Status.PENDING, next_attempt_at=START
    )
    notification_deliver(notification_id=page.pk)

    ids = {email.extra_headers["Message-ID"] for email in mail.outbox}
    assert len(mail.outbox) == 2
    assert ids == {f"<{page.idempotency_key}@{DNS_NAME}>"}


# --- Nothing is sent for an incident that is no longer triggered ----------------------------


def claim_and_die(notification: Notification) -> None:
    """A worker claims the row (its lease committed) and dies before it sends anything."""
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENDING, attempts=1, next_attempt_at=START + SEND_LEASE
    )


def test_a_dead_workers_claim_is_not_sent_once_the_incident_is_acknowledged(
    page: Notification, time_machine: Any
) -> None:
    claim_and_die(page)
    incident_acknowledge(incident_id=page.incident_id, actor=SYSTEM)  # within the lease
    time_machine.move_to(START + SEND_LEASE)  # the reconciler brings the claim back

    assert notification_deliver(notification_id=page.pk) == "cancelled"

    assert mail.outbox == []
    page.refresh_from_db()
    assert page.status == Notification.Status.CANCELLED
    assert page.last_error == "not sent: the incident was acknowledged first"


def test_acknowledging_cancels_a_claim_whose_lease_is_over(
    page: Notification, time_machine: Any
) -> None:
    claim_and_die(page)
    time_machine.move_to(START + SEND_LEASE)

    incident_acknowledge(incident_id=page.incident_id, actor=SYSTEM)

    page.refresh_from_db()
    assert page.status == Notification.Status.CANCELLED
    assert notification_deliver(notification_id=page.pk) == "skipped"
    assert mail.outbox == []


def test_a_claim_in_its_lease_is_left_to_the_worker_sending_it(page: Notification) -> None:
    # That worker may be talking to the mail server right now: its result is what counts.
    claim_and_die(page)

    incident_acknowledge(incident_id=page.incident_id, actor=SYSTEM)

    page.refresh_from_db()
    assert page.status == Notification.Status.SENDING


def test_a_pending_row_of_a_resolved_incident_is_cancelled_not_sent(page: Notification) -> None:
    # Acknowledge and resolve cancel pending rows themselves; a row they missed (written by a
    # racing escalation step, say) is still never sent.
    Incident.objects.filter(pk=page.incident_id).update(status=Incident.Status.RESOLVED)

    assert notification_deliver(notification_id=page.pk) == "cancelled"

    assert mail.outbox == []
    page.refresh_from_db()
    assert page.last_error == "not sent: the incident was resolved first"


# --- Job timeouts and unexpected errors ------------------------------------------------------


def test_the_job_timeout_is_not_taken_for_a_failed_attempt(
    page: Notification, monkeypatch: pytest.MonkeyPatch, time_machine: Any
) -> None:
    """RQ ends an overrunning job by raising JobTimeoutException inside it. It must end the
    job: the claim then expires like a dead worker's, and the page is tried again."""
    send = EmailChannel.send

    def overrun_once(self: EmailChannel, message: Any) -> None:
        monkeypatch.setattr(EmailChannel, "send", send)
        raise JobTimeoutException("Task exceeded maximum timeout value (120 seconds)")

    monkeypatch.setattr(EmailChannel, "send", overrun_once)

    with pytest.raises(JobTimeoutException):
        notification_deliver(notification_id=page.pk)

    page.refresh_from_db()
    assert (page.status, page.attempts, page.last_error) == ("sending", 1, "")
    time_machine.move_to(START + SEND_LEASE)
    assert notification_deliver(notification_id=page.pk) == "sent"
    assert len(mail.outbox) == 1


def test_an_unexpected_errors_text_is_kept_off_the_timeline(
    page: Notification, failing_channel: list[Exception]
) -> None:
    # It may quote the address (a webhook URL with its secret); the worker's log has it all.
    failing_channel.append(ValueError("cannot post to https://hooks.example.com/T0/s3cr3t"))

    assert notification_deliver(notification_id=page.pk) == "retry"

    page.refresh_from_db()
    assert page.last_error == "unexpected ValueError (see the worker's log)"
