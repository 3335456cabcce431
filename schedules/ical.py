"""iCalendar (RFC 5545) subscriptions of the final schedule: one feed per schedule, one per
person (their shifts in every schedule they appear in).

- Window: every on-call stretch meeting [fetch - FEED_PAST, fetch + FEED_AHEAD), i.e. 30 days
  back to 90 days ahead (from the start of the fetch's UTC day), shown whole (its real start
  and end, schedules.stretches), so an event does not change as the window moves with each
  fetch. A stretch longer than the search for real edges reaches (a year beyond the window:
  one person always on call) is cut there, at a point that moves once a day, not with every
  fetch; its UID does not depend on that cut.
- A stretch is one person's back-to-back shifts whatever rule gave them (a turn, then an
  override for the same person): a calendar shows being on call, not the rules behind it.
- Times are UTC (DTSTART/DTEND ending in Z): the instants already carry the DST changes of
  the schedule's zone, and clients need no VTIMEZONE to place them.
- UIDs are derived from the feed kind, the schedule, the person and the stretch's real start
  (for one cut by the reach, the rule it began with), so the same shift keeps its UID from
  fetch to fetch and clients update events in place instead of duplicating them.
- Text is one line: names stored before they were checked (schedules.limits) could otherwise
  carry a line break into a property, which no client reads.
- A calendar with no shifts in the window still holds one component, as RFC 5545 requires:
  the VTIMEZONE of UTC, the zone every time in it is given in.
- Events are TRANSPARENT: being on call is not being busy, and a subscriber's free/busy time
  should not fill up with every shift of the team.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from icalendar import Calendar, Event, Timezone, vDuration

from schedules.limits import CONTROL_CHARACTERS
from schedules.models import Schedule
from schedules.oncall import UNCOMPUTABLE, ScheduleRules, Shift
from schedules.selectors import schedule_rules, schedules_of
from schedules.stretches import REACH, whole_shifts

logger = logging.getLogger(__name__)
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)
# How often clients are asked to fetch again (RFC 7986; many use their own interval anyway).
REFRESH = timedelta(hours=1)
PRODID = "-//Watchstander//On-call schedules//EN"

SCHEDULE_FEED, PERSON_FEED = "schedule", "person"


@dataclass(frozen=True)
class FeedEvent:
    feed: str  # SCHEDULE_FEED or PERSON_FEED: the same shift in two feeds has two UIDs
    schedule_id: int
    schedule_name: str
    person: str
    shift: Shift
    cut: bool = False  # its start is the reach's, not its real one

    @classmethod
    def of(
        cls,
        feed: str,
        schedule: tuple[int, str],
        person: str,
        shift: Shift,
        window: tuple[datetime, datetime],
    ) -> "FeedEvent":
        cut = shift.start <= window[0] - REACH
        return cls(feed, *schedule, person, shift, cut)


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    """The window of a fetch at `now`: the same all day (see the module docstring)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - FEED_PAST, day + timedelta(days=1) + FEED_AHEAD


def schedule_calendar(schedule: Schedule, *, now: datetime) -> bytes:
    """The feed of one schedule: everyone's stretches in the window."""
    window = feed_window(now)
    rules = _rules([schedule.pk], window)[schedule.pk]
    stretches = whole_shifts(rules, *window, by_person=True)
    names = display_names(shift.user_id for shift in stretches)
    about = (schedule.pk, schedule.name)
    events = [
        FeedEvent.of(SCHEDULE_FEED, about, names[shift.user_id], shift, window)
        for shift in stretches
    ]
    return render(f"On call: {schedule.name}", events, now=now)


def person_calendar(user: Any, *, now: datetime) -> bytes:
    """The feed of one person: their stretches in every schedule they appear in."""
    window = feed_window(now)
    schedules = dict(
        Schedule.objects.filter(pk__in=schedules_of([user.pk], window)).values_list("pk", "name")
    )
    name = display_name(user)
    events = [
        FeedEvent.of(PERSON_FEED, (schedule_id, schedules[schedule_id]), name, shift, window)
        for schedule_id, rules in _rules(list(schedules), window).items()
        for shift in _stretches_or_none(schedule_id, rules, window)
        if shift.user_id == user.pk
    ]
    events.sort(key=lambda event: (event.shift.start, event.schedule_id))
    return render(f"{name}: on call", events, now=now)


def _stretches_or_none(
    schedule_id: int, rules: ScheduleRules, window: tuple[datetime, datetime]
) -> list[Shift]:
    """A person's feed goes on without a schedule whose rules cannot be computed (logged): one
    bad schedule must not empty their calendar of every other."""
    try:
        return whole_shifts(rules, *window, by_person=True)
    except UNCOMPUTABLE:
        logger.exception("Schedule %s left out of a feed: it cannot be computed", schedule_id)
        return []


def _rules(schedule_ids: list[int], window: tuple[datetime, datetime]) -> dict[int, ScheduleRules]:
    # Overrides as far out as whole_shifts may look for a stretch's real edges.
    return schedule_rules(schedule_ids, window=(window[0] - REACH, window[1] + REACH))


def display_name(user: Any) -> str:
    return str(user.get_full_name() or user.username)


def display_names(user_ids: Iterable[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=set(user_ids))
    return {user.pk: display_name(user) for user in users}


# --- Rendering ------------------------------------------------------------------------------


def render(name: str, events: Iterable[FeedEvent], *, now: datetime) -> bytes:
    """The calendar as RFC 5545 bytes (CRLF line endings and line folding by icalendar)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", one_line(name))  # RFC 7986
    calendar.add("x-wr-calname", one_line(name))  # what most clients still read
    calendar.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    host = uid_host()
    for event in events:
        calendar.add_component(vevent(event, now=now, host=host))
    if not calendar.subcomponents:
        calendar.add_component(Timezone.from_tzid("UTC"))
    return bytes(calendar.to_ical())


def one_line(text: str) -> str:
    return " ".join(CONTROL_CHARACTERS.sub(" ", text).split())


def vevent(event: FeedEvent, *, now: datetime, host: str) -> Event:
    component = Event()
    component.add("uid", shift_uid(event, host))
    component.add("dtstamp", now)
    component.add("dtstart", event.shift.start)
    component.add("dtend", event.shift.end)
    component.add("summary", one_line(f"On call: {event.person} ({event.schedule_name})"))
    component.add("transp", "TRANSPARENT")
    return component


def shift_uid(event: FeedEvent, host: str) -> str:
    shift = event.shift
    since = f"since-{shift.source}-{shift.ref}" if event.cut else f"{shift.start:%Y%m%dT%H%M%SZ}"
    return f"{event.feed}-{event.schedule_id}-{shift.user_id}-{since}@{host}"


def uid_host() -> str:
    """The right-hand side of UIDs (RFC 5545 suggests a domain name, for global uniqueness)."""
    return urlsplit(settings.SITE_URL).hostname or "watchstander"
