"""Who is on call: pure functions over a schedule's rules (no I/O; see schedules.selectors for
loading them).

Time, by construction:
- Every instant in and out is an aware UTC datetime; nothing depends on the process time zone.
- Day and week turns are calendar turns in the layer's zone: the handoff keeps its local
  wall-clock time across DST changes. Minute and hour turns (custom lengths: 90 minutes, 36
  hours) are absolute durations.
- A local time that does not exist (the hour skipped in spring) means the first valid instant
  after it, which is the moment of the change; an ambiguous one (the hour repeated in autumn)
  means its first occurrence.
- Restrictions are wall-clock windows in the layer's zone, so they too follow DST.
- A layer's zone is the schedule's unless the layer names its own: a follow-the-sun schedule
  gives each region's layer its region's zone, and each keeps its local hours across its own
  region's DST changes (which fall on different dates, or never).

The final schedule at an instant: the most recently created override covering it, else the
highest-priority layer that has someone then, else nobody (a gap).
"""

from schedules.oncall.clock import local_naive, to_utc, zone
from schedules.oncall.final import (
    by_priority,
    final_shifts,
    gaps,
    join_touching,
    layers_on_at,
    oncall_at,
)
from schedules.oncall.layers import handoff, layer_shifts, layer_zone
from schedules.oncall.restrictions import restriction_windows
from schedules.oncall.rules import (
    ABSOLUTE_UNITS,
    DAYS,
    HOURS,
    LAYER,
    MAX_TURN,
    MIN_TURN,
    MINUTES,
    OVERRIDE,
    UNCOMPUTABLE,
    UNIT_LENGTHS,
    WEEKS,
    Layer,
    OverrideRule,
    RestrictionRule,
    ScheduleRules,
    Shift,
    Window,
)

__all__ = [
    "ABSOLUTE_UNITS",
    "DAYS",
    "HOURS",
    "LAYER",
    "MAX_TURN",
    "MINUTES",
    "MIN_TURN",
    "OVERRIDE",
    "UNCOMPUTABLE",
    "UNIT_LENGTHS",
    "WEEKS",
    "Layer",
    "OverrideRule",
    "RestrictionRule",
    "ScheduleRules",
    "Shift",
    "Window",
    "by_priority",
    "final_shifts",
    "gaps",
    "handoff",
    "join_touching",
    "layer_shifts",
    "layer_zone",
    "layers_on_at",
    "local_naive",
    "oncall_at",
    "restriction_windows",
    "to_utc",
    "zone",
]
