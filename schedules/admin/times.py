"""Forms and fields of the schedule pages (schedules.admin.schedules, .layers and
.overrides): times in the schedule's time zone. People from the schedule's team are in
schedules.admin.forms.

Times on these pages are wall-clock times in the schedule's time zone (a layer's own, when it
names one: LayerTimesForm): a manager in Berlin types the 09:00 handoff they mean, not its UTC
equivalent of the day. Django's admin would use
settings.TIME_ZONE; SchedulePage activates the schedule's zone while a page is handled, and
LocalSplitDateTimeField reads local times by the rules of schedules.oncall.
"""

from abc import abstractmethod
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import timezone

from schedules.limits import RANGE_MESSAGE
from schedules.models import time_zone_names
from schedules.oncall import local_naive, to_utc, zone

_ZONE = "_schedule_page_zone"  # request attribute: the zone the page is handled in
# Request attribute on a layer's own page: the layer's own zone ("" when it names none).
LAYER_ZONE = "_layer_page_zone"


# --- Local times ------------------------------------------------------------------------------


def zone_names() -> frozenset[str]:
    return time_zone_names()  # exactly what the model's validator accepts


@cache
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zone_names())]


class LocalSplitDateTimeField(forms.SplitDateTimeField):
    """A date and a time read as wall-clock time in the active zone by the schedule rules: a
    time the clocks skip means the first instant after it, an ambiguous one its first
    occurrence. Django's own field refuses both, so a page holding such an instant (an
    override taken at a 02:00 handoff on the night the clocks go back) could not be saved
    again even untouched."""

    # Read in this zone instead of the page's (a layer's own zone: LayerTimesForm).
    zone_name: str | None = None
    # Refuse a time the clocks skip instead of moving it (a layer's first handoff).
    must_exist = False

    def compress(self, data_list: tuple[date, time] | None) -> datetime | None:
        if not data_list:
            return None
        day, clock = data_list
        if day in self.empty_values:
            raise ValidationError(self.error_messages["invalid_date"], code="invalid_date")
        if clock in self.empty_values:
            raise ValidationError(self.error_messages["invalid_time"], code="invalid_time")
        name = self.zone_name or timezone.get_current_timezone_name()
        local = datetime.combine(day, clock)
        try:
            instant = to_utc(local, zone(name))
        except OverflowError:  # a date near year 1 or 9999: its UTC instant is past datetime's
            raise ValidationError(RANGE_MESSAGE, code="range") from None
        if self.must_exist and local_naive(instant, zone(name)) != local:
            raise ValidationError(skipped_message(local, instant, name), code="skipped")
        return instant


def skipped_message(local: datetime, change: datetime, name: str) -> str:
    """Why `local` cannot be a first handoff: the clocks skip it (`change` is when)."""
    second = timedelta(seconds=1)  # offsets change at whole seconds
    jumps_from = local_naive(change - second, zone(name)) + second
    jumps_to = local_naive(change, zone(name))
    return (
        f"There is no {local:%H:%M} on {local.day} {local:%B %Y} in {name}: the clocks go from "
        f"{jumps_from:%H:%M} straight to {jumps_to:%H:%M}. A layer hands off "
        "at its first handoff's local time every day or week, so start it on another day "
        "(the handoff on a day that skips it is made at the change)."
    )


class UntouchedInstants(forms.BaseForm):
    """A stored row's times that a POST leaves as they were shown keep their instants.

    Read back from their wall-clock text, an instant in the second pass of a repeated hour
    (02:30 CET on the night the clocks go back) would become the first one, an hour earlier,
    whenever anything else on the row changed: Django writes every field of a changed row."""

    instance: Any  # a ModelForm's

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None:
            return cleaned
        for name, field in self.fields.items():
            untouched = name in cleaned and name not in self.changed_data
            if untouched and isinstance(field, LocalSplitDateTimeField):
                cleaned[name] = getattr(self.instance, name)
        return cleaned


def local_help(db_field: models.Field, request: HttpRequest) -> str:
    name = request.__dict__.get(_ZONE)
    where = f"{name}, the schedule's time zone" if name else "the schedule's time zone"
    return f"{db_field.help_text} Local time in {where}.".strip()


