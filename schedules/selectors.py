"""Loading schedules' rules for the pure functions in schedules.oncall, in a constant number of
queries (one per table) whatever the number of schedules, reading plain tuples (model
instances are ~8x slower to build for this; shared/STACK.md, section 10), unordered where
order does not matter (the models' default orderings join and sort by team and schedule
names: half the loading time of a thousand schedules).

Only active members of a schedule's team are ever on call through it. Escalation pages only
active people, and a schedule is its team's, so anyone else (deactivated, or moved out of the
team since they were scheduled) is nobody here: their turns are gaps that lower layers fill,
their overrides do not count, and the timeline, feeds and gap warnings say so instead of
showing someone who will never be paged.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db.models import DateTimeField, Func, QuerySet

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


def _serving(teams: Iterable[int]) -> dict[int, frozenset[int]]:
    """The active members of each of `teams`: one small query, checked in Python, where a
    correlated subquery per participant row tripled the loading time."""
    members = defaultdict(set)
    for team_id, user_id in TeamMembership.objects.filter(
        team_id__in=set(teams), user__is_active=True
    ).values_list("team_id", "user_id"):
        members[team_id].add(user_id)
    return defaultdict(frozenset, {team: frozenset(users) for team, users in members.items()})


class UtcInstant(Func):
    """A datetime column as its UTC wall-clock time: naive on PostgreSQL, aware in UTC
    elsewhere; `.replace(tzinfo=UTC)` makes either aware.

    On PostgreSQL, Django reads every timestamptz through a loader written in Python, about
    4 µs a value: a third of the time to load a thousand schedules' rotations. A timestamp
    without a zone goes through psycopg's C loader. (Other databases store UTC already and
    read the column as it is.)"""

    template = "%(expressions)s"
    output_field = DateTimeField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="(%(expressions)s AT TIME ZONE 'UTC')", **extra_context
        )


def schedule_rules(
    schedules: ScheduleIds, *, window: tuple[datetime, datetime] | None = None
) -> dict[int, ScheduleRules]:
    """The rules of each schedule; overrides only those meeting `window` when given."""
    ids = _ids(schedules)
    rows = Schedule.objects.filter(pk__in=ids).order_by().values_list("pk", "time_zone", "team_id")
    zones = {pk: zone for pk, zone, _ in rows}
    team_of = {pk: team for pk, _, team in rows}
    serving = _serving(team_of.values())
    rotations = list(
        Rotation.objects.filter(schedule_id__in=ids)
        .order_by()
        .values_list(
            "pk",
            "schedule_id",
            "priority",
            UtcInstant("start"),
            UtcInstant("end"),
            "turn_length",
            "turn_unit",
            "time_zone",
        )
    )
    in_order = RotationParticipant.objects.filter(rotation__schedule_id__in=ids).order_by(
        "rotation_id", "position", "pk"
    )
    people = {
        rotation_id: [user_id for _, user_id in group]
        for rotation_id, group in groupby(
            in_order.values_list("rotation_id", "user_id"), key=itemgetter(0)
        )
    }
    restrictions = defaultdict(list)
    rules: dict[tuple[Any, ...], RestrictionRule] = {}  # shared: the window cache's keys
    for row in (
        Restriction.objects.filter(rotation__schedule_id__in=ids)
        .order_by()
        .values_list("rotation_id", "start_day", "start_time", "end_day", "end_time")
    ):
        if (rule := rules.get(fields := row[1:])) is None:
            rule = rules[fields] = RestrictionRule(*fields)
        restrictions[row[0]].append(rule)
    layers = defaultdict(list)
    for pk, schedule_id, priority, start, end, length, unit, layer_zone in rotations:
        members = serving[team_of[schedule_id]]
        places = people.get(pk, ())
        # Someone who may not serve keeps their place, empty: dropping it would shift
        # everyone else's turns.
        turns = (
            tuple(places)
            if members.issuperset(places)
            else tuple(user if user in members else None for user in places)
        )
        layers[schedule_id].append(
            Layer(
                pk,
                priority,
                start.replace(tzinfo=UTC),
                end if end is None else end.replace(tzinfo=UTC),
                length,
                unit,
                turns,
                tuple(restrictions.get(pk, ())),
                layer_zone or None,
            )
        )
    overrides = defaultdict(list)
    override_rows = Override.objects.filter(schedule_id__in=ids).order_by()
    if window is not None:
        override_rows = override_rows.filter(start__lt=window[1], end__gt=window[0])
    for pk, schedule_id, user_id, start, end, created_at in override_rows.values_list(
        "pk",
        "schedule_id",
        "user_id",
        UtcInstant("start"),
        UtcInstant("end"),
        UtcInstant("created_at"),
    ):
        if user_id in serving[team_of[schedule_id]]:
            overrides[schedule_id].append(
                OverrideRule(
                    pk,
                    user_id,
                    start.replace(tzinfo=UTC),
                    end.replace(tzinfo=UTC),
                    created_at.replace(tzinfo=UTC),
                )
            )
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
