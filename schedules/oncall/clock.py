"""Local time -> UTC, and back: wall-clock times in a zone read by the rules of schedules.oncall's
docstring."""

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time in `tz` stands for (see schedules.oncall's docstring)."""
    # PEP 495: fold=0 reads a local time with the offset from before a change, fold=1 with
    # the one from after. Equal: the time is plain. Before > after: the clock went back and
    # the time is ambiguous; fold=0 is its first occurrence. Before < after: it went forward
    # and the time was skipped. (Reading the offsets beats a round trip through astimezone,
    # which is the hot path of a who-is-on-call-now over every schedule.)
    before = tz.utcoffset(local)
    after = tz.utcoffset(local.replace(fold=1))
    if before is None or after is None:  # not for a ZoneInfo; keeps the types honest
        raise ValueError(f"{tz} gives no UTC offset for {local}")
    if before >= after:
        return (local - before).replace(tzinfo=UTC)
    # Skipped: read with the offset from after, it lands before the change; from before,
    # after it. The change lies between.
    return _transition_between(
        (local - after).replace(tzinfo=UTC), (local - before).replace(tzinfo=UTC), tz
    )


def _transition_between(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (low, high] with high's UTC offset.

    Offsets only change at whole seconds, so the search runs over whole seconds, the bounds
    rounded outwards first. (Bisecting the raw bounds and truncating the midpoint to the
    second, as this once did, could put the midpoint back on `low` and loop forever when the
    bounds carried microseconds: a handoff at 02:00:00.585239 on a spring-forward day.)"""
    target = high.astimezone(tz).utcoffset()
    low = low.replace(microsecond=0)
    if high.microsecond:
        high = high.replace(microsecond=0) + _SECOND
    while high - low > _SECOND:
        middle = low + _SECOND * ((high - low) // (2 * _SECOND))
        if middle.astimezone(tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high


def local_naive(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)
