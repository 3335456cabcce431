"""`manage.py bench_schedules`: how fast the on-call functions answer at scale.

Builds 1,000 schedules of 3 layers x 8 people with 50 overrides each (weekly, daily-with-a-
weekday-restriction and 12-hour layers, in zones with DST changes of 1 hour, 30 minutes and
none), then measures, each as the median of several runs:

- who is on call now in all of them (`schedules.selectors.oncall_user_ids`: loading the rules
  and computing), with the number of queries for 1 and for all schedules (must be equal);
- the final shifts of one such schedule over 90 days (`schedules.oncall.final_shifts`, rules
  already loaded), and the same including loading its rules.

Everything is written inside a transaction that is rolled back at the end, so it may run against
any database; the figures in the README come from PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/watchstander python manage.py bench_schedules
"""

import random
import statistics
import time
from argparse import ArgumentParser
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from schedules.models import (
    Override,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from schedules.oncall import final_shifts
from schedules.selectors import oncall_user_ids, schedule_rules

ZONES = ["Europe/Berlin", "America/Chicago", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]
LAYERS = [  # (priority, turn length, unit, weekday restriction?)
    (1, 1, Rotation.Unit.WEEKS, False),
    (2, 1, Rotation.Unit.DAYS, True),
    (0, 12, Rotation.Unit.HOURS, False),
]
NOW_TARGET_MS, RANGE_TARGET_MS = 100.0, 10.0


class Rollback(Exception):
    """Raised to undo everything the bench wrote."""


BENCH_TABLES = [
    model._meta.db_table
    for model in (Schedule, Rotation, RotationParticipant, Restriction, Override, TeamMembership)
]


def vacuum() -> None:
    """On PostgreSQL, clear out the dead rows of earlier runs first: the bench rolls back what
    it writes, which leaves them behind, and until autovacuum gets to them every scan reads
    them (a few runs in a row made the figures ~30% worse). Outside any transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(BENCH_TABLES)}")


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_count(run: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return len(queries)


class Command(BaseCommand):
    help = "Benchmark who-is-on-call-now for 1,000 schedules and a 90-day final schedule."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--schedules", type=int, default=1000)
        parser.add_argument("--people", type=int, default=8, help="per layer")
        parser.add_argument("--overrides", type=int, default=50, help="per schedule")
        parser.add_argument("--repeat", type=int, default=25, help="runs per figure")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        vacuum()
        try:
            with transaction.atomic():
                self._run(options)
                raise Rollback
        except Rollback:
            self.stdout.write("(everything the bench wrote was rolled back)")

    def _run(self, options: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        started = time.perf_counter()
        team = build_schedules(
            options["schedules"], options["people"], options["overrides"], now, options["seed"]
        )
        # As the API asks it: every schedule the user may see, as a queryset (a subquery).
        every = team.schedules.all()
        first = every.order_by("pk")[:1]
        first_id = first.get().pk
        self.stdout.write(
            f"Built {every.count()} schedules x {len(LAYERS)} layers x {options['people']} people,"
            f" {options['overrides']} overrides each, in {time.perf_counter() - started:.1f} s"
            f" ({connection.vendor})"
        )
        repeat = options["repeat"]
        on_call = oncall_user_ids(every, now)
        nobody = sum(1 for user in on_call.values() if user is None)
        now_ms = median_ms(lambda: oncall_user_ids(every, now), repeat)
        queries_one = query_count(lambda: oncall_user_ids(first, now))
        queries_all = query_count(lambda: oncall_user_ids(every, now))
        rules = schedule_rules(first)[first_id]
        end = now + timedelta(days=90)
        shifts = final_shifts(rules, now, end)
        range_ms = median_ms(lambda: final_shifts(rules, now, end), repeat)
        loaded_ms = median_ms(
            lambda: final_shifts(schedule_rules(first)[first_id], now, end), repeat
        )
        self._report("On call now, all schedules", now_ms, NOW_TARGET_MS)
        self.stdout.write(
            f"  {len(on_call)} schedules answered ({nobody} with nobody on call);"
            f" queries: {queries_one} for 1 schedule, {queries_all} for {len(on_call)}"
            f" ({'constant' if queries_one == queries_all else 'NOT constant'})"
        )
        self._report("Final shifts of one schedule over 90 days", range_ms, RANGE_TARGET_MS)
        self.stdout.write(f"  {len(shifts)} shifts; {loaded_ms:.2f} ms including loading its rules")

    def _report(self, what: str, ms: float, target: float) -> None:
        verdict = "OK" if ms < target else "OVER TARGET"
        self.stdout.write(f"{what}: {ms:.2f} ms (median; target < {target:.0f} ms) {verdict}")


def build_schedules(count: int, people: int, overrides: int, now: datetime, seed: int) -> Team:
    """Bulk-written (no audit entries, no permission grants: this is a throwaway world)."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
    team = Team.objects.create(name=f"bench-schedules-{now.timestamp()}")
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-s-{now.timestamp()}-{n}") for n in range(people * 3)
    )
    # Only active members of a schedule's team are on call through it (schedules.selectors).
    TeamMembership.objects.bulk_create(TeamMembership(team=team, user=user) for user in users)
    schedules = Schedule.objects.bulk_create(
        Schedule(team=team, name=f"bench {n}", time_zone=ZONES[n % len(ZONES)])
        for n in range(count)
    )
    start = (now - timedelta(days=rng.randint(30, 400))).replace(minute=0, second=0, microsecond=0)
    rotations = Rotation.objects.bulk_create(
        Rotation(
            schedule=schedule,
            name=f"layer {index}",
            priority=priority,
            start=start + timedelta(hours=rng.randint(0, 23)),
            turn_length=length,
            turn_unit=unit,
        )
        for schedule in schedules
        for index, (priority, length, unit, _) in enumerate(LAYERS)
    )
    RotationParticipant.objects.bulk_create(
        RotationParticipant(rotation=rotation, user=users[(index % 3) * people + n], position=n)
        for index, rotation in enumerate(rotations)
        for n in range(people)
    )
    Restriction.objects.bulk_create(
        Restriction(
            rotation=rotation, start_day=day, start_time=clock(9), end_day=day, end_time=clock(17)
        )
        for index, rotation in enumerate(rotations)
        if LAYERS[index % len(LAYERS)][3]
        for day in range(5)
    )
    Override.objects.bulk_create(
        _override(schedule, rng.choice(users), now, rng)
        for schedule in schedules
        for _ in range(overrides)
    )
    return team


def _override(schedule: Schedule, user: Any, now: datetime, rng: random.Random) -> Override:
    start = now + timedelta(hours=rng.randint(-24 * 60, 24 * 60))
    return Override(
        schedule=schedule, user=user, start=start, end=start + timedelta(hours=rng.randint(1, 12))
    )
