"""schedules.selectors: rules loaded from the database in a constant number of queries, and
the right person on call for each schedule."""

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from schedules.models import (
    Override,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
    Weekday,
)
from schedules.oncall import (
    DAYS,
    HOURS,
    WEEKS,
    Layer,
    OverrideRule,
    RestrictionRule,
    Window,
    gaps,
)
from schedules.selectors import oncall_user_ids, schedule_rules
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

# One query per table: schedules, team memberships, participants, restrictions, rotations,
# overrides.
QUERIES = 6
NOW = datetime(2024, 10, 30, 12, tzinfo=UTC)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def team_of(people: list[Any]) -> Team:
    """A team the people are members of: only members are on call through its schedules."""
    team: Team = TeamFactory()
    for person in people:
        MembershipFactory(team=team, user=person)
    return team


def rotation(schedule: Schedule, people: list[Any], **fields: Any) -> Rotation:
    fields = {"name": "Primary", "start": utc(2024, 10, 21, 7), "turn_unit": WEEKS, **fields}
    made = Rotation.objects.create(schedule=schedule, **fields)
    for position, user in enumerate(people):
        RotationParticipant.objects.create(rotation=made, user=user, position=position)
    return made


def cover(
    schedule: Schedule, user: Any, start: datetime, end: datetime, made: datetime
) -> Override:
    """An override created at `made` (created_at is set by the database on insert)."""
    with time_machine.travel(made, tick=False):
        return Override.objects.create(schedule=schedule, user=user, start=start, end=end)


@pytest.fixture
def people() -> list[Any]:
    return [UserFactory(username=name) for name in ("alice", "bob", "carol", "dan")]


@pytest.fixture
def busy_schedules(people: list[Any]) -> Callable[[int], list[int]]:
    """`n` schedules of two rotations (one restricted) with overrides, in one team; each also
    names someone deactivated and someone outside the team (who count as nobody)."""

    def build(n: int) -> list[int]:
        team = team_of(people)
        departed = UserFactory(username="departed", is_active=False)
        MembershipFactory(team=team, user=departed)
        outsider = UserFactory(username="outsider")
        ids = []
        for i in range(n):
            schedule = Schedule.objects.create(team=team, name=f"S{i}", time_zone="Europe/Berlin")
            rotation(schedule, [*people[:3], departed])
            nights = rotation(
                schedule, [*people[1:], outsider], name="Nights", priority=2, turn_unit=DAYS
            )
            Restriction.objects.create(rotation=nights, start_time=time(22), end_time=time(6))
            cover(schedule, people[3], NOW, NOW + timedelta(hours=1), made=utc(2024, 10, 1))
            cover(schedule, outsider, NOW, NOW + timedelta(hours=1), made=utc(2024, 10, 2))
            ids.append(schedule.pk)
        return ids

    return build


@pytest.mark.parametrize("count", [1, 20])
def test_schedule_rules_take_the_same_queries_for_one_schedule_or_many(
    count: int, busy_schedules: Callable[[int], list[int]], django_assert_num_queries: Any
) -> None:
    ids = busy_schedules(count)

    with django_assert_num_queries(QUERIES):
        rules = schedule_rules(ids)

    assert sorted(rules) == sorted(ids)
    assert all(len(r.layers) == 2 and len(r.overrides) == 1 for r in rules.values())
    assert all(layer.participants[-1] is None for r in rules.values() for layer in r.layers)


@pytest.mark.parametrize("count", [1, 20])
@pytest.mark.parametrize(
    ("later", "queries", "on_call"),
    [
        (timedelta(0), QUERIES - 1, "dan"),  # his override: no layer's people are read
        (timedelta(hours=2), QUERIES, "bob"),  # 15:00 in Berlin: the top layer on is weekly
    ],
)
def test_oncall_user_ids_take_the_same_queries_given_a_queryset(
    count: int,
    later: timedelta,
    queries: int,
    on_call: str,
    people: list[Any],
    busy_schedules: Callable[[int], list[int]],
    django_assert_num_queries: Any,
) -> None:
    ids = busy_schedules(count)

    with django_assert_num_queries(queries):
        found = oncall_user_ids(Schedule.objects.filter(pk__in=ids), NOW + later)

    who = {user.pk: user.username for user in people}
    assert [who[user] for user in found.values() if user] == [on_call] * count


