"""What the engine writes for an incident (alerts, the timeline, notifications), read-only:
inline on the incident's page (schedules.admin.access.ParentScopedInline) and in their own
lists, seen by whoever may see the incident (shift notices: the schedule).
"""

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from escalation.contact import row_address, with_whole_address
from incidents.models import Alert, Incident, IncidentEvent, Notification
from schedules.access import can, perm_name, visible
from schedules.admin.access import ParentScopedInline, holds_any, is_team_member
from schedules.models import Schedule


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
