"""Teams and their members, users (deactivated, never deleted), and each person's own
settings."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from schedules.admin.access import (
    ParentScopedInline,
    ScopedHistoryMixin,
    TeamScopedAdmin,
    is_active_staff,
)
from schedules.admin.forms import replace_calendar_url_field
from schedules.feeds import person_feed_url, rotate_feed_token
from schedules.models import PersonSettings, TeamMembership

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
            deleting = self._should_delete_form(form)  # type: ignore[attr-defined]
            if deleting and form.initial.get("role") == Role.MANAGER:
                raise ValidationError("Only an administrator can change a manager's membership.")


class TeamMembershipInline(ParentScopedInline, admin.TabularInline):
    model = TeamMembership
    formset = MembershipFormSet
    extra = 1

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        may_grant = request.user.has_perm("schedules.change_team")  # model-level only
        kwargs["form"] = membership_form(may_grant)
        formset: Any = super().get_formset(request, obj, **kwargs)
        formset.may_grant_manager = may_grant
        return formset

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TeamAdmin(TeamScopedAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]


class WatchstanderUserAdmin(UserAdmin):
    """Users are deactivated, never deleted: the audit log keeps pointing at them (and on
    PostgreSQL refuses the update a deletion would make to its actor column)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- A person's own settings ---------------------------------------------------------------


class PersonSettingsForm(forms.ModelForm):
    new_calendar_url = replace_calendar_url_field()

    class Meta:
        model = PersonSettings
        fields = ["user", "notify_shift_start", "notify_shift_end"]


class PersonSettingsAdmin(ScopedHistoryMixin, admin.ModelAdmin):
    """Each person's settings are their own: they see and change only theirs, and the list
    takes them straight there. Superusers manage everyone's; readers of the whole installation
    (auditors, who hold the model's view permission) see them. The calendar URL is a secret
    that only its owner is shown (anyone could replace a leaked one, with the right to)."""

    form = PersonSettingsForm
    list_display = ["user", "notify_shift_start", "notify_shift_end"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]

    def _all(self, request: HttpRequest, action: str) -> bool:
        """Whether the user may `action` everyone's settings (a model-level permission)."""
        return is_active_staff(request) and request.user.has_perm(
            f"schedules.{action}_personsettings"
        )

    def _own(self, request: HttpRequest, obj: PersonSettings | None) -> bool:
        return obj is None or obj.user_id == request.user.pk

    def get_queryset(self, request: HttpRequest) -> QuerySet[PersonSettings]:
        queryset = super().get_queryset(request)
        return queryset if self._all(request, "view") else queryset.filter(user=request.user.pk)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_active_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj) or self._all(request, "view")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        own = is_active_staff(request) and self._own(request, obj)
        return own or self._all(request, "change")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row per person, made by its owner (until then the defaults apply).
        return is_active_staff(request) and not self._existing(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._all(request, "delete")

    def _existing(self, request: HttpRequest) -> PersonSettings | None:
        if "_own_person_settings" not in request.__dict__:
            own = PersonSettings.objects.filter(user=request.user.pk).first()
            request.__dict__["_own_person_settings"] = own
        existing: PersonSettings | None = request.__dict__["_own_person_settings"]
        return existing

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if self._all(request, "view") or not is_active_staff(request):
            return super().changelist_view(request, extra_context)
        own = self._existing(request)
        if own is None:
            return HttpResponseRedirect(reverse("admin:schedules_personsettings_add"))
        return HttpResponseRedirect(reverse("admin:schedules_personsettings_change", args=[own.pk]))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = ["user", "notify_shift_start", "notify_shift_end"]
        if obj is not None and obj.user_id == request.user.pk:
            fields.append("calendar_url")
        if obj is not None and self.has_change_permission(request, obj):
            fields.append("new_calendar_url")
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "calendar_url"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":  # on the add page: one's own settings
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk or 0)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="calendar feed")
    def calendar_url(self, obj: PersonSettings) -> str:
        return format_html(
            "<code>{}</code><br>Your shifts, for your calendar app. Keep it secret: anyone with "
            "the URL can read them.",
            person_feed_url(obj),
        )

    def save_model(
        self, request: HttpRequest, obj: PersonSettings, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("new_calendar_url"):
            rotate_feed_token(obj)  # audited, as the API's rotation is
            self.message_user(
                request, "A new calendar URL was issued; the old one no longer works."
            )
