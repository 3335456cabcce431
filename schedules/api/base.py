"""The base of every REST endpoint: querysets filtered to what the user may see (django-guardian
object permissions through their teams), a permission declared for every action, checked on
the object, writes that commit whole or not at all, and the API user recorded as the audit
actor."""

import contextlib
from typing import Any, ClassVar

from auditlog.context import auditlog_value
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from rest_framework import mixins, permissions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from schedules.access import can, perm_name, visible

DEFAULT_ACTION_PERMISSIONS = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


class AuditedActorMixin:
    """Record the API user as the audit-log actor.

    AuditlogMiddleware captures request.user before DRF has authenticated a token, so changes
    made with token auth would be logged with no actor. Rather than opening a second audit scope
    (auditlog does not restore the outer one on exit, which would leak a signal receiver per
    request and replace the middleware's forwarded address), put the actor into the scope the
    middleware opened for this request.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.user.is_authenticated:
            # Outside AuditlogMiddleware (a view called directly) there is no scope to tag.
            with contextlib.suppress(LookupError):
                auditlog_value.get()["actor"] = request.user


# What DRF calls a request that reaches no action: a method the endpoint does not take (action
# None) and OPTIONS ("metadata"). Both are answered 405 (DEFAULT_METADATA_CLASS is None) to any
# signed-in user, so they need no more than seeing the endpoint.
NOT_ACTIONS = frozenset({None, "metadata"})


class DeclaredPermissionsMixin:
    """Every action names the permission it needs (its Django action: view, add, change,
    delete): the defaults for the CRUD actions, `action_permissions` for the others. An
    action without one raises instead of running unchecked."""

    action: str  # None for a method the endpoint does not take (DRF types it str)
    action_permissions: ClassVar[dict[str, str]] = {}

    def required_permission(self) -> str:
        if self.action in NOT_ACTIONS:
            return "view"
        declared = {**DEFAULT_ACTION_PERMISSIONS, **self.action_permissions}
        if self.action not in declared:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.{self.action} declares no permission"
            )
        return declared[self.action]


WRITE_ACTIONS = frozenset({"create", "update", "partial_update", "destroy"})


class AtomicWritesMixin:
    """A create, update or delete commits whole or not at all: the row, and what its signals
    write in turn (the team permissions granted or moved by schedules.access, audit entries).
    Without this, a failure while moving permissions would leave an object in its new team
    with its old team's access.

    The whole request is the transaction, whichever mixins implement the action. An error
    answer keeps nothing either: DRF turns API exceptions into responses, and marks the
    transaction for rollback only under ATOMIC_REQUESTS, which this project does not use."""

    action_map: dict[str, str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        method = (request.method or "").lower()
        if getattr(self, "action_map", {}).get(method) not in WRITE_ACTIONS:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
            if isinstance(response, Response) and getattr(response, "exception", False):
                transaction.set_rollback(True)
            return response


class TeamObjectPermission(permissions.BasePermission):
    """`create` needs the model-level add permission (the serializer then limits the team to
    one the user manages); every other action is checked on the object itself."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        action = view.required_permission()  # type: ignore[attr-defined]
        if action == "add":
            return bool(user.has_perm(perm_name(view.model, action)))  # type: ignore[attr-defined]
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        action = view.required_permission()  # type: ignore[attr-defined]
        return can(request.user, perm_name(type(obj), action), obj)


class TeamScopedViewSet(
    AtomicWritesMixin,
    DeclaredPermissionsMixin,
    AuditedActorMixin,
    viewsets.GenericViewSet,
):
    """Subclasses set `model`, `base_queryset()` and, for extra actions, `action_permissions`.
    An action without a declared permission raises instead of running unchecked."""

    model: ClassVar[type[Model]]
    permission_classes = [TeamObjectPermission]

    def base_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet[Any]:
        # Another team's object is simply not there: 404, never 403, so ids leak nothing.
        return visible(self.request.user, perm_name(self.model, "view"), self.base_queryset())


class TeamScopedModelViewSet(  # type: ignore[misc]
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    TeamScopedViewSet,
):
    pass
