from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema

from incidents import services
from incidents.api.serializers import (
    IncidentDetailSerializer,
    IncidentSerializer,
    IntegrationSerializer,
    NoteInputSerializer,
    NoteSerializer,
    ReassignSerializer,
    ResolveSerializer,
    ServiceSerializer,
)
from incidents.models import Incident, Integration, Service
from schedules.api.base import TeamScopedModelViewSet, TeamScopedViewSet

SerializerClass = type[serializers.BaseSerializer]  # type: ignore[type-arg]


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


class IncidentActionSchema(AutoSchema):
    """The schema of the incident's actions: each reads its own small input (acknowledge reads
    nothing) and answers 200 with the incident, except adding a note: 201 with the note."""

    def _action(self) -> str:
        return str(getattr(self.view, "action", ""))

    def _is_transition(self) -> bool:
        return self._action() in getattr(self.view, "action_permissions", {})

    def _input(self) -> Any:
        body = getattr(self.view, "inputs", {}).get(self._action())
        return body() if body is not None else None

    def get_request_body(self, path: str, method: str) -> dict[str, Any]:
        if self._is_transition() and self._input() is None:
            return {}
        return super().get_request_body(path, method)  # type: ignore[no-any-return]

    def get_request_serializer(self, path: str, method: str) -> Any:
        if self._is_transition():
            return self._input()
        return super().get_request_serializer(path, method)

    def get_response_serializer(self, path: str, method: str) -> Any:
        if self._action() == "add_note":
            return NoteSerializer()
        return super().get_response_serializer(path, method)

    def get_responses(self, path: str, method: str) -> dict[str, Any]:
        responses: dict[str, Any] = super().get_responses(path, method)
        if self._is_transition() and self._action() != "add_note" and "201" in responses:
            responses["200"] = responses.pop("201")
        return responses


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Incidents of the teams you are in; responders and managers act on them (the incident's
    change permission), auditors only read."""

    model = Incident
    action_permissions: ClassVar[dict[str, str]] = {
        "acknowledge": "change",
        "resolve": "change",
        "reassign": "change",
        "add_note": "change",
    }
    inputs: ClassVar[dict[str, SerializerClass]] = {
        "resolve": ResolveSerializer,
        "reassign": ReassignSerializer,
        "add_note": NoteInputSerializer,
    }
    schema = IncidentActionSchema()

    def base_queryset(self) -> QuerySet[Any]:
        incidents = Incident.objects.select_related(
            "service__team", "acknowledged_by", "resolved_by", "assignee"
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
        """Resolve, with an optional resolution note (`{"note": "..."}`)."""
        incident = self.get_object()
        body = self._input(request, incident)
        services.incident_resolve(
            incident_id=incident.pk, actor=services.Actor.of_user(request.user), note=body["note"]
        )
        return self._detail(incident.pk)

    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str | None = None) -> Response:
        """Hand the incident to a member of its team: it is triggered again and they are paged
        at once; if they do not acknowledge within the current level's delay, escalation goes
        on to the next level."""
        incident = self.get_object()
        body = self._input(request, incident)
        services.incident_reassign(
            incident_id=incident.pk,
            actor=services.Actor.of_user(request.user),
            to_user=body["user"],
            note=body["note"],
        )
        return self._detail(incident.pk)

    @action(detail=True, methods=["post"], url_path="notes")
    def add_note(self, request: Request, pk: str | None = None) -> Response:
        """Add a note to the incident's timeline (where it is read, with the detail)."""
        incident = self.get_object()
        body = self._input(request, incident)
        note = services.incident_add_note(
            incident_id=incident.pk, actor=services.Actor.of_user(request.user), text=body["text"]
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    def _input(self, request: Request, incident: Incident) -> dict[str, Any]:
        """The action's body, validated (a 400 naming the field if not). Read only after
        get_object(): another team's incident is a 404 whatever the body says."""
        body = self.inputs[self.action](data=request.data, context={"team": incident.service.team})
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    def _detail(self, incident_id: int) -> Response:
        return Response(IncidentDetailSerializer(self.get_queryset().get(pk=incident_id)).data)
