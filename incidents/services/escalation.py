"""The escalation engine: page a level, arm the timer for the next one, stop when told.

Every function here expects the incident row to be locked by the caller's transaction.
"""

import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from escalation.contact import ContactPoint, contact_points, notice_points
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
from incidents.urgency import urgency_of
from schedules.models import Schedule, TeamMembership


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
    told: set[int] = set()  # levels whose emptiness the managers heard of in this pass
    while step is not None:
        if _page_level(incident, snapshot, step, now, told):
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


def _page_level(
    incident: Incident, snapshot: PolicySnapshot, step: Step, now: datetime, told: set[int]
) -> bool:
    level = level_at(snapshot, step)
    incident.level_index, incident.loop = step.level_index, step.loop
    user_ids, empty_schedules = level_targets(level, now)
    nobody_on_call = _record_nobody_on_call(incident, level["position"], empty_schedules)
    users = get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    urgency = urgency_of(incident.severity)
    paged: list[str] = []
    unreachable: list[str] = []
    for user in users.order_by("username"):
        # Each of the person's rules is a delivery of its own, due its delay after now; an
        # acknowledgement cancels those not yet sent. Queued at all counts as paged.
        points = contact_points(user, urgency)
        for point in points:
            _queue(incident, user, point, level["position"], step.loop, now)
        (paged if points else unreachable).append(user.get_username())
    _record_page(incident, level["position"], step, paged, unreachable)
    if not paged and level["position"] not in told:
        # Once per level and pass: a policy that repeats runs through its empty levels again
        # in the same instant, and the managers need to hear of each hole once, not per loop.
        told.add(level["position"])
        reasons = [nobody_on_call] if nobody_on_call else []
        if unreachable:
            reasons.append(f"No contact method for {', '.join(unreachable)}.")
        _tell_managers(incident, level["position"], step.loop, " ".join(reasons), now)
    return bool(paged)


def _queue(
    incident: Incident,
    user: Any,
    point: ContactPoint,
    position: int,
    loop: int,
    now: datetime,
    *,
    purpose: str = Notification.Purpose.PAGE,
    detail: str = "",
    key: str = "",
) -> None:
    """Put one delivery into the outbox, due `point.delay` after `now`.

    Its idempotency key names the level, loop, person and contact point, so each is queued
    once (the unique key refuses a second). `key` names an occasion that may recur at the same
    level and loop (a reassignment); by default the purpose does, and a page has none."""
    occasion = key or ("" if purpose == Notification.Purpose.PAGE else purpose)
    prefix = f"{occasion}-" if occasion else ""
    notification = Notification.objects.create(
        purpose=purpose,
        incident=incident,
        user=user,
        channel=point.channel,
        address=point.address,
        level_position=position,
        loop=loop,
        next_attempt_at=now + point.delay,
        idempotency_key=f"{prefix}i{incident.pk}-p{position}-l{loop}-u{user.pk}-{point.key}",
        detail=detail[:500],
    )
    schedule_delivery(notification.pk, notification.next_attempt_at)


def _tell_managers(
    incident: Incident, position: int, loop: int, reason: str, now: datetime
) -> None:
    """A level that reached nobody is a hole in the team's cover: its managers hear of it
    (by the same outbox as a page) while the escalation moves on to the next level.

    Through every address of each manager's rules for the incident's urgency, at once: rule
    delays pace a page until it is acknowledged, and this notice asks for no acknowledgement."""
    managers = get_user_model().objects.filter(
        is_active=True,
        team_memberships__team_id=incident.service.team_id,
        team_memberships__role=TeamMembership.Role.MANAGER,
    )
    urgency = urgency_of(incident.severity)
    for manager in managers.order_by("username"):
        for point in notice_points(manager, urgency):
            _queue(
                incident,
                manager,
                point,
                position,
                loop,
                now,
                purpose=Notification.Purpose.NOBODY_ON_CALL,
                detail=reason or f"Level {position} has no one to page.",
            )


def _record_nobody_on_call(incident: Incident, position: int, schedule_ids: list[int]) -> str:
    """Record the level's schedules that had nobody on call; returns what was recorded."""
    if not schedule_ids:
        return ""
    names = ", ".join(
        Schedule.objects.filter(pk__in=schedule_ids).order_by("name").values_list("name", flat=True)
    )
    message = f"Nobody on call in {names} for level {position}."
    record_event(
        incident,
        IncidentEvent.Kind.NOBODY_TO_PAGE,
        message,
        actor=SYSTEM,
        data={"level": position, "schedules": schedule_ids},
    )
    return message


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


def escalation_reassign(incident: Incident, user: Any, *, reason: str) -> bool:
    """Page `user` at once as the incident's new assignee and restart the current level's
    timer: if they do not acknowledge within that level's delay, the policy goes on to its
    next level as if the level had timed out. Returns whether `user` has a way to be paged;
    the timer is restarted either way, so an unreachable assignee never stalls the incident.
    """
    now = timezone.now()
    escalation_disarm(incident)
    points = contact_points(user, urgency_of(incident.severity))
    # The assignee may have been paged at this level already, and every reassignment is a
    # page of its own: each is its own occasion.
    assignment = f"assign-{secrets.token_hex(4)}"
    position = incident.current_level or 0
    for point in points:
        _queue(incident, user, point, position, incident.loop, now, detail=reason, key=assignment)
    _rearm_current_level(incident, now)
    return bool(points)


def _rearm_current_level(incident: Incident, now: datetime) -> None:
    snapshot: PolicySnapshot = incident.escalation_snapshot  # type: ignore[assignment]
    if incident.level_index is None or not snapshot.get("levels"):
        return  # never escalated (a policy without levels): there is nothing to go on to
    current = Step(level_index=incident.level_index, loop=incident.loop)
    # Past the last level (and its repeats) there is no one left to escalate to.
    if next_step(snapshot, current) is not None:
        _arm(incident, now + level_delay(snapshot, current))
