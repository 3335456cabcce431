"""Admin classes that honour django-guardian object permissions everywhere: change lists,
change pages, actions, inlines, autocomplete and foreign-key choices.

Stock ModelAdmin only knows model-level permissions, so a manager who holds permissions on
their own team's objects only would get a 403 everywhere, and GuardedModelAdmin alone does not
change that (shared/STACK.md, section 4).
"""

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.text import capfirst
from guardian.admin import ReinforcedGuardedModelAdminMixin
from guardian.shortcuts import get_objects_for_user

from schedules.access import (
    can,
    delete_blockers,
    move_refusal,
    perm_name,
    registered_models,
    team_link,
    team_of,
    visible,
)
from schedules.models import Team, TeamMembership


def is_active_staff(request: HttpRequest) -> bool:
    """An active staff user: the only people the admin is for."""
    # Checked first: guardian's queries raise for the anonymous user (ANONYMOUS_USER_NAME=None).
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff)


class ScopedHistoryMixin(AuditlogHistoryAdminMixin):
    """Each object's audit history one click away, for whoever may see the object.

    auditlog's view asks has_view_permission(obj=None) for an object outside the user's
    queryset (true for any team member) and then fails on None. Answer as the change view
    does: such an object does not exist for this user."""

    show_auditlog_history_link = True

    def auditlog_history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404
        return super().auditlog_history_view(request, object_id, extra_context)


class TeamScopedForm(forms.ModelForm):
    """Refuses a change of team that schedules.access.move_refusal refuses (an object that
    other teams' objects still rely on), saying why, on the field that would move it."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        link = team_link(type(self.instance))
        if link is None or link.name not in cleaned:  # not a team-scoped model, or no move
            return cleaned
        value = cleaned[link.name]  # the team, or the parent it is reached through
        team = value if isinstance(value, Team) else team_of(value)
        if reason := move_refusal(self.instance, team):
            self.add_error(link.name, reason)
        return cleaned


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


def request_can(request: HttpRequest, perm: str, obj: models.Model) -> bool:
    """schedules.access.can for the request's user, asked of guardian once per request and
    object: rendering one schedule page asks it of the schedule dozens of times (the page,
    each inline, each of their rows), and each answer costs guardian two queries."""
    if obj.pk is None:
        return can(request.user, perm, obj)
    cache = request.__dict__.setdefault("_object_perms", {})
    key = (perm, obj._meta.label, obj.pk)
    if key not in cache:
        cache[key] = can(request.user, perm, obj)
    return bool(cache[key])


def is_team_member(request: HttpRequest) -> bool:
    """A member of any team may open the lists of team-scoped things (showing only their
    team's), even before the team has any incident to hold a permission on."""
    if "_is_team_member" not in request.__dict__:
        request.__dict__["_is_team_member"] = TeamMembership.objects.filter(
            user_id=request.user.pk or 0
        ).exists()
    return bool(request.__dict__["_is_team_member"])


def allowed(request: HttpRequest, model: type[models.Model], action: str, obj: Any) -> bool:
    """Whether the user may `action` (view, change, delete) `obj` of `model`, or, with no
    object, that model's admin pages at all: team members see the lists (filtered to their
    teams), holders of the permission on any object of the model may act."""
    if not is_active_staff(request):
        return False
    if obj is None:
        return (action == "view" and is_team_member(request)) or holds_any(request, model, action)
    return request_can(request, perm_name(model, action), obj)


def limit_choices(request: HttpRequest, db_field: Any, kwargs: dict[str, Any]) -> None:
    """Foreign keys and many-to-many fields to team-scoped objects offer only what the user may
    change: a manager of team A cannot attach team B's policy or schedule, nor even see it in
    the dropdown."""
    related = db_field.related_model
    if related in registered_models() and "queryset" not in kwargs:
        kwargs["queryset"] = visible(
            request.user, perm_name(related, "change"), related._default_manager.all()
        )


class TeamScopedAdmin(  # type: ignore[misc]
    ScopedHistoryMixin,
    ReinforcedGuardedModelAdminMixin,  # type: ignore[misc]
    admin.ModelAdmin,
):
    """For models registered with schedules.access.register_team_scoped, with each object's
    audit history one click away. A form of its own must derive from TeamScopedForm."""

    form = TeamScopedForm

    def _allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        return allowed(request, self.model, action, obj)

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

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """What the delete page (and the delete action) would delete, with what relies on the
        objects beyond foreign keys (schedules.access.register_delete_guard) as protected: the
        page then lists them and deletes nothing."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for obj in objs:
            protected += [
                format_html("{}: {}", capfirst(blocker._meta.verbose_name), blocker)
                for blocker in delete_blockers(obj)
            ]
        return deleted, counts, perms_needed, protected

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ParentScopedInline:
    """Inline rows are part of their parent: whoever may change the parent may edit them,
    whoever may view it may see them. On the add page, adding the parent is what counts.

    Where the parent has no permissions of its own either (a rotation's participants: the
    rotation is its schedule's), `owner_path` names the object that has them, from the parent
    (e.g. "schedule"); adding the parent then means changing that owner."""

    parent_model: type[models.Model]
    owner_path: str = ""

    def _owner_model(self) -> type[models.Model]:
        if not self.owner_path:
            return self.parent_model
        return self.parent_model._meta.get_field(self.owner_path).related_model  # type: ignore[return-value]

    def _parent_allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        if not is_active_staff(request):
            return False
        if obj is None:  # asked for the whole inline (e.g. to build its queryset)
            return holds_any(request, self._owner_model(), action)
        owner = owner_of(obj, self.owner_path)
        return request_can(request, perm_name(self._owner_model(), action), owner)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_allowed(request, "view", obj) or self._parent_allowed(
            request, "change", obj
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None and self.owner_path:  # the parent's add page: adding to an owner
            return self._parent_allowed(request, "change", None)
        if obj is None:  # the parent's add page
            return is_active_staff(request) and bool(
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


def owner_of(obj: models.Model, path: str) -> models.Model:
    """The object `path` leads to from `obj` ("schedule", "rotation__schedule"; "" is obj)."""
    for name in filter(None, path.split("__")):
        obj = getattr(obj, name)
    return obj


class ParentScopedAdmin(ScopedHistoryMixin, admin.ModelAdmin):
    """A page of its own for a part of a team-scoped object (a schedule's rotations and
    overrides), which has no permissions of its own: its owner's apply. Listed and shown where
    the owner may be seen; added, changed and deleted where the owner may be changed, since
    adding a rotation or removing an override changes the schedule."""

    owner_model: type[models.Model]
    owner_path: str  # the lookup from the part to its owner, e.g. "schedule"

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        perms = [perm_name(self.owner_model, "view"), perm_name(self.owner_model, "change")]
        owners = visible(request.user, perms, self.owner_model._default_manager.all())
        return super().get_queryset(request).filter(**{f"{self.owner_path}__in": owners})

    def _allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        owner = owner_of(obj, self.owner_path) if obj is not None else None
        return allowed(request, self.owner_model, action, owner)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, "change", None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "change", obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
