from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin

from schedules.models import Team, TeamMembership


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]
    show_auditlog_history_link = True
