"""Delivering pages from the outbox: send once, retry transient failures with backoff."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from escalation.channels import (
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    channel_for,
)
from incidents.links import action_link_url
from incidents.models import Incident, IncidentEvent, Notification
from incidents.services.actors import SYSTEM
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
            .select_related("incident__service", "user")
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


def _send(notification: Notification) -> Outcome:
    try:
        channel_for(notification.channel).send(render_page(notification))
    except PermanentDeliveryError as exc:
        return Outcome("failed", str(exc))
    except TransientDeliveryError as exc:
        return Outcome("retry", str(exc), exc.retry_after)
    except Exception as exc:
        # An unexpected error is treated as transient: losing a page is worse than retrying.
        logger.exception("Delivery of notification %s failed unexpectedly", notification.pk)
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
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
    record_event(
        notification.incident,
        IncidentEvent.Kind.NOTIFIED,
        f"Notified {notification.user.get_username()} by {notification.channel} "
        f"at {notification.address} (level {notification.level_position}).",
        actor=SYSTEM,
        data={"notification": notification.pk, "channel": notification.channel},
    )
    return "sent"


def _retry_later(notification: Notification, error: str, retry_after: float | None) -> str:
    notification.last_error = error
    if notification.incident.status != Incident.Status.TRIGGERED:
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
    record_event(
        notification.incident,
        IncidentEvent.Kind.NOTIFICATION_FAILED,
        f"Could not notify {notification.user.get_username()} by {notification.channel} "
        f"at {notification.address}: {error}",
        actor=SYSTEM,
        data={"notification": notification.pk, "channel": notification.channel},
    )
    return "failed"


def render_page(notification: Notification) -> Message:
    incident = notification.incident
    context = {
        "incident": incident,
        "service": incident.service,
        "notification": notification,
        "admin_url": settings.SITE_URL
        + reverse("admin:incidents_incident_change", args=[incident.pk]),
        "acknowledge_url": settings.SITE_URL
        + reverse("api:incident-acknowledge", args=[incident.pk]),
        "acknowledge_link": action_link_url(notification, "acknowledge"),
        "resolve_link": action_link_url(notification, "resolve"),
    }
    subject = render_to_string("incidents/email/page_subject.txt", context)
    return Message(
        address=notification.address,
        subject=" ".join(subject.split())[:200],
        body=render_to_string("incidents/email/page_body.txt", context),
        idempotency_key=notification.idempotency_key,
    )
