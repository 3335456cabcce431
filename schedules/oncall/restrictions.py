"""A layer's restrictions: wall-clock windows in the layer's zone, merged and in order."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from schedules.oncall.clock import local_naive, to_utc
from schedules.oncall.rules import RestrictionRule, Window

_DAY = timedelta(days=1)


def restriction_windows(
    rules: Sequence[RestrictionRule], tz: ZoneInfo, t1: datetime, t2: datetime
) -> list[Window]:
    """The union of the restriction windows that meet [t1, t2), merged and in order.

    Windows are looked for from t1's local day (less the rule's lookback) to the day after
    t2's: where the clocks go back across midnight, an instant late on one local day can lie
    after the first occurrence of the next day's early hours, and so inside a window that
    starts on the next day."""
    first_day, last_day = local_naive(t1, tz).date(), local_naive(t2, tz).date() + _DAY
    return [
        window
        for window in _windows_starting(tuple(rules), tz, first_day, last_day)
        if window.end > t1 and window.start < t2
    ]


def _windows_starting(
    rules: tuple[RestrictionRule, ...], tz: ZoneInfo, first_day: date, last_day: date
) -> tuple[Window, ...]:
    """The rules' windows that start from first_day (less each rule's lookback) to last_day,
    merged and in order.

    Those of a day or two are remembered: they depend on nothing else, and schedules share
    their rules (weekdays 09:00-17:00 in a handful of zones), so who-is-on-call over every
    schedule computes them once per rule set, zone and day instead of once per layer. Longer
    ranges (a timeline, a feed) are computed each time: kept, their windows would add up to
    hundreds of megabytes in the cache."""
    if last_day - first_day <= _REMEMBERED_DAYS:
        return _remembered_windows(rules, tz, first_day, last_day)
    return _windows_of_days(rules, tz, first_day, last_day)


def _windows_of_days(
    rules: tuple[RestrictionRule, ...], tz: ZoneInfo, first_day: date, last_day: date
) -> tuple[Window, ...]:
    windows = [
        window
        for rule in rules
        for day in _start_days(rule, first_day - _lookback(rule), last_day)
        if (window := _window_on(rule, day, tz))
    ]
    return tuple(_merge(windows))


# A few thousand small entries: rule sets x zones x the days asked about around now.
_remembered_windows = lru_cache(maxsize=4096)(_windows_of_days)
_REMEMBERED_DAYS = timedelta(days=2)


def _lookback(rule: RestrictionRule) -> timedelta:
    """How many days before t1's a window that still covers t1 may start: a daily window
    ends by the next day, a weekly one within a week. (Looking back a week for every rule
    made a daily window cost eight days of conversions per who-is-on-call.)"""
    return timedelta(days=1 if rule.start_day is None else 7)


def _start_days(rule: RestrictionRule, first: date, last: date) -> Iterator[date]:
    """The days in [first, last] on which the rule's window starts: every day, or every week
    on its weekday (stepping a week at a time: who-is-on-call asks this for every rule of
    every layer of every schedule)."""
    day, step = first, timedelta(days=1)
    if rule.start_day is not None:
        day += timedelta(days=(rule.start_day - first.weekday()) % 7)
        step = timedelta(days=7)
    while day <= last:
        yield day
        day += step


def _window_on(rule: RestrictionRule, day: date, tz: ZoneInfo) -> Window | None:
    """The rule's window starting on `day` (one of its _start_days)."""
    if rule.start_day is None:
        span = 0 if rule.end_time > rule.start_time else 1
    else:
        span = (rule.end_day - rule.start_day) % 7 if rule.end_day is not None else 0
        if span == 0 and rule.end_time <= rule.start_time:
            span = 7
    start = to_utc(datetime.combine(day, rule.start_time), tz)
    end = to_utc(datetime.combine(day + timedelta(days=span), rule.end_time), tz)
    return Window(start, end) if end > start else None


def _merge(windows: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1].end:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, window.end))
        else:
            merged.append(window)
    return merged
