"""Delivering pages from the outbox: send once, retry transient failures with backoff."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from escalation.channels import (
    PermanentDeliveryError,
    TransientDeliveryError,
    channel_for,
    display_address,
)
from incidents.models import Incident, IncidentEvent, Notification
from incidents.services.actors import SYSTEM
from incidents.services.messages import render_message
from incidents.services.scheduling import schedule_delivery
from incidents.services.timeline import record_event

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
MAX_RETRY_AFTER = timedelta(hours=1)


# How long a claimed page may take to send before another worker may try it again. Longer
# than the notifications queue's job timeout, so only a dead worker's claim ever expires.
SEND_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    result: str  # "sent", "retry" or "failed"
    error: str = ""
    retry_after: float | None = None


def notification_deliver(*, notification_id: int) -> str:
    """Send one outbox row if it is still pending and due. Returns what happened.

    Claim, send, record: the claim (status "sending" with a lease) is committed before the far
    end is called, so no database lock is held while a mail server or an API answers, and two
    workers can never send the same row. Once recorded as sent it is never sent again. A worker
    that dies mid-send leaves the claim to expire; the page is then tried again (a page is
    better twice than never) and carries the same idempotency key for the far end to drop.
    """
    claimed = _claim(notification_id)
    if isinstance(claimed, str):
        return claimed
    return _record(claimed.pk, _send(claimed))


def _claim(notification_id: int) -> Notification | str:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("incident__service__team", "schedule__team", "user")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return "skipped"
        now = timezone.now()
        abandoned = notification.status == Notification.Status.SENDING and (
            notification.next_attempt_at <= now
        )
        if notification.status != Notification.Status.PENDING and not abandoned:
            return "skipped"
        incident_status = _incident_status(notification)
        if incident_status not in (None, Incident.Status.TRIGGERED):
            return _cancel(notification, incident_status)
        if not abandoned and now < notification.next_attempt_at:
            schedule_delivery(notification.pk, notification.next_attempt_at)
            return "early"
        if abandoned:
            notification.last_error = "the previous attempt's worker stopped while sending"
        notification.status = Notification.Status.SENDING
        notification.attempts += 1
        notification.next_attempt_at = now + SEND_LEASE
        notification.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    return notification


def _incident_status(notification: Notification) -> str | None:
    """The status of the row's incident (None for a shift notice, which has none). Once it is
    not triggered, its pages and notices are moot: acknowledging cancels the pending rows, but
    not a claim whose worker died, which the reconciler brings back here when its lease ends.

    Read afresh rather than from the join above, so that it is the status committed after
    this row's lock was won."""
    if notification.incident_id is None:
        return None
    return (
        Incident.objects.filter(pk=notification.incident_id)
        .values_list("status", flat=True)
        .first()
    )


def _cancel(notification: Notification, incident_status: str) -> str:
    notification.status = Notification.Status.CANCELLED
    label = Incident.Status(incident_status).label.lower()
    notification.last_error = f"not sent: the incident was {label} first"
    notification.save(update_fields=["status", "last_error"])
    return "cancelled"


def _send(notification: Notification) -> Outcome:
    try:
        channel_for(notification.channel).send(render_message(notification))
    except PermanentDeliveryError as exc:
        return Outcome("failed", str(exc))
    except TransientDeliveryError as exc:
        return Outcome("retry", str(exc), exc.retry_after)
    except JobTimeoutException:
        # RQ stops a job that overran its timeout by raising this inside it. The job is over:
        # recording anything now would run on borrowed time, and "retry" here would hide the
        # overrun. The claim stays, its lease expires, and the reconciler tries the row again.
        raise
    except Exception as exc:
        # An unexpected error is treated as transient: losing a page is worse than retrying.
        logger.exception("Delivery of notification %s failed unexpectedly", notification.pk)
        # Only its type for the timeline, which the whole team reads: its text may quote the
        # address (a webhook URL and its secret). The worker's log has the rest.
        return Outcome("retry", f"unexpected {type(exc).__name__} (see the worker's log)")
    return Outcome("sent")


def _record(notification_id: int, outcome: Outcome) -> str:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("incident", "user")
            .get(pk=notification_id)
        )
        if outcome.result == "sent":
            result = _sent(notification)
        elif outcome.result == "failed":
            result = _give_up(notification, outcome.error)
        else:
            result = _retry_later(notification, outcome.error, outcome.retry_after)
        notification.save()
    return result


def _sent(notification: Notification) -> str:
    notification.status = Notification.Status.SENT
    notification.sent_at = timezone.now()
    notification.last_error = ""
    if notification.incident is not None:
        record_event(
            notification.incident,
            IncidentEvent.Kind.NOTIFIED,
            _sent_message(notification),
            actor=SYSTEM,
            data={"notification": notification.pk, "channel": notification.channel},
        )
    return "sent"


def _sent_message(notification: Notification) -> str:
    who, level = notification.user.get_username(), notification.level_position
    how = _how(notification)
    if notification.purpose == Notification.Purpose.NOBODY_ON_CALL:
        return f"Told manager {who} {how} that level {level} had nobody to page."
    return f"Notified {who} {how} (level {level})."


def _how(notification: Notification) -> str:
    # The timeline is read by the whole team and kept in the audit log: never a full webhook
    # URL, which may carry its secret.
    where = display_address(notification.channel, notification.address)
    return f"by {notification.channel} at {where}"


def _retry_later(notification: Notification, error: str, retry_after: float | None) -> str:
    notification.last_error = error
    incident = notification.incident
    if incident is not None and incident.status != Incident.Status.TRIGGERED:
        # Acknowledged or resolved while this attempt was in flight: no second try.
        notification.status = Notification.Status.CANCELLED
        return "cancelled"
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        return _give_up(notification, f"gave up after {notification.attempts} attempts: {error}")
    delay = min(timedelta(seconds=30 * 2 ** (notification.attempts - 1)), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    notification.status = Notification.Status.PENDING
    notification.next_attempt_at = timezone.now() + delay
    schedule_delivery(notification.pk, notification.next_attempt_at)
    return "retry"


def _give_up(notification: Notification, error: str) -> str:
    notification.status = Notification.Status.FAILED
    notification.last_error = error
    if notification.incident is None:
        logger.warning("Gave up on notification %s: %s", notification.pk, error)
        return "failed"
    record_event(
        notification.incident,
        IncidentEvent.Kind.NOTIFICATION_FAILED,
        f"Could not notify {notification.user.get_username()} {_how(notification)}: {error}",
        actor=SYSTEM,
        data={"notification": notification.pk, "channel": notification.channel},
    )
    return "failed"