def test_oncall_user_ids_read_the_lower_layers_people_only_where_the_top_one_has_nobody(
    people: list[Any], django_assert_num_queries: Any
) -> None:
    """Schedule 1's top layer has, at 12:00, Carol's place, and Carol has left: Alice's lower
    layer answers (a seventh query reads its people). Schedule 2's top layer answers."""
    alice, bob, carol, _ = people
    team = team_of(people)
    carol.is_active = False
    carol.save()
    first = Schedule.objects.create(team=team, name="One", time_zone="UTC")
    rotation(first, [carol], name="Top", priority=2)
    rotation(first, [alice], name="Lower", priority=1)
    second = Schedule.objects.create(team=team, name="Two", time_zone="UTC")
    rotation(second, [bob], name="Top", priority=2)
    rotation(second, [carol], name="Lower", priority=1)

    with django_assert_num_queries(QUERIES + 1):
        found = oncall_user_ids([first.pk, second.pk], NOW)

    assert found == {first.pk: alice.pk, second.pk: bob.pk}


def test_schedule_rules_read_every_field_the_pure_functions_need(people: list[Any]) -> None:
    alice, bob, carol, dan = people
    schedule = Schedule.objects.create(
        team=team_of(people), name="Follow the sun", time_zone="Australia/Lord_Howe"
    )
    made = Rotation.objects.create(
        schedule=schedule,
        name="Weekends",
        priority=3,
        start=utc(2024, 4, 5, 22),
        end=utc(2024, 6, 1),
        turn_length=12,
        turn_unit=HOURS,
    )
    # Positions out of insertion order, and BOB twice: the order is by position.
    for position, user in [(2, carol), (0, bob), (1, alice), (3, bob)]:
        RotationParticipant.objects.create(rotation=made, user=user, position=position)
    Restriction.objects.create(
        rotation=made,
        start_day=Weekday.FRIDAY,
        start_time=time(18),
        end_day=Weekday.MONDAY,
        end_time=time(8),
    )
    override = cover(schedule, dan, utc(2024, 4, 6, 9), utc(2024, 4, 6, 21, 30), made=NOW)

    rules = schedule_rules([schedule.pk])[schedule.pk]

    assert rules.time_zone == "Australia/Lord_Howe"
    assert rules.layers == (
        Layer(
            id=made.pk,
            priority=3,
            start=utc(2024, 4, 5, 22),
            end=utc(2024, 6, 1),
            turn_length=12,
            turn_unit=HOURS,
            participants=(bob.pk, alice.pk, carol.pk, bob.pk),
            restrictions=(RestrictionRule(4, time(18), 0, time(8)),),
        ),
    )
    assert rules.overrides == (
        OverrideRule(override.pk, dan.pk, utc(2024, 4, 6, 9), utc(2024, 4, 6, 21, 30), NOW),
    )


def test_schedule_rules_keep_only_overrides_meeting_the_window(people: list[Any]) -> None:
    schedule = Schedule.objects.create(team=team_of(people), name="Primary")
    rotation(schedule, people[:1])
    before = cover(schedule, people[1], NOW - timedelta(hours=2), NOW, made=NOW)
    meeting = cover(
        schedule, people[2], NOW - timedelta(hours=1), NOW + timedelta(hours=1), made=NOW
    )
    after = cover(schedule, people[3], NOW + timedelta(hours=1), NOW + timedelta(hours=2), made=NOW)

    windowed = schedule_rules([schedule.pk], window=(NOW, NOW + timedelta(hours=1)))
    everything = schedule_rules([schedule.pk])

    assert [o.id for o in windowed[schedule.pk].overrides] == [meeting.pk]
    assert {o.id for o in everything[schedule.pk].overrides} == {before.pk, meeting.pk, after.pk}


