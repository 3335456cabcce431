"""Delivering pages from the outbox: send once, retry transient failures with backoff."""

import logging
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
from incidents.models import IncidentEvent, Notification
from incidents.services.actors import SYSTEM
from incidents.services.scheduling import schedule_delivery
from incidents.services.timeline import record_event

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
MAX_RETRY_AFTER = timedelta(hours=1)


def notification_deliver(*, notification_id: int) -> str:
    """Send one outbox row if it is still pending and due. Returns what happened.

    The row stays locked while the channel sends, so two workers can never send it at once;
    once marked sent it is never sent again. (A crash after the send but before the commit
    leaves it pending and it is sent once more; the channel passes the idempotency key on so
    the far end can drop that copy.)
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("incident__service", "user")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.status != Notification.Status.PENDING:
            return "skipped"
        if timezone.now() < notification.next_attempt_at:
            schedule_delivery(notification.pk, notification.next_attempt_at)
            return "early"
        outcome = _attempt(notification)
        notification.save()
    return outcome


def _attempt(notification: Notification) -> str:
    notification.attempts += 1
    try:
        channel_for(notification.channel).send(render_page(notification))
    except PermanentDeliveryError as exc:
        return _give_up(notification, str(exc))
    except TransientDeliveryError as exc:
        return _retry_later(notification, str(exc), exc.retry_after)
    except Exception as exc:
        # An unexpected error is treated as transient: losing a page is worse than retrying.
        logger.exception("Delivery of notification %s failed unexpectedly", notification.pk)
        return _retry_later(notification, f"{type(exc).__name__}: {exc}", None)
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
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        return _give_up(notification, f"gave up after {notification.attempts} attempts: {error}")
    delay = min(timedelta(seconds=30 * 2 ** (notification.attempts - 1)), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    notification.last_error = error
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
    }
    subject = render_to_string("incidents/email/page_subject.txt", context)
    return Message(
        address=notification.address,
        subject=" ".join(subject.split())[:200],
        body=render_to_string("incidents/email/page_body.txt", context),
        idempotency_key=notification.idempotency_key,
    )
