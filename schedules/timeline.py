"""The schedule timeline the admin draws: one row per layer and one for the final schedule,
over a window of whole days in the schedule's time zone.

Pure, like schedules.oncall: rules and instants in; positions (percent of the window), colours
and local-time labels out. The template only draws what this computes, so what a manager sees
is tested here without a browser.
"""

import colorsys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from schedules.oncall import (
    OVERRIDE,
    ScheduleRules,
    Shift,
    Window,
    by_priority,
    final_shifts,
    layer_shifts,
    layer_zone,
    local_naive,
    to_utc,
    zone,
)

DAY_CHOICES = (7, 14, 28)
DEFAULT_DAYS = 14
GAP = "gap"
DASH = "\N{EN DASH}"
FINAL, LAYER_ROW = "final", "layer"
# The first twelve people on a timeline get these: light enough for dark text, and none of
# them the red of a gap. Set3 from ColorBrewer with its red swapped for a blue.
PALETTE = (
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#a6cee3",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
)

# In percent of the window, on a track of ~700 px: 12 px text takes ~6.5 px a character,
# after a 5 px margin.
CHARACTER_WIDTH, LABEL_MARGIN = 0.95, 0.75
# Builds the "take this shift" (or "cover this gap") link for [start, end).
TakeLink = Callable[[datetime, datetime], str]


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    user_id: int | None  # None: nobody (a gap)
    label: str
    colour: str
    left: float  # percent of the window
    width: float
    title: str
    source: str  # oncall.LAYER, oncall.OVERRIDE or GAP
    link: str = ""

    @property
    def is_gap(self) -> bool:
        return self.user_id is None

    @property
    def label_fits(self) -> bool:
        """Whether the name fits in the bar on a narrow (~700 px) track; where it does not,
        the bar's tooltip and the legend still name the person."""
        return self.width >= LABEL_MARGIN + CHARACTER_WIDTH * len(self.label)


@dataclass(frozen=True)
class Row:
    kind: str  # FINAL or LAYER_ROW
    label: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Tick:
    at: datetime  # a local midnight
    left: float
    label: str


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    time_zone: str
    days: int
    rows: tuple[Row, ...]  # the layers, highest priority first, then the final schedule
    ticks: tuple[Tick, ...]
    now: float | None  # where now is, in percent of the window; None outside it
    legend: tuple[tuple[str, str], ...]  # (person, colour)

    @property
    def final(self) -> Row:
        return self.rows[-1]


# Hues for the people after the palette's twelve: steps of the golden ratio around the colour
# wheel never repeat and stay spread out however many are taken. The band around 0 degrees
# (red) is left to gaps; light and not too saturated, for the dark names drawn on them.
GOLDEN = (5**0.5 - 1) / 2
HUES = (25.0, 335.0)  # degrees
LIGHTNESS = (0.80, 0.70, 0.88)
SATURATION = 0.6


def colour_at(index: int) -> str:
    """The colour of the index-th person (from 0) to appear on a timeline."""
    if index < len(PALETTE):
        return PALETTE[index]
    extra = index - len(PALETTE)
    low, high = HUES
    hue = (low + (extra * GOLDEN % 1) * (high - low)) / 360
    lightness = LIGHTNESS[extra % len(LIGHTNESS)]
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, SATURATION)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


def assign_colours(user_ids: Iterable[int]) -> dict[int, str]:
    """A distinct colour for each person, in the order given (repeats keep their first)."""
    colours: dict[int, str] = {}
    candidates = (colour_at(index) for index in count())
    for user_id in user_ids:
        if user_id not in colours:
            taken = set(colours.values())
            colours[user_id] = next(c for c in candidates if c not in taken)
    return colours


def first_appearances(rows: Sequence[Sequence[Shift]]) -> list[int]:
    """The people of the rows, by the moment each first appears, then by row: the same
    schedule and window always colour the same way, and a longer window from the same day
    (7, 14 or 28 days) keeps the colours of the shorter one, as it only adds people after."""
    first: dict[int, tuple[datetime, int]] = {}
    for row, shifts in enumerate(rows):
        for shift in shifts:
            key = (shift.start, row)
            if shift.user_id not in first or key < first[shift.user_id]:
                first[shift.user_id] = key
    return sorted(first, key=first.__getitem__)


def days_shown(requested: str | None) -> int:
    """The window the manager asked for (?days=7|14|28), else the default."""
    return int(requested) if requested in {str(days) for days in DAY_CHOICES} else DEFAULT_DAYS


def window(now: datetime, time_zone: str, days: int) -> Window:
    """From the start of today to the end of the last day, in the schedule's time zone (so
    days are 23 or 25 hours long where the clocks change)."""
    tz = zone(time_zone)
    today = local_naive(now, tz).date()
    return Window(_midnight(today, tz), _midnight(today + timedelta(days=days), tz))


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # A zone may skip midnight itself (some change their clocks at 00:00): to_utc moves it to
    # the first instant that exists.
    return to_utc(datetime.combine(day, time(0)), tz)