def test_oncall_user_ids_give_each_schedule_its_person(people: list[Any]) -> None:
    alice, bob, carol, dan = people
    team = team_of(people)
    # Mondays 09:00 Berlin from 21 October (07:00 UTC): ALICE, then BOB from 28 October 08:00
    # UTC (09:00 CET). NOW is Wednesday 30 October: BOB.
    weekly = Schedule.objects.create(team=team, name="Weekly", time_zone="Europe/Berlin")
    rotation(weekly, [alice, bob, carol])
    # The same rotation, and two overlapping overrides over NOW: the newer one, DAN's, wins
    # although it was inserted first and starts later.
    covered = Schedule.objects.create(team=team, name="Covered", time_zone="Europe/Berlin")
    rotation(covered, [alice, bob, carol])
    cover(covered, dan, NOW - timedelta(minutes=5), NOW + timedelta(hours=1), made=utc(2024, 10, 2))
    cover(covered, carol, NOW - timedelta(hours=1), NOW + timedelta(hours=1), made=utc(2024, 10, 1))
    # Nights only (22:00-06:00 Berlin): nobody at 13:00 CET.
    nights = Schedule.objects.create(team=team, name="Nights", time_zone="Europe/Berlin")
    night_rotation = rotation(nights, [carol])
    Restriction.objects.create(rotation=night_rotation, start_time=time(22), end_time=time(6))
    # A layer of higher priority that has ended gives way to the one under it.
    layered = Schedule.objects.create(team=team, name="Layered", time_zone="America/Chicago")
    rotation(layered, [carol], priority=5, end=utc(2024, 10, 29))
    rotation(layered, [dan], priority=1)
    empty = Schedule.objects.create(team=team, name="Empty")

    found = oncall_user_ids([weekly.pk, covered.pk, nights.pk, layered.pk, empty.pk], NOW)

    assert found == {
        weekly.pk: bob.pk,
        covered.pk: dan.pk,
        nights.pk: None,
        layered.pk: dan.pk,
        empty.pk: None,
    }
    # And at night the night rotation has CAROL: 23:30 CET is 22:30 UTC.
    assert oncall_user_ids([nights.pk], utc(2024, 10, 30, 22, 30)) == {nights.pk: carol.pk}


def test_oncall_user_ids_of_a_queryset_cover_only_its_schedules(people: list[Any]) -> None:
    ours, theirs = team_of(people), team_of(people)
    mine = Schedule.objects.create(team=ours, name="Ours")
    rotation(mine, people[:1])
    other = Schedule.objects.create(team=theirs, name="Theirs")
    rotation(other, people[1:2])

    assert oncall_user_ids(Schedule.objects.filter(team=ours), NOW) == {mine.pk: people[0].pk}


# --- People who may not be on call through a schedule ------------------------------------------


def leave(person: Any, team: Team, how: str) -> None:
    if how == "deactivated":
        person.is_active = False
        person.save()
    elif how == "left the team":
        TeamMembership.objects.filter(team=team, user=person).delete()
    else:  # "moved to another team"
        TeamMembership.objects.filter(team=team, user=person).update(team=TeamFactory())


HOW = ["deactivated", "left the team", "moved to another team"]


@pytest.mark.parametrize("how", HOW)
def test_someone_who_may_not_serve_keeps_their_place_as_nobody(people: list[Any], how: str) -> None:
    alice, bob, carol, dan = people
    team = team_of(people)
    schedule = Schedule.objects.create(team=team, name="Weekly", time_zone="Europe/Berlin")
    primary = rotation(schedule, [alice, bob, carol], priority=2)
    backup = rotation(schedule, [dan], name="Backup", priority=1)
    leave(bob, team, how)

    rules = schedule_rules([schedule.pk])[schedule.pk]

    layers = {layer.id: layer.participants for layer in rules.layers}
    assert layers == {primary.pk: (alice.pk, None, carol.pk), backup.pk: (dan.pk,)}
    # Weekly from Monday 21 October: alice, then bob's week (from 28 October, NOW is in it)
    # goes to the layer below, then carol's week starts on 4 November as it always would.
    assert oncall_user_ids([schedule.pk], utc(2024, 10, 25)) == {schedule.pk: alice.pk}
    assert oncall_user_ids([schedule.pk], NOW) == {schedule.pk: dan.pk}
    assert oncall_user_ids([schedule.pk], utc(2024, 11, 4, 8)) == {schedule.pk: carol.pk}


