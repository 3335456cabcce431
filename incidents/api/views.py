import contextlib
from typing import Any

from auditlog.context import auditlog_value
from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from incidents import services
from incidents.api.serializers import IncidentDetailSerializer, IncidentSerializer
from incidents.models import Incident
from incidents.selectors import incidents_visible_to


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


class IncidentViewSet(AuditedActorMixin, viewsets.ReadOnlyModelViewSet):
    def get_queryset(self) -> QuerySet[Incident]:
        incidents = incidents_visible_to(self.request.user)
        if self.action == "retrieve":
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
        incident = self.get_queryset().prefetch_related("events", "alerts").get(pk=incident_id)
        return Response(IncidentDetailSerializer(incident).data)
