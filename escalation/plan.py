"""The escalation plan: a frozen snapshot of a policy and pure functions that walk it.

A snapshot is taken when an incident starts escalating, so editing the policy later never
disturbs a running escalation. Walking it has no I/O, which is what makes it easy to test.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from escalation.models import EscalationPolicy
from schedules.selectors import oncall_user_ids


class LevelSnapshot(TypedDict, total=False):
    position: int
    delay_seconds: float
    user_ids: list[int]
    schedule_ids: list[int]  # resolved to whoever is on call when the level fires


class PolicySnapshot(TypedDict):
    policy_id: int
    name: str
    repeat: int
    levels: list[LevelSnapshot]


@dataclass(frozen=True)
class Step:
    """One page of one level: `level_index` into the snapshot's levels, and which loop."""

    level_index: int
    loop: int


def policy_snapshot(policy: EscalationPolicy) -> PolicySnapshot:
    levels = policy.levels.order_by("position").prefetch_related("users", "schedules")
    return {
        "policy_id": policy.pk,
        "name": policy.name,
        "repeat": policy.repeat,
        "levels": [
            {
                "position": level.position,
                "delay_seconds": level.delay.total_seconds(),
                "user_ids": sorted(user.pk for user in level.users.all()),
                "schedule_ids": sorted(schedule.pk for schedule in level.schedules.all()),
            }
            for level in levels
        ],
    }


def first_step(snapshot: PolicySnapshot) -> Step | None:
    return Step(level_index=0, loop=0) if snapshot["levels"] else None


def next_step(snapshot: PolicySnapshot, current: Step) -> Step | None:
    """The step after `current`, or None when the policy (with its repeats) is exhausted."""
    if current.level_index + 1 < len(snapshot["levels"]):
        return Step(level_index=current.level_index + 1, loop=current.loop)
    if current.loop < snapshot["repeat"]:
        return Step(level_index=0, loop=current.loop + 1)
    return None


def level_at(snapshot: PolicySnapshot, step: Step) -> LevelSnapshot:
    return snapshot["levels"][step.level_index]


def level_delay(snapshot: PolicySnapshot, step: Step) -> timedelta:
    return timedelta(seconds=level_at(snapshot, step)["delay_seconds"])


def level_targets(level: LevelSnapshot, instant: datetime) -> tuple[list[int], list[int]]:
    """The users a level pages at `instant`: its users plus whoever is on call then in its
    schedules (resolved now, not when the policy was frozen). Also returns the schedules that
    had nobody on call, counting one whose rules cannot be computed: oncall_user_ids logs it
    and gives nobody rather than raising, so a bad row never stops the page (or the intake)."""
    schedule_ids = level.get("schedule_ids", [])
    on_call = oncall_user_ids(schedule_ids, instant) if schedule_ids else {}
    users = dict.fromkeys(level["user_ids"])
    users.update(dict.fromkeys(user for user in on_call.values() if user is not None))
    empty = [pk for pk in schedule_ids if on_call.get(pk) is None]
    return list(users), empty
