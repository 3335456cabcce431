from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from incidents import services
from incidents.api.serializers import (
    IncidentDetailSerializer,
    IncidentSerializer,
    IntegrationSerializer,
    ServiceSerializer,
)
from incidents.models import Incident, Integration, Service
from schedules.api.base import TeamScopedModelViewSet, TeamScopedViewSet


class ServiceViewSet(TeamScopedModelViewSet):
    model = Service
    serializer_class = ServiceSerializer


class IntegrationViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    TeamScopedViewSet,
):
    """Integrations are created (the key is in that one response, never again), listed and
    deleted; to change a key, create a new integration or rotate it in the admin."""

    model = Integration
    serializer_class = IntegrationSerializer
    # Only numeric ids: every other /integrations/<key>/ is the alert webhook (config/urls.py).
    lookup_value_regex = r"\d+"

    def base_queryset(self) -> QuerySet[Any]:
        return Integration.objects.select_related("service")


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    model = Incident
    action_permissions: ClassVar[dict[str, str]] = {"acknowledge": "change", "resolve": "change"}

    def base_queryset(self) -> QuerySet[Any]:
        incidents = Incident.objects.select_related(
            "service__team", "acknowledged_by", "resolved_by"
        )
        if self.action != "list":
            incidents = incidents.prefetch_related("events", "alerts")
        return incidents

    def get_serializer_class(self) -> type[IncidentSerializer]:
        return IncidentSerializer if self.action == "list" else IncidentDetailSerializer

    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        services.incident_acknowledge(
            incident_id=incident.pk, actor=services.Actor.of_user(request.user)
        )
        return self._detail(incident.pk)

    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        services.incident_resolve(
            incident_id=incident.pk, actor=services.Actor.of_user(request.user)
        )
        return self._detail(incident.pk)

    def _detail(self, incident_id: int) -> Response:
        return Response(IncidentDetailSerializer(self.get_queryset().get(pk=incident_id)).data)
