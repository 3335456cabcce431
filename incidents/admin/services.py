"""Services and their integrations (the alert sources' keys): a team's services, each with
its integrations inline, and the integration's own page, where a key is shown once, when it is
issued or rotated.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from incidents.models import Integration
from schedules.admin.access import ParentScopedInline, TeamScopedAdmin


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


class ServiceAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "escalation_policy"]
    list_filter = [("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["team", "escalation_policy"]
    search_fields = ["name", "team__name"]
    inlines = [IntegrationInline]


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
