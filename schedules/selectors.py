"""Loading schedules' rules for the pure functions in schedules.oncall, in a constant number of
queries (one per table) whatever the number of schedules, reading plain tuples (model
instances are ~8x slower to build for this; shared/STACK.md, section 10), unordered where
order does not matter (the models' default orderings join and sort by team and schedule
names: half the loading time of a thousand schedules). Who is on call at one instant reads
the people of only the layers that can answer (oncall_user_ids).

Only active members of a schedule's team are ever on call through it. Escalation pages only
active people, and a schedule is its team's, so anyone else (deactivated, or moved out of the
team since they were scheduled) is nobody here: their turns are gaps that lower layers fill,
their overrides do not count, and the timeline, feeds and gap warnings say so instead of
showing someone who will never be paged.
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from django.db.models import DateTimeField, F, Func, Q, QuerySet
from django.db.models.lookups import In

from schedules.models import (
    Override,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    TeamMembership,
)
from schedules.oncall import (
    LAYER,
    UNCOMPUTABLE,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    layers_on_at,
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


class AnyOf(In):
    """`column IN (ids)` for a long list of ids: one array parameter on PostgreSQL (a thousand
    placeholders cost more to send and parse than the rows they select)."""

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


class RulesLoader:
    """The rules of some schedules, read table by table: every part at once but the layers'
    people, which are read for all layers (people()) or for some (people(of=...))."""

    def __init__(self, schedules: ScheduleIds, window: tuple[datetime, datetime] | None) -> None:
        self.ids = _ids(schedules)
        rows = (
            Schedule.objects.filter(pk__in=self.ids)
            .order_by()
            .values_list("pk", "time_zone", "team_id")
        )
        self.zones = {pk: zone for pk, zone, _ in rows}
        self.team_of = {pk: team for pk, _, team in rows}
        self.serving = _serving(self.team_of.values())
        self.rotations = self._rotations()
        self.schedule_of = {row[0]: row[1] for row in self.rotations}
        self.restrictions = self._restrictions()
        self.overrides = self._overrides(window)

    def _rotations(self) -> list[tuple[Any, ...]]:
        return list(
            Rotation.objects.filter(schedule_id__in=self.ids)
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

    def _restrictions(self) -> dict[int, list[RestrictionRule]]:
        restrictions = defaultdict(list)
        rules: dict[tuple[Any, ...], RestrictionRule] = {}  # shared: the window cache's keys
        for row in (
            Restriction.objects.filter(rotation__schedule_id__in=self.ids)
            .order_by()
            .values_list("rotation_id", "start_day", "start_time", "end_day", "end_time")
        ):
            if (rule := rules.get(fields := row[1:])) is None:
                rule = rules[fields] = RestrictionRule(*fields)
            restrictions[row[0]].append(rule)
        return restrictions

    def _overrides(self, window: tuple[datetime, datetime] | None) -> dict[int, list[Any]]:
        overrides = defaultdict(list)
        rows = Override.objects.filter(schedule_id__in=self.ids).order_by()
        if window is not None:
            rows = rows.filter(start__lt=window[1], end__gt=window[0])
        for pk, schedule_id, user_id, start, end, created_at in rows.values_list(
            "pk",
            "schedule_id",
            "user_id",
            UtcInstant("start"),
            UtcInstant("end"),
            UtcInstant("created_at"),
        ):
            if user_id in self.serving[self.team_of[schedule_id]]:
                overrides[schedule_id].append(
                    OverrideRule(
                        pk,
                        user_id,
                        start.replace(tzinfo=UTC),
                        end.replace(tzinfo=UTC),
                        created_at.replace(tzinfo=UTC),
                    )
                )
        return overrides

    def people(self, of: Collection[int] | None = None) -> dict[int, list[int]]:
        """User ids in turn order, by rotation: of every rotation, or of those in `of`."""
        if of is not None and not of:
            return {}
        places = RotationParticipant.objects.order_by("rotation_id", "position", "pk")
        if of is None:
            places = places.filter(rotation__schedule_id__in=self.ids)
        else:
            places = places.filter(AnyOf(F("rotation_id"), list(of)))
        return {
            rotation_id: [user_id for _, user_id in group]
            for rotation_id, group in groupby(
                places.values_list("rotation_id", "user_id"), key=itemgetter(0)
            )
        }

    def turns(self, schedule_id: int, places: Iterable[int]) -> tuple[int | None, ...]:
        """A layer's people in turn order, as the pure functions take them: someone who may
        not serve keeps their place, empty (dropping it would shift everyone else's turns)."""
        members = self.serving[self.team_of[schedule_id]]
        places = tuple(places)
        if members.issuperset(places):
            return places
        return tuple(user if user in members else None for user in places)

    def asking(
        self, rules: ScheduleRules, layers: list[Layer], people: dict[int, list[int]]
    ) -> ScheduleRules:
        """`rules` with only `layers`, holding their people: what oncall_at needs when they
        are the layers it would ask (schedules.oncall.layers_on_at)."""
        with_people = tuple(
            layer._replace(participants=self.turns(self.schedule_of[layer.id], people[layer.id]))
            for layer in layers
            if layer.id in people  # none: a layer without people has nobody
        )
        return ScheduleRules(rules.time_zone, with_people, rules.overrides)

    def rules(self, people: dict[int, list[int]]) -> dict[int, ScheduleRules]:
        """Each schedule's rules, its layers holding the people given (none where not)."""
        layers = defaultdict(list)
        for pk, schedule_id, priority, start, end, length, unit, layer_zone in self.rotations:
            turns = self.turns(schedule_id, people[pk]) if pk in people else ()
            layers[schedule_id].append(
                Layer(
                    pk,
                    priority,
                    start.replace(tzinfo=UTC),
                    end if end is None else end.replace(tzinfo=UTC),
                    length,
                    unit,
                    turns,
                    tuple(self.restrictions.get(pk, ())),
                    layer_zone or None,
                )
            )
        return {
            pk: ScheduleRules(zone, tuple(layers[pk]), tuple(self.overrides[pk]))
            for pk, zone in self.zones.items()
        }


def people_named(people: QuerySet[Any], refs: Sequence[int | str]) -> tuple[list[Any], list[str]]:
    """Those of `people` that `refs` (user ids, usernames) name, in order, repeats kept (one
    query); and the refs, as text and once each, that name none of them."""
    ids = [ref for ref in refs if isinstance(ref, int)]
    names = [ref for ref in refs if isinstance(ref, str)]
    by_ref: dict[int | str, Any] = {}
    for user in people.filter(Q(pk__in=ids) | Q(username__in=names)):
        by_ref[user.pk] = by_ref[user.username] = user
    unknown = list(dict.fromkeys(str(ref) for ref in refs if ref not in by_ref))
    return [by_ref[ref] for ref in refs if ref in by_ref], unknown


def schedules_of(user_ids: Collection[int], window: tuple[datetime, datetime]) -> set[int]:
    """The schedules where any of these people take turns, or cover an override meeting the
    window (a person's calendar feed, shift reminders)."""
    turns = RotationParticipant.objects.filter(user_id__in=user_ids).values_list(
        "rotation__schedule_id", flat=True
    )
    covers = Override.objects.filter(user_id__in=user_ids, start__lt=window[1], end__gt=window[0])
    return set(turns) | set(covers.values_list("schedule_id", flat=True))


def schedule_rules(
    schedules: ScheduleIds, *, window: tuple[datetime, datetime] | None = None
) -> dict[int, ScheduleRules]:
    """The rules of each schedule; overrides only those meeting `window` when given."""
    loader = RulesLoader(schedules, window)
    return loader.rules(loader.people())


def oncall_user_ids(schedules: ScheduleIds, instant: datetime) -> dict[int, int | None]:
    """Who is on call at `instant` in each schedule (None where nobody is).

    Only the people of the layers that can answer are read: first, of each schedule, the
    highest-priority layer on at `instant` (schedules.oncall.layers_on_at: none where an
    override covers it); then, only for the schedules where that layer had nobody to give
    (its place held by someone who may not serve), the people of the other layers on then.
    Six queries, seven at most, however many schedules (a thousand schedules' every layer's
    people were most of the time this took).

    A schedule whose rules cannot be computed (stored past schedules.limits) is logged and
    has nobody on call: it must not stop the page-out of a level (nor the intake that starts
    it) for every other schedule and person, and "nobody on call" is recorded on the incident
    and told to the team's managers, who can then repair it."""
    loader = RulesLoader(schedules, window=(instant, instant + timedelta(microseconds=1)))
    bare = loader.rules({})  # every layer, but nobody in them yet
    found: dict[int, int | None] = {}
    top: dict[int, list[Layer]] = {}  # the first layer asked, if any
    for pk, rules in bare.items():
        try:
            top[pk] = list(islice(layers_on_at(rules, instant), 1))
        except UNCOMPUTABLE:
            found[pk] = _unanswerable(pk)
    people = loader.people(of={layer.id for layers in top.values() for layer in layers})
    lower: dict[int, list[Layer]] = {}  # where the top layer's place has nobody who may serve
    for pk, layers in top.items():
        try:
            shift = oncall_at(loader.asking(bare[pk], layers, people), instant)
            if layers and shift is None and (below := list(layers_on_at(bare[pk], instant))[1:]):
                lower[pk] = below
        except UNCOMPUTABLE:
            found[pk] = _unanswerable(pk)
            continue
        found[pk] = shift.user_id if shift else None
    if wanted := {layer.id for layers in lower.values() for layer in layers}:
        people |= loader.people(of=wanted)
        for pk, layers in lower.items():
            found[pk] = _oncall_user_id(pk, loader.asking(bare[pk], layers, people), instant)
    return found


def layer_zone_at(schedule_id: int, instant: datetime, user_id: int) -> str | None:
    """The zone of the layer that has `user_id` on call at `instant`, when it names its own
    (a region's layer of a follow-the-sun schedule: its people keep their hours there); None
    for an override, a gap, someone else (the schedule changed since), a layer in the
    schedule's zone, or rules that cannot be computed."""
    rules = schedule_rules([schedule_id], window=(instant, instant + timedelta(microseconds=1)))
    if schedule_id not in rules:
        return None
    try:
        shift = oncall_at(rules[schedule_id], instant)
    except UNCOMPUTABLE:
        return None
    if shift is None or shift.source != LAYER or shift.user_id != user_id:
        return None
    own = next(layer.time_zone for layer in rules[schedule_id].layers if layer.id == shift.ref)
    return own if own and own != rules[schedule_id].time_zone else None


def _unanswerable(schedule_id: int) -> int | None:
    """In an `except UNCOMPUTABLE:` block: log why the schedule has nobody on call, nobody."""
    logger.exception("Nobody on call in schedule %s: its rules cannot be computed", schedule_id)
    return None


def _oncall_user_id(schedule_id: int, rules: ScheduleRules, instant: datetime) -> int | None:
    try:
        shift = oncall_at(rules, instant)
    except UNCOMPUTABLE:
        return _unanswerable(schedule_id)
    return shift.user_id if shift else None
