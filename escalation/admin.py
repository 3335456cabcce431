from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from escalation.models import EscalationLevel, EscalationPolicy


class EscalationLevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0
    min_num = 1
    autocomplete_fields = ["users"]
    ordering = ["position"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin):
    list_display = ["name", "team", "repeat", "level_count"]
    list_filter = ["team"]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]
    inlines = [EscalationLevelInline]
    show_auditlog_history_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        return super().get_queryset(request).annotate(level_total=Count("levels"))

    @admin.display(description="levels", ordering="level_total")
    def level_count(self, policy: EscalationPolicy) -> int:
        return policy.level_total  # type: ignore[attr-defined]
