"""A schedule's parts, rotations and overrides, on pages of their own. They have no
permissions of their own: they are their schedule's (schedules.admin.access.ParentScopedAdmin).
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from schedules.access import perm_name, visible
from schedules.admin.access import ParentScopedAdmin
from schedules.admin.forms import TeamPeopleChoices
from schedules.admin.gaps import warn_about_gaps
from schedules.admin.times import SchedulePage
from schedules.models import Schedule

_REQUESTED = "_requested_schedule"


# --- A schedule's parts: their own pages -------------------------------------------------------


def requested_schedule(
    request: HttpRequest, among: QuerySet[Schedule] | None = None
) -> Schedule | None:
    """The schedule a rotation or override form is for (POSTed, or ?schedule= on an add
    page), if it is one of `among`: by default, those the user may change. Looked up once
    per request (a page asks with the same `among` each time)."""
    key = _REQUESTED if among is None else f"{_REQUESTED}_among"
    if key not in request.__dict__:
        raw = request.POST.get("schedule") or request.GET.get("schedule") or ""
        if among is None:
            among = visible(request.user, perm_name(Schedule, "change"), Schedule.objects.all())
        request.__dict__[key] = among.filter(pk=raw).first() if raw.isdigit() else None
    schedule: Schedule | None = request.__dict__[key]
    return schedule


class BackToSchedule:
    """After a plain Save, go back to the schedule's page: its timeline shows the result."""

    def _back(self, request: HttpRequest, obj: Any, response: HttpResponse) -> HttpResponse:
        stays = {"_continue", "_addanother", "_saveasnew", IS_POPUP_VAR} & set(request.POST)
        if isinstance(response, HttpResponseRedirect) and not stays:
            return HttpResponseRedirect(
                reverse("admin:schedules_schedule_change", args=[obj.schedule_id])
            )
        return response

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        response = super().response_add(request, obj, post_url_continue)  # type: ignore[misc]
        return self._back(request, obj, response)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        return self._back(request, obj, super().response_change(request, obj))  # type: ignore[misc]


class ScheduleChildAdmin(BackToSchedule, TeamPeopleChoices, SchedulePage, ParentScopedAdmin):
    """Rotations and overrides: their schedule's permissions, zone, people and gap warnings."""

    owner_model = Schedule
    owner_path = "schedule"
    list_filter = [("schedule", admin.RelatedOnlyFieldListFilter)]

    def requested(self, request: HttpRequest) -> Schedule | None:
        """The schedule an add page is for (?schedule=, or the one POSTed), if the user may
        add to it."""
        return requested_schedule(request)

    def _schedule_of(self, request: HttpRequest, object_id: str | None) -> Schedule | None:
        if object_id:  # a change page: the row's own schedule, which it keeps
            obj = self.get_object(request, unquote(object_id))
            return obj.schedule if obj else None
        return self.requested(request)

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        schedule = self._schedule_of(request, object_id)
        return schedule.time_zone if schedule else None

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        schedule = obj.schedule if obj is not None else self.requested(request)
        return schedule.team_id if schedule else None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A part stays with its schedule, as in the API: moved, it would take its people to
        # another team's schedule, checked against the old team. Create it there instead.
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "schedule"] if obj is not None else readonly

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        kw["formfield_callback"] = self._people_callback(request, obj)
        return super().get_form(request, obj, change, **kw)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        warn_about_gaps(request, form.instance.schedule)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        schedule = obj.schedule
        super().delete_model(request, obj)
        warn_about_gaps(request, schedule)

    @admin.display(description="schedule", ordering="schedule__name")
    def schedule_link(self, obj: Any) -> str:
        url = reverse("admin:schedules_schedule_change", args=[obj.schedule_id])
        return format_html('<a href="{}">{}</a>', url, obj.schedule)
