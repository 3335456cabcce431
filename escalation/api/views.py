from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import permissions, viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from escalation.api.serializers import (
    ContactMethodSerializer,
    NotificationRuleSerializer,
    PolicySerializer,
)
from escalation.models import ContactMethod, EscalationPolicy, NotificationRule
from escalation.ownership import can_be_paged, may, own_rows
from schedules.api.base import (
    AtomicWritesMixin,
    AuditedActorMixin,
    DeclaredPermissionsMixin,
    TeamScopedModelViewSet,
)


class EscalationPolicyViewSet(TeamScopedModelViewSet):
    model = EscalationPolicy
    serializer_class = PolicySerializer

    def base_queryset(self) -> QuerySet[Any]:
        return EscalationPolicy.objects.prefetch_related("levels__users", "levels__schedules")


# --- A person's own contact methods and rules ----------------------------------------------


class OwnRowsPermission(permissions.BasePermission):
    """escalation.ownership, per action: people change their own rows, administrators
    everyone's; reading everyone's is for holders of the model's view permission."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if view.required_permission() != "add":  # type: ignore[attr-defined]
            return True  # decided on the object, among the rows the user may see
        return self._may(request, view, None)

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        return self._may(request, view, obj)

    def _may(self, request: Request, view: APIView, obj: Model | None) -> bool:
        if "_can_be_paged" not in request.__dict__:
            request.__dict__["_can_be_paged"] = can_be_paged(request.user)
        action = view.required_permission()  # type: ignore[attr-defined]
        model = view.model  # type: ignore[attr-defined]
        return may(request.user, model, action, obj, member=request.__dict__["_can_be_paged"])


class OwnRowsViewSet(
    AtomicWritesMixin,
    DeclaredPermissionsMixin,
    AuditedActorMixin,
    viewsets.ModelViewSet,
):
    """Rows that each belong to one person (a `user` column). Another person's row is not
    there (404) unless the caller may see everyone's (auditors, administrators)."""

    model: ClassVar[type[Model]]
    permission_classes = [OwnRowsPermission]

    def base_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet[Any]:
        return own_rows(self.request.user, self.base_queryset(), "view")


class ContactMethodViewSet(OwnRowsViewSet):
    """Your ways of being paged: e-mail addresses and webhook URLs. A method is used through
    your notification rules; with no rules at all you are paged at your account e-mail."""

    model = ContactMethod
    serializer_class = ContactMethodSerializer

    def base_queryset(self) -> QuerySet[Any]:
        return ContactMethod.objects.select_related("user").order_by("user_id", "pk")


class NotificationRuleViewSet(OwnRowsViewSet):
    """When each of your contact methods is used once an escalation level pages you: a delay
    in minutes (0: at once) and the incidents' urgency (high, low or any)."""

    model = NotificationRule
    serializer_class = NotificationRuleSerializer

    def base_queryset(self) -> QuerySet[Any]:
        return NotificationRule.objects.select_related("user").order_by("user_id", "pk")
