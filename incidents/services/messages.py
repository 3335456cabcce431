"""What each kind of outbox row says: a page, a manager's "nobody on call" notice, a shift
notice. Rendered at send time from templates/incidents/email/<purpose>_{subject,body}.txt, and
as structured fields (Message.data) for the channels that post JSON: a webhook gets
{"type": <purpose>, "summary": <subject>, ...} with the incident or schedule it is about."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from escalation.channels import Message
from escalation.plan import PolicySnapshot, Step, next_step
from incidents.links import action_link_url
from incidents.models import Notification
from incidents.urgency import urgency_of
from schedules.oncall import local_naive, zone
from schedules.selectors import layer_zone_at
from schedules.stretches import TINY

Purpose = Notification.Purpose
T = TypeVar("T")


def render_message(notification: Notification) -> Message:
    context = _CONTEXTS[notification.purpose](notification)
    context["notification"] = notification
    template = f"incidents/email/{notification.purpose}"
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())[:200]
    return Message(
        address=notification.address,
        subject=subject,
        body=render_to_string(f"{template}_body.txt", context),
        idempotency_key=notification.idempotency_key,
        data={
            "type": notification.purpose,
            "summary": subject,
            "person": notification.user.get_username(),
            **_DATA[notification.purpose](notification, context),
        },
    )


def _absolute(name: str, *args: Any) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _present(value: T | None, what: str) -> T:
    # The table's check constraint guarantees each purpose its subject.
    if value is None:
        raise ValueError(f"this notification has no {what}")
    return value


def _incident_context(notification: Notification) -> dict[str, Any]:
    incident = _present(notification.incident, "incident")
    return {
        "incident": incident,
        "service": incident.service,
        "admin_url": _absolute("admin:incidents_incident_change", incident.pk),
    }


def _page_context(notification: Notification) -> dict[str, Any]:
    return {
        **_incident_context(notification),
        # Set on the page of a reassignment: who handed it over, and their note.
        "reassignment": notification.detail,
        "acknowledge_url": _absolute("api:incident-acknowledge", notification.incident_id),
        "acknowledge_link": action_link_url(notification, "acknowledge"),
        "resolve_link": action_link_url(notification, "resolve"),
    }


def _nobody_context(notification: Notification) -> dict[str, Any]:
    return {
        **_incident_context(notification),
        "reason": notification.detail,
        "next_level": _next_level(notification),
    }


def _next_level(notification: Notification) -> dict[str, int] | None:
    """The level escalation moved on to after this notice's empty one, {"position", "loop"};
    None if that was the policy's last (and its repeats are used up). The same walk as the
    engine's (escalation.plan.next_step), over the incident's frozen snapshot."""
    incident = _present(notification.incident, "incident")
    snapshot: PolicySnapshot = incident.escalation_snapshot  # type: ignore[assignment]
    positions = [level["position"] for level in snapshot.get("levels", [])]
    if notification.level_position not in positions:
        return None
    index = positions.index(notification.level_position)
    step = next_step(snapshot, Step(level_index=index, loop=notification.loop))
    if step is None:
        return None
    return {"position": positions[step.level_index], "loop": step.loop}


def _shift_context(notification: Notification) -> dict[str, Any]:
    """The time is told in the zone the person keeps their hours in: their layer's own, when
    it names one (follow the sun), then in the schedule's too; else the schedule's."""
    schedule = _present(notification.schedule, "schedule")
    shift_at = _present(notification.shift_at, "shift time")
    # A start notice is about the shift beginning then; an end notice, the one ending then.
    during = shift_at if notification.purpose == Purpose.SHIFT_START else shift_at - TINY
    local_zone = layer_zone_at(schedule.pk, during, notification.user_id) or schedule.time_zone
    return {
        "user": notification.user,
        "schedule": schedule,
        "local_zone": local_zone,
        "local_at": local_naive(shift_at, zone(local_zone)),
        "schedule_local_at": (
            local_naive(shift_at, zone(schedule.time_zone))
            if local_zone != schedule.time_zone
            else None
        ),
        "schedule_url": _absolute("admin:schedules_schedule_change", schedule.pk),
        "settings_url": _absolute("admin:schedules_personsettings_changelist"),
    }


_CONTEXTS: dict[str, Callable[[Notification], dict[str, Any]]] = {
    Purpose.PAGE: _page_context,
    Purpose.NOBODY_ON_CALL: _nobody_context,
    Purpose.SHIFT_START: _shift_context,
    Purpose.SHIFT_END: _shift_context,
}


# --- Structured fields, for channels that post JSON ------------------------------------------


def _incident_data(notification: Notification, context: dict[str, Any]) -> dict[str, Any]:
    incident = context["incident"]
    return {
        "incident": {
            "id": incident.pk,
            "title": incident.title,
            "severity": incident.severity,
            "urgency": str(urgency_of(incident.severity)),
            "status": incident.status,
            "service": {"id": incident.service_id, "name": context["service"].name},
            "created_at": incident.created_at.isoformat(),
            "url": context["admin_url"],
        },
        "level": notification.level_position,
        "loop": notification.loop,
    }


def _page_data(notification: Notification, context: dict[str, Any]) -> dict[str, Any]:
    return {
        **_incident_data(notification, context),
        # Signed, expiring, for the person paged: a GET shows a confirmation page.
        "acknowledge_link": context["acknowledge_link"],
        "resolve_link": context["resolve_link"],
        "acknowledge_api_url": context["acknowledge_url"],
        "reassignment": context["reassignment"] or None,
    }


def _nobody_data(notification: Notification, context: dict[str, Any]) -> dict[str, Any]:
    return {
        **_incident_data(notification, context),
        "reason": context["reason"],
        "next_level": context["next_level"],
    }


def _shift_data(notification: Notification, context: dict[str, Any]) -> dict[str, Any]:
    schedule = context["schedule"]
    return {
        "schedule": {"id": schedule.pk, "name": schedule.name, "url": context["schedule_url"]},
        "at": _present(notification.shift_at, "shift time").isoformat(),
        "time_zone": schedule.time_zone,
    }


_DATA: dict[str, Callable[[Notification, dict[str, Any]], dict[str, Any]]] = {
    Purpose.PAGE: _page_data,
    Purpose.NOBODY_ON_CALL: _nobody_data,
    Purpose.SHIFT_START: _shift_data,
    Purpose.SHIFT_END: _shift_data,
}