@pytest.mark.parametrize("how", HOW)
def test_a_layer_of_people_who_may_not_serve_is_a_gap(people: list[Any], how: str) -> None:
    alice, bob, *_ = people
    team = team_of(people)
    schedule = Schedule.objects.create(team=team, name="Weekly", time_zone="Europe/Berlin")
    rotation(schedule, [alice, alice, bob])
    leave(alice, team, how)
    leave(bob, team, how)

    assert oncall_user_ids([schedule.pk], NOW) == {schedule.pk: None}
    assert gaps(schedule_rules([schedule.pk])[schedule.pk], NOW, NOW + timedelta(days=30)) == [
        Window(NOW, NOW + timedelta(days=30))
    ]


@pytest.mark.parametrize("how", HOW)
def test_an_override_by_someone_who_may_not_serve_does_not_count(
    people: list[Any], how: str
) -> None:
    alice, bob, _, dan = people
    team = team_of(people)
    schedule = Schedule.objects.create(team=team, name="Weekly", time_zone="Europe/Berlin")
    rotation(schedule, [alice, bob])  # bob's week
    covered = cover(schedule, dan, NOW - timedelta(hours=1), NOW + timedelta(hours=1), made=NOW)
    leave(dan, team, how)

    rules = schedule_rules([schedule.pk])[schedule.pk]

    assert covered.pk not in {override.id for override in rules.overrides}
    assert oncall_user_ids([schedule.pk], NOW) == {schedule.pk: bob.pk}


def test_membership_is_of_the_schedules_own_team(people: list[Any]) -> None:
    alice, bob, *_ = people
    ours, theirs = team_of([alice]), team_of([bob])
    schedule = Schedule.objects.create(team=ours, name="Ours", time_zone="Europe/Berlin")
    rotation(schedule, [bob, alice])  # bob's week, but bob is in the other team only
    cover(schedule, bob, NOW, NOW + timedelta(hours=1), made=NOW)
    theirs_schedule = Schedule.objects.create(team=theirs, name="Theirs")
    rotation(theirs_schedule, [alice, bob])

    rules = schedule_rules([schedule.pk, theirs_schedule.pk])

    assert rules[schedule.pk].layers[0].participants == (None, alice.pk)
    assert rules[schedule.pk].overrides == ()
    assert rules[theirs_schedule.pk].layers[0].participants == (None, bob.pk)


def test_a_lower_layer_that_cannot_be_computed_costs_only_its_own_schedule(
    people: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Carol (who left) holds the top layer's place, so the lower one is asked, and its
    stored zone is not one: that schedule has nobody, logged once; the others answer."""
    alice, _, carol, _ = people
    team = team_of(people)
    carol.is_active = False
    carol.save()
    broken = Schedule.objects.create(team=team, name="Broken", time_zone="UTC")
    rotation(broken, [carol], name="Top", priority=2)
    low = rotation(broken, [alice], name="Low", priority=1)
    Rotation.objects.filter(pk=low.pk).update(time_zone="Mars/Olympus")
    sound = Schedule.objects.create(team=team, name="Sound", time_zone="UTC")
    rotation(sound, [alice])
    caplog.set_level("ERROR", logger="schedules.selectors")

    found = oncall_user_ids([broken.pk, sound.pk], NOW)

    assert found == {broken.pk: None, sound.pk: alice.pk}
    [record] = caplog.records
    assert f"schedule {broken.pk}" in record.getMessage()


def test_a_top_layer_that_cannot_be_computed_is_logged_once(
    people: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob, *_ = people
    schedule = Schedule.objects.create(team=team_of(people), name="S", time_zone="UTC")
    top = rotation(schedule, [alice], name="Top", priority=2)
    rotation(schedule, [bob], name="Low", priority=1)
    Rotation.objects.filter(pk=top.pk).update(turn_length=1_000_000, turn_unit=WEEKS)
    caplog.set_level("ERROR", logger="schedules.selectors")

    found = oncall_user_ids([schedule.pk], NOW)

    assert found == {schedule.pk: None}
    assert len(caplog.records) == 1