def local_span(start: datetime, end: datetime, time_zone: str) -> str:
    """'Mon 2 Mar 09:00 - Mon 9 Mar 09:00 CET' (with an en dash), or '... 01:00 CET - ...
    09:00 CEST' when the clocks change in between."""
    tz = zone(time_zone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    second = f"{b:%H:%M}" if a.date() == b.date() else _stamp(b)
    if a.tzname() == b.tzname():
        return f"{_stamp(a)} {DASH} {second} {a.tzname()}"
    return f"{_stamp(a)} {a.tzname()} {DASH} {second} {b.tzname()}"


def local_time(instant: datetime, time_zone: str) -> str:
    """'Mon 2 Mar 09:00 CET'."""
    local = instant.astimezone(zone(time_zone))
    return f"{_stamp(local)} {local.tzname()}"


def _stamp(local: datetime) -> str:
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


@dataclass(frozen=True)
class _Frame:
    """The window being drawn, and what every segment needs to be placed and labelled."""

    start: datetime
    end: datetime
    time_zone: str
    names: Mapping[int, str]
    colours: Mapping[int, str]

    def percent(self, instant: datetime) -> float:
        return 100 * (instant - self.start) / (self.end - self.start)

    def name(self, user_id: int) -> str:
        return self.names.get(user_id, f"user {user_id}")

    def segment(self, shift: Shift, link: str = "", *, also_in: str | None = None) -> Segment:
        """`also_in`: a layer's own zone, whose local times the title gives too."""
        label = self.name(shift.user_id)
        why = " (override)" if shift.source == OVERRIDE else ""
        segment = self._place(shift.start, shift.end, shift.user_id, label, why, shift.source, link)
        if also_in and also_in != self.time_zone:
            local = local_span(shift.start, shift.end, also_in)
            segment = replace(segment, title=f"{segment.title}; {local} in {also_in}")
        return segment

    def gap(self, gap: Window, link: str = "") -> Segment:
        return self._place(gap.start, gap.end, None, GAP, ": nobody on call", GAP, link)

    def _place(
        self,
        start: datetime,
        end: datetime,
        user_id: int | None,
        label: str,
        why: str,
        source: str,
        link: str,
    ) -> Segment:
        left = self.percent(start)
        return Segment(
            start=start,
            end=end,
            user_id=user_id,
            label=label,
            colour="" if user_id is None else self.colours[user_id],
            left=left,
            width=self.percent(end) - left,
            title=f"{label}{why}, {local_span(start, end, self.time_zone)}",
            source=source,
            link=link,
        )


def build_timeline(
    rules: ScheduleRules,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    names: Mapping[int, str],
    layer_names: Mapping[int, str],
    take: TakeLink | None = None,
) -> Timeline:
    """The rows, ticks and now marker of [start, end). Final segments that are not over yet
    link to `take` for the part from now on. Each person has a colour of their own."""
    tz = zone(rules.time_zone)  # the axis; each layer's shifts are computed in its own
    layers = by_priority(rules.layers)
    layer_rows = [layer_shifts(layer, layer_zone(layer, rules), start, end) for layer in layers]
    final = final_shifts(rules, start, end)
    colours = assign_colours(first_appearances([final, *layer_rows]))
    frame = _Frame(start, end, rules.time_zone, names, colours)
    rows = [
        Row(
            LAYER_ROW,
            layer_names.get(layer.id, f"Layer {layer.id}"),
            tuple(frame.segment(shift, also_in=layer.time_zone) for shift in shifts),
        )
        for layer, shifts in zip(layers, layer_rows, strict=True)
    ]
    rows.append(Row(FINAL, "Final schedule", _final_segments(frame, final, now, take)))
    return Timeline(
        start=start,
        end=end,
        time_zone=rules.time_zone,
        days=round((local_naive(end, tz) - local_naive(start, tz)) / timedelta(days=1)),
        rows=tuple(rows),
        ticks=_ticks(frame, tz),
        now=frame.percent(now) if start <= now < end else None,
        legend=_legend(frame, rows),
    )


def _final_segments(
    frame: _Frame, shifts: Iterable[Shift], now: datetime, take: TakeLink | None
) -> tuple[Segment, ...]:
    """The final shifts with the gaps between them, in order."""
    from_now = now.replace(second=0, microsecond=0)

    def link(start: datetime, end: datetime) -> str:
        return take(max(start, from_now), end) if take and end > now else ""

    segments, cursor = [], frame.start
    for shift in shifts:
        if shift.start > cursor:
            segments.append(frame.gap(Window(cursor, shift.start), link(cursor, shift.start)))
        segments.append(frame.segment(shift, link(shift.start, shift.end)))
        cursor = shift.end
    if cursor < frame.end:
        segments.append(frame.gap(Window(cursor, frame.end), link(cursor, frame.end)))
    return tuple(segments)


def _ticks(frame: _Frame, tz: ZoneInfo) -> tuple[Tick, ...]:
    """One tick per local midnight; labels shorten as the window grows, and name the month
    on the first day and the first of each month."""
    first, last = local_naive(frame.start, tz).date(), local_naive(frame.end, tz).date()
    days = (last - first).days
    ticks, day = [], first
    while day < last:
        at = _midnight(day, tz)
        ticks.append(Tick(at, frame.percent(at), _tick_label(day, days, day == first)))
        day += timedelta(days=1)
    return tuple(ticks)


def _tick_label(day: date, days: int, first: bool) -> str:
    label = f"{day.day}" if days > DEFAULT_DAYS else f"{day:%a} {day.day}"
    return f"{label} {day:%b}" if first or day.day == 1 else label


def _legend(frame: _Frame, rows: Iterable[Row]) -> tuple[tuple[str, str], ...]:
    # The final schedule's people first, in the order they come on call.
    seen = {
        segment.user_id: None
        for row in reversed(list(rows))
        for segment in row.segments
        if not segment.is_gap
    }
    return tuple(
        (frame.name(user_id), frame.colours[user_id]) for user_id in seen if user_id is not None
    )
