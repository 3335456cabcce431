"""Admin classes that honour django-guardian object permissions everywhere: change lists,
change pages, actions, inlines, autocomplete and foreign-key choices.

Stock ModelAdmin only knows model-level permissions, so a manager who holds permissions on
their own team's objects only would get a 403 everywhere, and GuardedModelAdmin alone does not
change that (shared/STACK.md, section 4).
"""

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from guardian.admin import ReinforcedGuardedModelAdminMixin
from guardian.shortcuts import get_objects_for_user

from schedules.access import can, perm_name, registered_models, visible
from schedules.models import TeamMembership


def _staff(request: HttpRequest) -> bool:
    # Checked first: guardian's queries raise for the anonymous user (ANONYMOUS_USER_NAME=None).
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def holds_any(request: HttpRequest, model: type[models.Model], action: str) -> bool:
    """Whether the user holds `action` on the model or on at least one of its objects.
    Cached per request: the admin asks this many times while rendering one page."""
    cache = request.__dict__.setdefault("_team_scoped_any_perm", {})
    key = (model, action)
    if key not in cache:
        perm, user = perm_name(model, action), request.user
        cache[key] = (
            user.has_perm(perm)
            or get_objects_for_user(user, perm, klass=model, accept_global_perms=False).exists()
        )
    return bool(cache[key])


def is_team_member(request: HttpRequest) -> bool:
    """A member of any team may open the lists of team-scoped things (showing only their
    team's), even before the team has any incident to hold a permission on."""
    if "_is_team_member" not in request.__dict__:
        request.__dict__["_is_team_member"] = TeamMembership.objects.filter(
            user_id=request.user.pk or 0
        ).exists()
    return bool(request.__dict__["_is_team_member"])


def limit_choices(request: HttpRequest, db_field: Any, kwargs: dict[str, Any]) -> None:
    """Foreign keys and many-to-many fields to team-scoped objects offer only what the user may
    change: a manager of team A cannot attach team B's policy or schedule, nor even see it in
    the dropdown."""
    related = db_field.related_model
    if related in registered_models() and "queryset" not in kwargs:
        kwargs["queryset"] = visible(
            request.user, perm_name(related, "change"), related._default_manager.all()
        )


class TeamScopedAdmin(
    AuditlogHistoryAdminMixin,
    ReinforcedGuardedModelAdminMixin,  # type: ignore[misc]
    admin.ModelAdmin,
):
    """For models registered with schedules.access.register_team_scoped, with each object's
    audit history one click away."""

    show_auditlog_history_link = True

    def auditlog_history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        # auditlog's view asks has_view_permission(obj=None) for an object outside the user's
        # queryset (true for any team member) and then fails on None. Answer as the change
        # view does: such an object does not exist for this user.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404
        return super().auditlog_history_view(request, object_id, extra_context)

    def _allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        if not _staff(request):
            return False
        if obj is None:
            if action == "view" and is_team_member(request):
                return True
            return holds_any(request, self.model, action)
        return can(request.user, perm_name(self.model, action), obj)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        queryset = super().get_queryset(request)
        perms = [perm_name(self.model, "view"), perm_name(self.model, "change")]
        return visible(request.user, perms, queryset)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "delete", obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ParentScopedInline:
    """Inline rows are part of their parent: whoever may change the parent may edit them,
    whoever may view it may see them. On the add page, adding the parent is what counts."""

    parent_model: type[models.Model]

    def _parent_allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        if not _staff(request):
            return False
        if obj is None:  # asked for the whole inline (e.g. to build its queryset)
            return holds_any(request, self.parent_model, action)
        return can(request.user, perm_name(self.parent_model, action), obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_allowed(request, "view", obj) or self._parent_allowed(
            request, "change", obj
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:  # the parent's add page
            return _staff(request) and bool(
                request.user.has_perm(perm_name(self.parent_model, "add"))
            )
        return self._parent_allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_allowed(request, "change", obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
