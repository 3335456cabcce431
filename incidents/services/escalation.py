"""The escalation engine: page a level, arm the timer for the next one, stop when told.

Every function here expects the incident row to be locked by the caller's transaction.
"""

import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from escalation.contact import ContactPoint, contact_points
from escalation.plan import (
    PolicySnapshot,
    Step,
    first_step,
    level_at,
    level_delay,
    level_targets,
    next_step,
    policy_snapshot,
)
from incidents.models import Incident, IncidentEvent, Notification
from incidents.services.actors import SYSTEM
from incidents.services.scheduling import (
    cancel_job_on_commit,
    schedule_delivery,
    schedule_escalation_step,
)
from incidents.services.timeline import record_event
from schedules.models import Schedule


def escalation_start(incident: Incident) -> None:
    """Freeze the service's policy on the incident and page its first level."""
    snapshot = policy_snapshot(incident.service.escalation_policy)
    incident.escalation_snapshot = dict(snapshot)
    _page_from(incident, snapshot, first_step(snapshot))


def escalation_advance(incident: Incident) -> None:
    """The current level timed out: page the next step, or record that the policy ran out."""
    snapshot: PolicySnapshot = incident.escalation_snapshot  # type: ignore[assignment]
    current = Step(level_index=incident.level_index or 0, loop=incident.loop)
    escalation_disarm(incident)
    _page_from(incident, snapshot, next_step(snapshot, current))


def escalation_disarm(incident: Incident) -> None:
    cancel_job_on_commit(incident.active_job_id)
    incident.active_job_id = ""
    incident.next_escalation_at = None


def _page_from(incident: Incident, snapshot: PolicySnapshot, step: Step | None) -> None:
    # A level that reaches nobody must not leave the incident unpaged for its whole delay:
    # record it and move on at once. Terminates because next_step() runs out.
    now = timezone.now()
    while step is not None:
        if _page_level(incident, snapshot, step, now):
            _arm(incident, now + level_delay(snapshot, step))
            return
        step = next_step(snapshot, step)
    record_event(
        incident,
        IncidentEvent.Kind.EXHAUSTED,
        "Escalation policy exhausted: nobody acknowledged, no further pages will be sent.",
        actor=SYSTEM,
    )


def _arm(incident: Incident, due: datetime) -> None:
    token = f"esc-{incident.pk}-{secrets.token_hex(8)}"
    incident.active_job_id = token
    incident.next_escalation_at = due
    schedule_escalation_step(incident.pk, token, due, job_id=token)


def _page_level(incident: Incident, snapshot: PolicySnapshot, step: Step, now: datetime) -> bool:
    level = level_at(snapshot, step)
    incident.level_index, incident.loop = step.level_index, step.loop
    user_ids, empty_schedules = level_targets(level, now)
    if empty_schedules:
        _record_nobody_on_call(incident, level["position"], empty_schedules)
    users = get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    paged: list[str] = []
    unreachable: list[str] = []
    for user in users.order_by("username"):
        points = contact_points(user)
        for point in points:
            _queue_page(incident, user, point, level["position"], step.loop, now)
        (paged if points else unreachable).append(user.get_username())
    _record_page(incident, level["position"], step, paged, unreachable)
    return bool(paged)


def _queue_page(
    incident: Incident, user: Any, point: ContactPoint, position: int, loop: int, now: datetime
) -> None:
    notification = Notification.objects.create(
        incident=incident,
        user=user,
        channel=point.channel,
        address=point.address,
        level_position=position,
        loop=loop,
        next_attempt_at=now,
        idempotency_key=f"i{incident.pk}-p{position}-l{loop}-u{user.pk}-{point.channel}",
    )
    schedule_delivery(notification.pk)


def _record_nobody_on_call(incident: Incident, position: int, schedule_ids: list[int]) -> None:
    names = ", ".join(
        Schedule.objects.filter(pk__in=schedule_ids).order_by("name").values_list("name", flat=True)
    )
    record_event(
        incident,
        IncidentEvent.Kind.NOBODY_TO_PAGE,
        f"Nobody on call in {names} for level {position}.",
        actor=SYSTEM,
        data={"level": position, "schedules": schedule_ids},
    )


def _record_page(
    incident: Incident, position: int, step: Step, paged: list[str], unreachable: list[str]
) -> None:
    where = f"level {position}" + (f" (repeat {step.loop})" if step.loop else "")
    data = {"level": position, "loop": step.loop, "paged": paged, "unreachable": unreachable}
    if paged:
        message = f"Escalated to {where}: paging {', '.join(paged)}."
        if unreachable:
            message += f" No contact method for {', '.join(unreachable)}."
        record_event(incident, IncidentEvent.Kind.ESCALATED, message, actor=SYSTEM, data=data)
    else:
        message = f"Nobody to page at {where}; moving on to the next level."
        record_event(incident, IncidentEvent.Kind.NOBODY_TO_PAGE, message, actor=SYSTEM, data=data)
