from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from schedules.admin_access import ParentScopedInline, TeamScopedAdmin
from schedules.models import Team, TeamMembership

Role = TeamMembership.Role


def membership_form(may_grant_manager: bool) -> type[forms.ModelForm]:
    """Team managers manage memberships below manager; making or unmaking a manager is for
    administrators (superusers, or holders of the model-level change_team permission)."""

    class MembershipForm(forms.ModelForm):
        class Meta:
            model = TeamMembership
            fields = ["user", "role"]

        def clean(self) -> dict[str, Any]:
            cleaned = super().clean() or {}
            if may_grant_manager:
                return cleaned
            was_manager = self.instance.pk and self.initial.get("role") == Role.MANAGER
            if was_manager and self.has_changed():
                raise ValidationError("Only an administrator can change a manager's membership.")
            if cleaned.get("role") == Role.MANAGER and not was_manager:
                raise ValidationError("Only an administrator can make someone a manager.")
            return cleaned

    return MembershipForm


class MembershipFormSet(forms.BaseInlineFormSet):
    """Django skips the form validation of rows marked for deletion, so the refusal to remove
    a manager lives here, on the formset, which sees every row."""

    may_grant_manager = False

    def clean(self) -> None:
        super().clean()
        if self.may_grant_manager:
            return
        for form in self.initial_forms:
            if self._should_delete_form(form) and form.initial.get("role") == Role.MANAGER:
                raise ValidationError("Only an administrator can change a manager's membership.")


class TeamMembershipInline(ParentScopedInline, admin.TabularInline):
    model = TeamMembership
    formset = MembershipFormSet
    extra = 1

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        may_grant = request.user.has_perm("schedules.change_team")  # model-level only
        kwargs["form"] = membership_form(may_grant)
        formset = super().get_formset(request, obj, **kwargs)
        formset.may_grant_manager = may_grant
        return formset

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class WatchstanderUserAdmin(UserAdmin):
    """Users are deactivated, never deleted: the audit log keeps pointing at them (and on
    PostgreSQL refuses the update a deletion would make to its actor column)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
