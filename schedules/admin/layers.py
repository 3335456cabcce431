"""A layer's (a rotation's) own page: its participants as rows, its restrictions, and its
times in its own zone when it names one.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest

from schedules.admin.access import ParentScopedInline
from schedules.admin.forms import LAYER_FIELDS, ParticipantForm, TeamPeopleInline, person_label
from schedules.admin.parts import ScheduleChildAdmin, requested_schedule
from schedules.admin.times import LAYER_ZONE, LayerLocalTimes, LayerTimesForm
from schedules.limits import MAX_PARTICIPANTS, MAX_RESTRICTIONS
from schedules.models import Restriction, Rotation, RotationParticipant
from schedules.timeline import local_time


class CappedInline:
    """At most `max_num` rows (schedules.limits), and at least `min_num`, refused on save:
    max_num alone only hides the add button, and a scripted or forged POST may carry any
    number of rows."""

    max_num: int
    min_num: int | None = None
    too_many: str  # with %(num)d
    too_few = ""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("validate_max", True)
        kwargs.setdefault("validate_min", bool(self.min_num))
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        # A class of its own per call (inlineformset_factory), so this stays with it.
        formset.default_error_messages = {
            "too_many_forms": self.too_many,
            "too_few_forms": self.too_few,
        }
        return formset


class ParticipantInline(CappedInline, TeamPeopleInline, ParentScopedInline, admin.TabularInline):
    model = RotationParticipant
    form = ParticipantForm
    owner_path = "schedule"
    fields = ["position", "user"]
    ordering = ["position", "pk"]
    extra = 1
    # A layer has someone, as on the schedule page and in the API: deleting every row is
    # refused, not saved as a layer of nobody.
    min_num = 1
    max_num = MAX_PARTICIPANTS
    too_many = "A rotation takes at most %(num)d participants."
    too_few = "A rotation needs at least one participant."
    verbose_name = "participant"
    verbose_name_plural = (
        "participants, in turn order (lowest position first; a person may take several places)"
    )

    def team_id_for(self, request: HttpRequest, obj: Any) -> int | None:
        schedule = obj.schedule if obj is not None else requested_schedule(request)
        return schedule.team_id if schedule else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[RotationParticipant]:
        return super().get_queryset(request).select_related("user")  # str(row)


class RestrictionInline(CappedInline, ParentScopedInline, admin.TabularInline):
    model = Restriction
    owner_path = "schedule"
    fields = ["start_day", "start_time", "end_day", "end_time"]
    extra = 0
    max_num = MAX_RESTRICTIONS
    too_many = "A rotation takes at most %(num)d restrictions."
    verbose_name_plural = (
        "restrictions: the layer is on only in these windows, in its time zone (no day: "
        "every day; none at all: always on)"
    )

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is not None:  # say which zone (the admin makes its inlines anew per request)
            whose = "its own" if obj.time_zone else "the schedule's"
            self.verbose_name_plural = (
                f"restrictions: the layer is on only in these windows, in {obj.zone_name} "
                f"({whose} time zone; no day: every day; none at all: always on)"
            )
        return super().get_formset(request, obj, **kwargs)


class RotationAdmin(LayerLocalTimes, ScheduleChildAdmin):
    """A layer's own page: its times, and its restrictions' clock times, are in its own zone
    when it names one (LayerTimesForm), else in the schedule's."""

    form = LayerTimesForm
    list_display = ["name", "schedule_link", "priority", "starts", "zone", "turn", "people"]
    list_select_related = ["schedule"]
    search_fields = ["name", "schedule__name"]
    fields = ["schedule", *LAYER_FIELDS]
    inlines = [ParticipantInline, RestrictionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rotation]:
        return super().get_queryset(request).prefetch_related("participants__user")

    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        if object_id and (rotation := self.get_object(request, unquote(object_id))):
            request.__dict__[LAYER_ZONE] = rotation.time_zone  # for the fields' help
            # Every time on the page is the layer's: the date widgets' "Now" and their note
            # about the browser's offset go by the page's zone.
            return rotation.zone_name
        return super().page_zone(request, object_id)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        schedule = requested_schedule(request)
        return {"schedule": schedule.pk} if schedule else {}

    @admin.display(description="first handoff", ordering="start")
    def starts(self, rotation: Rotation) -> str:
        return local_time(rotation.start, rotation.zone_name)

    @admin.display(description="time zone", ordering="time_zone")
    def zone(self, rotation: Rotation) -> str:
        return rotation.time_zone or f"{rotation.schedule.time_zone} (the schedule's)"

    @admin.display(description="turns")
    def turn(self, rotation: Rotation) -> str:
        unit = rotation.turn_unit.removesuffix("s") if rotation.turn_length == 1 else None
        return f"{rotation.turn_length} {unit or rotation.turn_unit}"

    @admin.display(description="participants, in turn order")
    def people(self, rotation: Rotation) -> str:
        return " → ".join(person_label(p.user) for p in rotation.participants.all())
