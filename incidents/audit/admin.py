"""The auditor's admin: the export form (an "Export" button on the audit log), the list of
exports with their manifests, and the response-times (MTTA/MTTR) report.

Imported from incidents/admin/__init__.py. The audit log's own changelist is auditlog's
LogEntryAdmin; the button comes from templates/admin/incidents/auditentry/change_list.html.
"""

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.audit.api import export_response
from incidents.audit.exports import (
    ExportParameterError,
    ExportRequest,
    build_export_request,
    can_export,
    export_begin,
    export_filename,
    manifest_json,
)
from incidents.audit.models import AuditExport
from incidents.audit.reports import ResponseTimes, response_times
from schedules.models import Team

DEFAULT_REPORT_DAYS = 90


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _default_period() -> tuple[date, date]:
    """The last 90 days, today included (the end date is exclusive)."""
    today = timezone.localdate()
    return today - timedelta(days=DEFAULT_REPORT_DAYS - 1), today + timedelta(days=1)


class PeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="Exclusive: the day after."
    )
    team = forms.ModelChoiceField(Team.objects.all(), required=False, empty_label="All teams")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", "The period's end must be after its start.")
        return cleaned


def _model_choices() -> list[tuple[str, str]]:
    models = ContentType.objects.order_by("app_label", "model")
    return [("", "All models")] + [
        (f"{ct.app_label}.{ct.model}", f"{ct.app_label}.{ct.model}") for ct in models
    ]


class ExportForm(PeriodForm):
    kind = forms.ChoiceField(choices=AuditExport.Kind.choices)
    format = forms.ChoiceField(choices=AuditExport.Format.choices)
    model = forms.ChoiceField(choices=_model_choices, required=False, help_text="Audit log only.")
    actor = forms.CharField(required=False, help_text="A username or an actor label.")
    field_order = ["kind", "format", "start", "end", "team", "model", "actor"]

    export_request: ExportRequest

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        model = cleaned.get("model")
        try:
            self.export_request = build_export_request(
                kind=cleaned["kind"],
                export_format=cleaned["format"],
                start=_midnight(cleaned["start"]),
                end=_midnight(cleaned["end"]),
                team=cleaned.get("team"),
                model=ContentType.objects.get_by_natural_key(*model.split(".")) if model else None,
                actor=cleaned.get("actor") or "",
            )
        except ExportParameterError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(AuditExport)
class AuditExportAdmin(admin.ModelAdmin):
    """Exports are records of what an auditor took away: listed, never edited."""

    list_display = [
        "id",
        "kind",
        "format",
        "period",
        "row_count",
        "sha256_short",
        "chain_head",
        "requested_by",
        "created_at",
        "finished_at",
        "manifest_link",
    ]
    list_filter = ["kind", "format"]
    list_select_related = ["requested_by"]
    date_hierarchy = "created_at"
    search_fields = ["sha256", "requested_by__username"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_export(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_export(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made through the export form, which streams the file as it records it

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="period")
    def period(self, export: AuditExport) -> str:
        return f"{export.period_start:%Y-%m-%d %H:%M} .. {export.period_end:%Y-%m-%d %H:%M}"

    @admin.display(description="SHA-256")
    def sha256_short(self, export: AuditExport) -> str:
        return (
            format_html('<code title="{}">{}…</code>', export.sha256, export.sha256[:16])
            if export.sha256
            else "-"
        )

    @admin.display(description="chain head")
    def chain_head(self, export: AuditExport) -> str:
        if export.chain_head_seq is None:
            return "-"
        return format_html(
            '<code title="{}">#{} {}…</code>',
            export.chain_head_digest,
            export.chain_head_seq,
            export.chain_head_digest[:12],
        )

    @admin.display(description="manifest")
    def manifest_link(self, export: AuditExport) -> str:
        if export.finished_at is None:
            return "unfinished"
        url = reverse("admin:incidents_auditexport_manifest", args=[export.pk])
        return format_html('<a href="{}">manifest</a>', url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="incidents_auditexport_export"),
            path(
                "<int:pk>/manifest/",
                view(self.manifest_view),
                name="incidents_auditexport_manifest",
            ),
            path(
                "response-times/",
                view(self.response_times_view),
                name="incidents_auditexport_response_times",
            ),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **extra,
        }

    def export_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        """GET: the form. POST: record the export and stream the file."""
        if not can_export(request.user):
            raise PermissionDenied
        if request.method == "POST":
            form = ExportForm(request.POST)
            if form.is_valid():
                export = export_begin(form.export_request, requested_by=request.user)  # type: ignore[arg-type]
                return export_response(export)
        else:
            start, end = _default_period()
            form = ExportForm(initial={"start": start, "end": end})
        context = self._context(request, "Export the audit log or incident records", form=form)
        return TemplateResponse(request, "admin/audit/export_form.html", context)

    def manifest_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not can_export(request.user):
            raise PermissionDenied
        export = get_object_or_404(AuditExport.objects.select_related("requested_by"), pk=pk)
        if export.finished_at is None:
            return HttpResponse(
                "This export has not finished.", status=409, content_type="text/plain"
            )
        response = HttpResponse(manifest_json(export), content_type="application/json")
        filename = f"{export_filename(export)}.manifest.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def response_times_view(self, request: HttpRequest) -> HttpResponse:
        """MTTA/MTTR per team and service for a period (default: the last 90 days)."""
        if not can_export(request.user):
            raise PermissionDenied
        start, end = _default_period()
        form = PeriodForm(request.GET or {"start": start, "end": end})
        rows: list[ResponseTimes] = []
        if form.is_valid():
            team = form.cleaned_data["team"]
            rows = list(
                response_times(
                    start=_midnight(form.cleaned_data["start"]),
                    end=_midnight(form.cleaned_data["end"]),
                    team_id=team.pk if team else None,
                )
            )
        context = self._context(
            request,
            "Response times (MTTA/MTTR)",
            form=form,
            rows=[_displayed(row) for row in rows],
        )
        return TemplateResponse(request, "admin/audit/response_times.html", context)


def format_duration(seconds: float | None) -> str:
    """12345.6 -> "3h 25m 46s"; None -> "-"."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _displayed(row: ResponseTimes) -> dict[str, Any]:
    return {
        "row": row,
        "mtta_mean": format_duration(row.mtta_mean),
        "mtta_median": format_duration(row.mtta_median),
        "mttr_mean": format_duration(row.mttr_mean),
        "mttr_median": format_duration(row.mttr_median),
    }
