"""The warning a manager gets, after saving a schedule or one of its parts, when nobody will
be on call through it in the next 28 days (or when its rules cannot be computed)."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone

from schedules.models import Schedule
from schedules.oncall import UNCOMPUTABLE, gaps
from schedules.selectors import schedule_rules
from schedules.timeline import local_span

GAP_HORIZON = timedelta(days=28)
GAPS_LISTED = 3


# --- Gaps --------------------------------------------------------------------------------------


def uncomputable_message(error: Exception) -> str:
    return (
        "This schedule's rules cannot be computed, so nobody is on call through it and its "
        f"timeline cannot be drawn ({error}). They were stored past what the admin and the API "
        "accept: correct its time zone, or its layers' time zones, turns and dates."
    )


def warn_about_gaps(request: HttpRequest, schedule: Schedule) -> None:
    """After a save: tell the manager when nobody will be on call in the next 28 days."""
    now = timezone.now()
    end = now + GAP_HORIZON
    rules = schedule_rules([schedule.pk], window=(now, end)).get(schedule.pk)
    try:
        found = gaps(rules, now, end) if rules else []
    except UNCOMPUTABLE as error:
        messages.error(request, uncomputable_message(error))
        return
    if not found:
        return
    listed = "; ".join(
        local_span(gap.start, gap.end, schedule.time_zone) for gap in found[:GAPS_LISTED]
    )
    if len(found) > GAPS_LISTED:
        listed += f"; and {len(found) - GAPS_LISTED} more"
    messages.warning(
        request,
        f"Nobody is on call for “{schedule}” at these times in the next 28 days "
        f"({schedule.time_zone}): {listed}.",
    )