def layer_local_help(db_field: models.Field, request: HttpRequest) -> str:
    name = request.__dict__.get(_ZONE)
    schedules = f"the schedule's, {name}" if name else "the schedule's"
    return (
        f"{db_field.help_text} Local time in the layer's time zone ({schedules}, when the "
        "layer names none)."
    ).strip()


class LocalTimes:
    """Datetime inputs in the schedule's zone, saying which (for admins and inlines)."""

    def local_help_text(self, db_field: models.Field, request: HttpRequest) -> str:
        return local_help(db_field, request)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.DateTimeField) and db_field.editable:
            kwargs.setdefault("form_class", LocalSplitDateTimeField)
            kwargs.setdefault("widget", widgets.AdminSplitDateTime)
            kwargs.setdefault("help_text", self.local_help_text(db_field, request))
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]


class LayerLocalTimes(LocalTimes):
    """A layer's page or rows: its times are in its own zone when it names one
    (LayerTimesForm), and its zone is chosen from the IANA names or left to the schedule."""

    def local_help_text(self, db_field: models.Field, request: HttpRequest) -> str:
        own = request.__dict__.get(LAYER_ZONE)
        if own is None:  # a new layer, or the rows of several
            return layer_local_help(db_field, request)
        if own:
            return f"{db_field.help_text} Local time in {own}, the layer's time zone.".strip()
        return local_help(db_field, request)  # it names none: the schedule's

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "time_zone":
            return layer_zone_field(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


def layer_zone_field(db_field: models.Field) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", "the schedule's"), *zone_choices()],
        required=False,
        label="Time zone",
        help_text=f"{db_field.help_text} Changing it keeps the layer's start and end at the "
        "same instant; its restrictions keep their clock times, in the new zone.",
    )


class LayerTimesForm(UntouchedInstants, forms.ModelForm):
    """A layer's start and end, read and shown in the layer's own zone when it names one (a
    region's layer of a follow-the-sun schedule: its manager types Sydney's 09:00), else in
    the page's (the schedule's).

    As on the schedule page, a stored layer is read in the zone it has, even by the POST that
    changes it: its times were shown, and typed, in that zone, so they keep their instants. A
    new layer's times are typed for the zone its row names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(start := self.fields.get("start"), LocalSplitDateTimeField):
            start.must_exist = True
        name = self.reading_zone()
        if name is None:
            return
        for field_name in ("start", "end"):
            field = self.fields.get(field_name)
            if not isinstance(field, LocalSplitDateTimeField):
                continue
            field.zone_name = name
            # Shown in the layer's zone: handed to the widget as its two parts (which it would
            # otherwise compute in the page's zone), to the second like Django's own.
            if isinstance(value := self.initial.get(field_name), datetime):
                local = value.astimezone(zone(name))
                self.initial[field_name] = [local.date(), local.time().replace(microsecond=0)]

    def reading_zone(self) -> str | None:
        if self.instance.pk is not None:
            # A zone stored around validation that is not one reads as the page's: the page
            # must open for the manager to choose a real one.
            name = self.instance.time_zone
        else:
            name = self.data.get(self.add_prefix("time_zone"), "") if self.is_bound else ""
        return name if name in zone_names() else None


class SchedulePage(LocalTimes):
    """An add or change page about one schedule's times: handled, and rendered, in that
    schedule's zone (settings.TIME_ZONE until the page knows its schedule)."""

    @abstractmethod  # for mypy and the reader: ABCMeta would clash with Django's metaclasses
    def page_zone(self, request: HttpRequest, object_id: str | None) -> str | None:
        """The zone the page is handled in (each admin says whose it is)."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        name = self.page_zone(request, object_id)
        if name not in zone_names():  # none yet, or stored around validation: not a zone
            name = None
        request.__dict__[_ZONE] = name
        with timezone.override(zone(name or settings.TIME_ZONE)):
            response = super().changeform_view(  # type: ignore[misc]
                request, object_id, form_url, extra_context
            )
            if isinstance(response, SimpleTemplateResponse):
                response.render()  # now: rendering is lazy, and the zone ends with the block
        return response  # type: ignore[no-any-return]
