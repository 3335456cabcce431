"""A realistic follow-the-sun schedule, in three regions whose clocks change on different dates.

"Follow the sun" (the schedule's zone is UTC) has a layer per region, each in its region's own
zone, on for eight local hours a day, every day, with weekly turns from Monday 1 March 2027:

    layer     zone                priority  hours (local)  people, turn by turn
    Sydney    Australia/Sydney    4         10:00-18:00    sam, sue
    London    Europe/London       3         07:00-15:00    liam, lucy
    Chicago   America/Chicago     2         09:00-17:00    cole, cara
    Backstop  (the schedule's)    1         always         bea

In northern winter (Sydney's summer) the three regions tile the UTC day exactly: Sydney
23:00-07:00, London 07:00-15:00, Chicago 15:00-23:00. Then each region's clocks change on its
own date, and each keeps its local hours, so the UTC coverage drifts, and the priorities and
the backstop decide:

- Sunday 14 March, Chicago springs forward (CDT): Chicago is 14:00-22:00 UTC. Its first hour
  goes to London (higher priority); 22:00-23:00 UTC is nobody's region, so it is the backstop's.
- Sunday 28 March, London springs forward (BST): London is 06:00-14:00 UTC; its first hour
  goes to Sydney. 22:00-23:00 UTC stays the backstop's.
- Sunday 4 April, Sydney falls back (AEST): Sydney is 00:00-08:00 UTC; 22:00-00:00 UTC is the
  backstop's.

A schedule whose restrictions were all in one zone would hand these regions their hours at
the wrong local time for weeks every spring and autumn.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from schedules.models import Restriction, Rotation, RotationParticipant, Schedule, Team
from tests.factories import MembershipFactory, UserFactory

NAME = "Follow the sun"


@dataclass(frozen=True)
class Region:
    name: str
    zone: str  # "" for the schedule's
    priority: int
    first_day: str  # the first handoff, local: Monday 1 March 2027 at the window's start
    hours: tuple[time, time] | None  # the daily window, local; None: always on
    people: tuple[str, ...]

    @property
    def start_time(self) -> time:
        return self.hours[0] if self.hours else time(0)


REGIONS = (
    Region("Sydney", "Australia/Sydney", 4, "2027-03-01", (time(10), time(18)), ("sam", "sue")),
    Region("London", "Europe/London", 3, "2027-03-01", (time(7), time(15)), ("liam", "lucy")),
    Region("Chicago", "America/Chicago", 2, "2027-03-01", (time(9), time(17)), ("cole", "cara")),
    Region("Backstop", "", 1, "2027-03-01", None, ("bea",)),
)
# The first handoffs in UTC (Sydney's Monday 10:00 AEDT is Sunday 23:00 UTC).
FIRST_HANDOFFS = {
    "Sydney": datetime(2027, 2, 28, 23, 0, tzinfo=UTC),
    "London": datetime(2027, 3, 1, 7, 0, tzinfo=UTC),
    "Chicago": datetime(2027, 3, 1, 15, 0, tzinfo=UTC),
    "Backstop": datetime(2027, 3, 1, 0, 0, tzinfo=UTC),
}
USERNAMES = tuple(name for region in REGIONS for name in region.people)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Who is on call, at instants either side of each region's change (turns: week 2 from 8 March
# is sue, lucy, cara; week 3 from 15 March sam, liam, cole; week 4 sue, lucy, cara; week 5 from
# 29 March sam, liam, cole; week 6 from 5 April sue, lucy, cara).
ON_CALL = [
    (utc(2027, 3, 13, 22, 30), "cara"),  # Saturday, 16:30 CST in Chicago
    (utc(2027, 3, 14, 22, 30), "bea"),  # Sunday, 17:30 CDT: Chicago is done, Sydney not yet
    (utc(2027, 3, 15, 14, 30), "liam"),  # 14:30 GMT in London, over Chicago's 09:30 CDT
    (utc(2027, 3, 15, 22, 59), "bea"),
    (utc(2027, 3, 15, 23, 0), "sam"),  # Tuesday 10:00 AEDT in Sydney
    (utc(2027, 3, 27, 6, 30), "sue"),  # Saturday, 17:30 AEDT in Sydney; London opens at 07:00
    (utc(2027, 3, 27, 14, 30), "lucy"),  # 14:30 GMT in London
    (utc(2027, 3, 28, 14, 30), "cara"),  # Sunday, 15:30 BST: London is done; 09:30 CDT
    (utc(2027, 3, 29, 6, 30), "sam"),  # 17:30 AEDT in Sydney, over London's 07:30 BST
    (utc(2027, 3, 29, 7, 0), "liam"),  # Sydney closes at 18:00 AEDT
    (utc(2027, 4, 5, 7, 30), "sue"),  # 17:30 AEST in Sydney, over London's 08:30 BST
    (utc(2027, 4, 5, 8, 0), "lucy"),
    (utc(2027, 4, 5, 23, 30), "bea"),  # Tuesday 09:30 AEST: Sydney opens at 10:00 now
    (utc(2027, 4, 6, 0, 0), "sue"),
]


def team_with_people(team: Team) -> dict[str, Any]:
    """The team's responders of every region (active members, so they may be on call)."""
    people = {}
    for username in USERNAMES:
        people[username] = UserFactory(username=username, is_staff=True)
        MembershipFactory(team=team, user=people[username])
    return people


def build(team: Team, people: dict[str, Any]) -> Schedule:
    """The schedule, written the way the admin and the API write it (rows, not rules)."""
    schedule = Schedule.objects.create(team=team, name=NAME, time_zone="UTC")
    for region in REGIONS:
        rotation = Rotation.objects.create(
            schedule=schedule,
            name=region.name,
            priority=region.priority,
            start=FIRST_HANDOFFS[region.name],
            turn_length=1,
            turn_unit=Rotation.Unit.WEEKS,
            time_zone=region.zone,
        )
        for position, username in enumerate(region.people):
            RotationParticipant.objects.create(
                rotation=rotation, user=people[username], position=position
            )
        if region.hours:
            Restriction.objects.create(
                rotation=rotation, start_time=region.hours[0], end_time=region.hours[1]
            )
    return schedule
