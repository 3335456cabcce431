from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from escalation.models import EscalationLevel, EscalationPolicy
from schedules.access import managed_teams, team_members
from schedules.admin_access import ParentScopedInline, TeamScopedAdmin


class EscalationLevelInline(ParentScopedInline, admin.TabularInline):
    model = EscalationLevel
    extra = 0
    min_num = 1
    ordering = ["position"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # People on a level come from the teams the editor manages (everyone, for superusers).
        if db_field.name == "users" and not request.user.is_superuser:
            kwargs["queryset"] = team_members(managed_teams(request.user))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "repeat", "level_count"]
    # Only the teams whose policies the user can see (a plain "team" filter names them all).
    list_filter = [("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]
    inlines = [EscalationLevelInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        return super().get_queryset(request).annotate(level_total=Count("levels"))

    @admin.display(description="levels", ordering="level_total")
    def level_count(self, policy: EscalationPolicy) -> int:
        return policy.level_total  # type: ignore[attr-defined]
