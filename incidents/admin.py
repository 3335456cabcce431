from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from escalation.contact import row_address, with_whole_address
from incidents import services
from incidents.admin_forms import IncidentActionForm, NoteForm, ReassignForm, ResolveForm
from incidents.audit import token_admin
from incidents.models import Alert, Incident, IncidentEvent, Integration, Notification, Service
from schedules.access import can, perm_name, visible
from schedules.admin.access import (
    ParentScopedInline,
    TeamScopedAdmin,
    holds_any,
    is_team_member,
)
from schedules.models import Schedule


class IntegrationInline(ParentScopedInline, admin.TabularInline):
    model = Integration
    extra = 0
    fields = ["name", "kind", "key_prefix", "is_active", "created_at"]
    readonly_fields = ["name", "kind", "key_prefix", "created_at"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Keys are generated and shown once on the integration's own add page.
        return False


@admin.register(Service)
class ServiceAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "escalation_policy"]
    list_filter = [("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["team", "escalation_policy"]
    search_fields = ["name", "team__name"]
    inlines = [IntegrationInline]


@admin.register(Integration)
class IntegrationAdmin(TeamScopedAdmin):
    list_display = ["name", "service", "kind", "key_prefix", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    list_select_related = ["service"]
    search_fields = ["name", "service__name"]
    readonly_fields = ["key_prefix", "created_at"]
    actions = ["rotate_keys"]

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        key = None if change else obj.issue_key()
        super().save_model(request, obj, form, change)
        if key is not None:
            self._show_key_once(request, obj, key)

    @admin.action(
        description="Rotate the keys of the selected integrations", permissions=["change"]
    )
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            key = integration.issue_key()
            integration.save()
            self._show_key_once(request, integration, key)

    def _show_key_once(self, request: HttpRequest, integration: Integration, key: str) -> None:
        url = request.build_absolute_uri(integration.webhook_path(key))
        self.message_user(
            request,
            format_html(
                "Key for <b>{}</b> (shown only now, copy it): <code>{}</code> &mdash; "
                "webhook URL <code>{}</code>",
                integration,
                key,
                url,
            ),
            messages.WARNING,
        )


class ReadOnlyInline(ParentScopedInline, admin.TabularInline):
    """The incident's own records: shown to whoever may see the incident, edited by nobody."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IncidentEventInline(ReadOnlyInline):
    model = IncidentEvent
    verbose_name_plural = "timeline"
    fields = readonly_fields = ("at", "kind", "message", "actor_label")


class AlertInline(ReadOnlyInline):
    model = Alert
    fields = readonly_fields = (
        "received_at",
        "action",
        "severity",
        "summary",
        "source",
        "alert_key",
    )


@admin.display(description="address")
def _address(notification: Notification) -> str:
    # Whole only on the viewer's own rows (everyone's, for a superuser): a webhook URL may
    # carry its secret. The queryset says which (escalation.contact.with_whole_address).
    return row_address(notification, notification.channel)


class NotificationInline(ReadOnlyInline):
    model = Notification
    fields = readonly_fields = (
        "created_at",
        "purpose",
        "user",
        "channel",
        "shown_address",
        "level_position",
        "loop",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    )
    shown_address = staticmethod(_address)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        rows = super().get_queryset(request).select_related("user")
        return with_whole_address(rows, request.user)


@admin.register(Incident)
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


class IncidentRecordAdmin(admin.ModelAdmin):
    """Records written by the engine for an incident: browsable by whoever may see the
    incident, never edited or deleted by hand."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        incidents = visible(request.user, perm_name(Incident, "view"), Incident.objects.all())
        return super().get_queryset(request).filter(incident__in=incidents)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return False
        if user.has_perm(perm_name(self.model, "view")):
            return True
        if obj is None:
            return is_team_member(request) or holds_any(request, Incident, "view")
        return can(user, perm_name(Incident, "view"), obj.incident)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(IncidentRecordAdmin):
    list_display = ["received_at", "action", "severity", "summary", "integration", "incident"]
    list_filter = [
        "action",
        "severity",
        "integration__kind",
        ("integration__service", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["integration__service", "incident"]
    search_fields = ["summary", "dedup_key", "alert_key", "source"]
    date_hierarchy = "received_at"


@admin.register(Notification)
class NotificationAdmin(IncidentRecordAdmin):
    """Pages and manager notices belong to an incident; shift notices to a schedule, and are
    seen by whoever may see that schedule."""

    list_display = [
        "created_at",
        "purpose",
        "incident",
        "schedule",
        "user",
        "channel",
        "shown_address",
        "level_position",
        "loop",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["purpose", "status", "channel"]
    list_select_related = ["incident", "schedule", "user"]
    # Not the address: a search that matches reveals it, a piece at a time.
    search_fields = ["user__username", "idempotency_key"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "purpose",
        "incident",
        "schedule",
        "shift_at",
        "user",
        "channel",
        "shown_address",
        "level_position",
        "loop",
        "detail",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "last_error",
        "idempotency_key",
    )
    shown_address = staticmethod(_address)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        user = request.user
        incidents = visible(user, perm_name(Incident, "view"), Incident.objects.all())
        schedules = visible(user, perm_name(Schedule, "view"), Schedule.objects.all())
        rows = admin.ModelAdmin.get_queryset(self, request).filter(
            Q(incident__in=incidents) | Q(incident=None, schedule__in=schedules)
        )
        return with_whole_address(rows, request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None or obj.incident_id is not None:
            return super().has_view_permission(request, obj)
        return super().has_view_permission(request) and can(
            request.user, perm_name(Schedule, "view"), obj.schedule
        )


import incidents.audit.admin  # noqa: F401,E402


class OperatorsQueueAdmin(QueueAdmin):
    """django-rq's dashboard checks only is_staff, so every team member would see (and could
    delete, requeue or empty) every team's jobs. It is an operator's tool: superusers only.

    Anonymous requests pass through untouched: the admin pages send them to the login page
    and the JSON stats view checks its own API token."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def get_urls(self) -> list[URLPattern]:
        return [
            URLPattern(url.pattern, _operators_only(url.callback), url.default_args, url.name)
            for url in super().get_urls()
        ]


def _operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _operators_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not _operator(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, OperatorsQueueAdmin)
# API tokens, without their keys in the admin's own log.
token_admin.register(admin.site)
