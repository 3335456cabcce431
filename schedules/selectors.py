"""Loading schedules' rules for the pure functions in schedules.oncall, in a constant number of
queries (one per table) whatever the number of schedules, reading plain tuples (model
instances are ~8x slower to build for this; shared/STACK.md, section 10)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from schedules.models import Override, Restriction, Rotation, RotationParticipant, Schedule
from schedules.oncall import Layer, OverrideRule, RestrictionRule, ScheduleRules, oncall_at

ScheduleIds = QuerySet[Schedule] | Iterable[int]


def _ids(schedules: ScheduleIds) -> Any:
    if isinstance(schedules, QuerySet):
        return schedules.values("pk")
    return list(schedules)


def schedule_rules(
    schedules: ScheduleIds, *, window: tuple[datetime, datetime] | None = None
) -> dict[int, ScheduleRules]:
    """The rules of each schedule; overrides only those meeting `window` when given."""
    ids = _ids(schedules)
    zones = dict(Schedule.objects.filter(pk__in=ids).values_list("pk", "time_zone"))
    participants = defaultdict(list)
    for rotation_id, user_id in (
        RotationParticipant.objects.filter(rotation__schedule_id__in=ids)
        .order_by("rotation_id", "position", "pk")
        .values_list("rotation_id", "user_id")
    ):
        participants[rotation_id].append(user_id)
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
        overrides[schedule_id].append(OverrideRule(pk, user_id, start, end, created_at))
    return {
        pk: ScheduleRules(zone, tuple(layers[pk]), tuple(overrides[pk]))
        for pk, zone in zones.items()
    }


def oncall_user_ids(schedules: ScheduleIds, instant: datetime) -> dict[int, int | None]:
    """Who is on call at `instant` in each schedule (None where nobody is)."""
    rules = schedule_rules(schedules, window=(instant, instant + timedelta(microseconds=1)))
    return {
        pk: (shift.user_id if (shift := oncall_at(rule, instant)) else None)
        for pk, rule in rules.items()
    }
