"""Overrides on a page of their own: managers put anyone of their team on call, and any
member of a team may cover a shift of its schedules themselves ("take this shift").
"""

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from schedules.access import perm_name, visible
from schedules.admin.access import holds_any, is_active_staff, is_team_member, request_can
from schedules.admin.forms import OverrideForm
from schedules.admin.parts import ScheduleChildAdmin, requested_schedule
from schedules.limits import EARLIEST, LATEST
from schedules.models import Override, Schedule
from schedules.timeline import local_time

User = get_user_model()


def shift_schedules(user: Any) -> QuerySet[Schedule]:
    """The schedules `user` may add overrides to: those they may change (for anyone), and
    their own teams' (for themselves: "take this shift", as the API allows)."""
    editable = visible(user, perm_name(Schedule, "change"), Schedule.objects.all())
    own = models.Q(team__memberships__user=user.pk) if user.is_active else models.Q(pk__in=[])
    return Schedule.objects.filter(models.Q(pk__in=editable.values("pk")) | own).distinct()


def _instant(raw: str | None) -> datetime | None:
    """The aware instant `raw` names, if an override may hold it (schedules.limits); else None,
    and the field starts empty: one near year 1 or 9999 cannot even be shown in local time."""
    try:
        value = parse_datetime(raw or "")
    except ValueError:
        return None
    if value is None or timezone.is_naive(value):
        return None
    return value if EARLIEST <= value < LATEST else None


class OverrideAdmin(ScheduleChildAdmin):
    """Managers put anyone of their team on call; any member of a team may also cover a shift
    of its schedules themselves ("take this shift", as the API allows): for them the form
    offers their teams' schedules and only themselves. Changing and deleting overrides stays
    with the managers."""

    form = OverrideForm
    list_display = ["user", "schedule_link", "starts", "ends", "created_at"]
    list_select_related = ["schedule", "user"]
    search_fields = ["schedule__name", "user__username", "user__first_name", "user__last_name"]
    fields = ["schedule", "user", "start", "end"]
    ordering = ["-start"]

    def requested(self, request: HttpRequest) -> Schedule | None:
        return requested_schedule(request, shift_schedules(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) or (
            is_active_staff(request) and is_team_member(request)
        )

    def _puts_anyone_on_call(self, request: HttpRequest) -> bool:
        """Whether the user may put others on call from this page: they may change its
        schedule, or (before one is chosen) some schedule. Else only themselves."""
        if schedule := self.requested(request):
            return request_can(request, perm_name(Schedule, "change"), schedule)
        return holds_any(request, Schedule, "change")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "schedule":
            kwargs["queryset"] = shift_schedules(request.user)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "user" and field and not self._puts_anyone_on_call(request):
            field.queryset = User.objects.filter(pk=request.user.pk or 0)
        return field

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kw)
        form.editor = request.user  # a class of its own per call (modelform_factory)
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """What "take this shift" on the timeline fills in: ?schedule=&start=&end=&user=
        (instants in ISO 8601 with their offset)."""
        initial: dict[str, Any] = {}
        if schedule := self.requested(request):
            initial["schedule"] = schedule.pk
        for name in ("start", "end"):
            if instant := _instant(request.GET.get(name)):
                initial[name] = instant
        if (user := request.GET.get("user", "")).isdigit():
            initial["user"] = int(user)
        return initial

    @admin.display(description="start", ordering="start")
    def starts(self, override: Override) -> str:
        return local_time(override.start, override.schedule.time_zone)

    @admin.display(description="end", ordering="end")
    def ends(self, override: Override) -> str:
        return local_time(override.end, override.schedule.time_zone)
