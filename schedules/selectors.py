"""Loading schedules' rules for the pure functions in schedules.oncall, in a constant number of
queries (one per table) whatever the number of schedules, reading plain tuples (model
instances are ~8x slower to build for this; shared/STACK.md, section 10).

Only active members of a schedule's team are ever on call through it. Escalation pages only
active people, and a schedule is its team's, so anyone else (deactivated, or moved out of the
team since they were scheduled) is nobody here: their turns are gaps that lower layers fill,
their overrides do not count, and the timeline, feeds and gap warnings say so instead of
showing someone who will never be paged.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from schedules.models import (
    Override,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    TeamMembership,
)
from schedules.oncall import (
    UNCOMPUTABLE,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    oncall_at,
)

logger = logging.getLogger(__name__)

ScheduleIds = QuerySet[Schedule] | Iterable[int]


def _ids(schedules: ScheduleIds) -> Any:
    if isinstance(schedules, QuerySet):
        return schedules.values("pk")
    return list(schedules)


def _serving(teams: Iterable[int]) -> set[tuple[int, int]]:
    """(team id, user id) of the active members of `teams`: one small query, checked in
    Python, where a correlated subquery per participant row tripled the loading time."""
    return set(
        TeamMembership.objects.filter(team_id__in=set(teams), user__is_active=True).values_list(
            "team_id", "user_id"
        )
    )


def schedule_rules(
    schedules: ScheduleIds, *, window: tuple[datetime, datetime] | None = None
) -> dict[int, ScheduleRules]:
    """The rules of each schedule; overrides only those meeting `window` when given."""
    ids = _ids(schedules)
    rows = Schedule.objects.filter(pk__in=ids).values_list("pk", "time_zone", "team_id")
    zones = {pk: zone for pk, zone, _ in rows}
    team_of = {pk: team for pk, _, team in rows}
    serving = _serving(team_of.values())
    participants: defaultdict[int, list[int | None]] = defaultdict(list)
    for rotation_id, schedule_id, user_id in (
        RotationParticipant.objects.filter(rotation__schedule_id__in=ids)
        .order_by("rotation_id", "position", "pk")
        .values_list("rotation_id", "rotation__schedule_id", "user_id")
    ):
        # Their place stays, empty: dropping it would shift everyone else's turns.
        serves = (team_of[schedule_id], user_id) in serving
        participants[rotation_id].append(user_id if serves else None)
    restrictions = defaultdict(list)
    for rotation_id, start_day, start_time, end_day, end_time in Restriction.objects.filter(
        rotation__schedule_id__in=ids
    ).values_list("rotation_id", "start_day", "start_time", "end_day", "end_time"):
        restrictions[rotation_id].append(RestrictionRule(start_day, start_time, end_day, end_time))
    layers = defaultdict(list)
    for pk, schedule_id, priority, start, end, length, unit in Rotation.objects.filter(
        schedule_id__in=ids
    ).values_list("pk", "schedule_id", "priority", "start", "end", "turn_length", "turn_unit"):
        layers[schedule_id].append(
            Layer(
                pk,
                priority,
                start,
                end,
                length,
                unit,
                tuple(participants[pk]),
                tuple(restrictions[pk]),
            )
        )
    overrides = defaultdict(list)
    override_rows = Override.objects.filter(schedule_id__in=ids)
    if window is not None:
        override_rows = override_rows.filter(start__lt=window[1], end__gt=window[0])
    for pk, schedule_id, user_id, start, end, created_at in override_rows.values_list(
        "pk", "schedule_id", "user_id", "start", "end", "created_at"
    ):
        if (team_of[schedule_id], user_id) in serving:
            overrides[schedule_id].append(OverrideRule(pk, user_id, start, end, created_at))
    return {
        pk: ScheduleRules(zone, tuple(layers[pk]), tuple(overrides[pk]))
        for pk, zone in zones.items()
    }


def oncall_user_ids(schedules: ScheduleIds, instant: datetime) -> dict[int, int | None]:
    """Who is on call at `instant` in each schedule (None where nobody is).

    A schedule whose rules cannot be computed (stored past schedules.limits) is logged and
    has nobody on call: it must not stop the page-out of a level (nor the intake that starts
    it) for every other schedule and person, and "nobody on call" is recorded on the incident
    and told to the team's managers, who can then repair it."""
    rules = schedule_rules(schedules, window=(instant, instant + timedelta(microseconds=1)))
    return {pk: _oncall_user_id(pk, rule, instant) for pk, rule in rules.items()}


def _oncall_user_id(schedule_id: int, rules: ScheduleRules, instant: datetime) -> int | None:
    try:
        shift = oncall_at(rules, instant)
    except UNCOMPUTABLE:
        logger.exception("Nobody on call in schedule %s: its rules cannot be computed", schedule_id)
        return None
    return shift.user_id if shift else None
