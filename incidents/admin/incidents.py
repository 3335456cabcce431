"""The incident's page and the incidents list: IncidentAdmin, its bulk actions (acknowledge,
resolve) and the views behind the buttons and forms of its page (incidents.admin.forms). Its
records inline are in incidents.admin.records.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from incidents import services
from incidents.admin.forms import IncidentActionForm, NoteForm, ReassignForm, ResolveForm
from incidents.admin.records import AlertInline, IncidentEventInline, NotificationInline
from incidents.models import Incident
from schedules.access import perm_name, visible
from schedules.admin.access import TeamScopedAdmin


class IncidentAdmin(TeamScopedAdmin):
    list_display = [
        "number",
        "title",
        "status_badge",
        "service",
        "severity",
        "age",
        "current_level_display",
        "assignee",
    ]
    list_display_links = ["number", "title"]
    list_filter = [
        "status",
        "severity",
        ("service__team", admin.RelatedOnlyFieldListFilter),
        ("service", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["service", "assignee"]
    search_fields = ["title", "dedup_key"]
    date_hierarchy = "created_at"
    actions = ["acknowledge_selected", "resolve_selected"]
    inlines = [IncidentEventInline, AlertInline, NotificationInline]
    fields = readonly_fields = (
        "title",
        "service",
        "severity",
        "status",
        "assignee",
        "dedup_key",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "resolution_note",
        "current_level_display",
        "loop",
        "next_escalation_at",
    )
    change_form_template = "admin/incidents/incident/change_form.html"  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # incidents come from alerts

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        # Nothing on the incident page is edited through the form: state changes go through
        # the services behind its buttons (acknowledge, resolve, reassign, note). A forged POST
        # of the form must not write the row (an unlocked save could bring back a stale
        # escalation token).
        return

    @admin.display(description="#", ordering="pk")
    def number(self, incident: Incident) -> str:
        return f"#{incident.pk}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, incident: Incident) -> str:
        colours = {"triggered": "#ba2121", "acknowledged": "#b8860b", "resolved": "#2e7d32"}
        return format_html(
            '<b style="color:{}">{}</b>', colours[incident.status], incident.get_status_display()
        )

    @admin.display(description="age", ordering="created_at")
    def age(self, incident: Incident) -> str:
        return timesince(incident.created_at, timezone.now())

    @admin.display(description="level")
    def current_level_display(self, incident: Incident) -> str:
        level = incident.current_level
        if level is None:
            return "-"
        return f"{level}" + (f" (repeat {incident.loop})" if incident.loop else "")

    @admin.action(description="Acknowledge selected incidents", permissions=["change"])
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._transition(request, queryset, services.incident_acknowledge, "acknowledged")

    @admin.action(description="Resolve selected incidents", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._transition(request, queryset, services.incident_resolve, "resolved")

    def _transition(self, request: HttpRequest, incidents: Any, service: Any, done: str) -> None:
        actor = services.Actor.of_user(request.user)
        changed = 0
        # Only the incidents this user may change, whatever else was selected.
        allowed = visible(request.user, perm_name(Incident, "change"), incidents)
        for incident_id in allowed.values_list("pk", flat=True):
            try:
                service(incident_id=incident_id, actor=actor)
                changed += 1
            except services.DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if changed:
            self.message_user(request, f"{changed} incident(s) {done}.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/acknowledge/",
                view(require_POST(self.acknowledge_view)),
                name="incidents_incident_acknowledge",
            ),
            path(
                "<int:pk>/resolve/",
                view(require_POST(self.resolve_view)),
                name="incidents_incident_resolve",
            ),
            path(
                "<int:pk>/reassign/",
                view(require_POST(self.reassign_view)),
                name="incidents_incident_reassign",
            ),
            path(
                "<int:pk>/note/",
                view(require_POST(self.note_view)),
                name="incidents_incident_note",
            ),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._transition_view(request, pk, services.incident_acknowledge, "acknowledged")

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The Resolve button, with the optional resolution note typed next to it."""
        return self._form_view(request, pk, ResolveForm, self._resolve)

    def reassign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._form_view(request, pk, ReassignForm, self._reassign)

    def note_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._form_view(request, pk, NoteForm, self._add_note)

    def _transition_view(
        self, request: HttpRequest, pk: int, service: Any, done: str
    ) -> HttpResponse:
        incident = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, incident):
            return HttpResponse(status=403)
        self._transition(request, Incident.objects.filter(pk=incident.pk), service, done)
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[pk]))

    def _form_view(
        self,
        request: HttpRequest,
        pk: int,
        form_class: type[IncidentActionForm],
        apply: Callable[[HttpRequest, IncidentActionForm], None],
    ) -> HttpResponse:
        """A form of the incident's page, posted: access checked as for the buttons, then
        the form, then the service; what went wrong is a message on the page, never a 500."""
        incident = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, incident):
            return HttpResponse(status=403)
        form = form_class(request.POST, incident=incident)
        if form.is_valid():
            apply(request, form)
        else:
            self.message_user(request, form.error_text(), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[pk]))

    def _resolve(self, request: HttpRequest, form: IncidentActionForm) -> None:
        resolve = partial(services.incident_resolve, note=form.cleaned_data["note"])
        self._transition(request, Incident.objects.filter(pk=form.incident.pk), resolve, "resolved")

    def _reassign(self, request: HttpRequest, form: IncidentActionForm) -> None:
        assignee = form.cleaned_data["assignee"]
        try:
            services.incident_reassign(
                incident_id=form.incident.pk,
                actor=services.Actor.of_user(request.user),
                to_user=assignee,
                note=form.cleaned_data["note"],
            )
        except services.DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request, f"Incident #{form.incident.pk} reassigned to {assignee}.", messages.SUCCESS
        )

    def _add_note(self, request: HttpRequest, form: IncidentActionForm) -> None:
        try:
            services.incident_add_note(
                incident_id=form.incident.pk,
                actor=services.Actor.of_user(request.user),
                text=form.cleaned_data["text"],
            )
        except services.DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, "Note added.", messages.SUCCESS)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Incident | None = None,
    ) -> HttpResponse:
        # Only someone who may change the incident is offered its forms.
        if obj is not None and self.has_change_permission(request, obj):
            context["incident_forms"] = {
                "resolve": ResolveForm(incident=obj),
                "reassign": ReassignForm(incident=obj),
                "note": NoteForm(incident=obj),
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)
