from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest, HttpResponse

from escalation.contact import row_address, sees_whole_address, with_whole_address
from escalation.models import ContactMethod, EscalationLevel, EscalationPolicy, NotificationRule
from escalation.ownership import may, on_everyones, own_rows
from schedules.access import managed_teams, team_members
from schedules.admin.access import (
    ParentScopedInline,
    ScopedHistoryMixin,
    TeamScopedAdmin,
    is_active_staff,
    is_team_member,
)


class LevelFormSet(forms.BaseInlineFormSet):
    """A level pages its policy's team only: its people are members, its schedules the
    team's. The choices are everyone and everything the editor manages, which for a manager
    of several teams is more than the policy's team: this decides."""

    def clean(self) -> None:
        super().clean()
        team = getattr(self.instance, "team", None)  # the policy, as posted
        if team is None:
            return
        members = set(team.memberships.values_list("user_id", flat=True))
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            self._check_level(form, team, members)

    def _check_level(self, form: forms.BaseForm, team: Any, members: set[int]) -> None:
        users = form.cleaned_data.get("users") or ()
        if names := sorted(str(user) for user in users if user.pk not in members):
            form.add_error("users", f"Not members of {team}: {', '.join(names)}.")
        schedules = form.cleaned_data.get("schedules") or ()
        if names := sorted(str(s) for s in schedules if s.team_id != team.pk):
            form.add_error("schedules", f"Not schedules of {team}: {', '.join(names)}.")
        if not users and not schedules:  # as the API: a level of nobody would page nobody
            form.add_error(None, "A level pages someone: give it people, schedules or both.")


class EscalationLevelInline(ParentScopedInline, admin.TabularInline):
    model = EscalationLevel
    formset = LevelFormSet
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


# --- A person's own contact methods and rules ----------------------------------------------


def _may(request: HttpRequest, model: type[Model], action: str, obj: Any = None) -> bool:
    """escalation.ownership's answer, for staff only (the admin is staff's)."""
    if not is_active_staff(request):
        return False
    return may(request.user, model, action, obj, member=is_team_member(request))


class NotificationRuleInline(admin.TabularInline):
    """A method's rules are part of it: whoever may change the method may change its rules."""

    model = NotificationRule
    extra = 1
    fields = ["delay_minutes", "urgency"]
    verbose_name_plural = "notification rules: when to use this method once you are paged"

    def _method_allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        if obj is None:  # the method's add page
            return _may(request, ContactMethod, "add")
        return _may(request, ContactMethod, action, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._method_allowed(request, "view", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._method_allowed(request, "change", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._method_allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._method_allowed(request, "change", obj)


@admin.register(ContactMethod)
class ContactMethodAdmin(ScopedHistoryMixin, admin.ModelAdmin):
    """Each person's ways of being paged, with the rules that say when each is used. People
    see and change only their own (escalation.ownership); superusers manage everyone's and
    auditors read everyone's."""

    inlines = [NotificationRuleInline]
    list_display = ["__str__", "kind", "shown_address", "verified", "when_used"]
    list_filter = ["kind"]
    list_select_related = ["user"]
    # Not the address: auditors read everyone's, and a search that matches reveals a webhook
    # URL's secret a guess at a time.
    search_fields = ["label", "user__username"]
    fields = ["user", "kind", "address", "label", "verified"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContactMethod]:
        queryset = super().get_queryset(request).prefetch_related("rules")
        queryset = with_whole_address(queryset, request.user)
        return own_rows(request.user, queryset) if is_active_staff(request) else queryset.none()

    @admin.display(description="address")
    def shown_address(self, method: ContactMethod) -> str:
        # Whole to its owner and superusers; to auditors as its channel shows it to others.
        return row_address(method, method.kind)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = list(super().get_fields(request, obj))
        if obj is None or sees_whole_address(request.user, obj.user_id):
            return fields
        return ["shown_address" if name == "address" else name for name in fields]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not on_everyones(request.user, ContactMethod, "view"):
            extra_context = {"title": "My contact methods", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = list(super().get_list_display(request))
        everyones = is_active_staff(request) and on_everyones(request.user, ContactMethod, "view")
        return ["user", *columns] if everyones else columns

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may(request, ContactMethod, "view", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may(request, ContactMethod, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may(request, ContactMethod, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may(request, ContactMethod, "delete", obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A method stays with its person: its rules are theirs too.
        return ["verified"] if obj is None else ["user", "verified", "shown_address"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            users = get_user_model().objects.filter(is_active=True)
            if not on_everyones(request.user, ContactMethod, "add"):
                users = users.filter(pk=request.user.pk or 0)  # one's own, nobody else's
            kwargs["queryset"] = users
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        method = form.instance
        if not method.rules.exists():
            self.message_user(
                request,
                f"{method} has no notification rules, so pages do not use it yet: add a rule "
                "(0 minutes is at once).",
                messages.WARNING,
            )

    @admin.display(description="used")
    def when_used(self, method: ContactMethod) -> str:
        rules = sorted(method.rules.all(), key=lambda rule: (rule.delay_minutes, rule.pk))
        if not rules:
            return "never (no rules)"
        return "; ".join(_when(rule) for rule in rules)


def _when(rule: NotificationRule) -> str:
    when = f"after {rule.delay_minutes} min" if rule.delay_minutes else "at once"
    return f"{when} ({rule.get_urgency_display().lower()})"
