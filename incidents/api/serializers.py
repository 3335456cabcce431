from typing import Any

from django.conf import settings
from rest_framework import serializers

from escalation.models import EscalationPolicy
from incidents.models import Alert, Incident, IncidentEvent, Integration, Service
from incidents.services import NOTE_MAX_LENGTH
from schedules.access import perm_name, visible
from schedules.api.fields import PersonRefField, resolve_members
from schedules.api.serializers import ManagedTeamField, refuse_move


class IncidentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentEvent
        fields = ["at", "kind", "message", "actor_label", "data"]


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "received_at",
            "action",
            "dedup_key",
            "alert_key",
            "severity",
            "summary",
            "source",
            "occurred_at",
        ]


class IncidentSerializer(serializers.ModelSerializer):
    service = serializers.CharField(source="service.name")
    team = serializers.CharField(source="service.team.name")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", default=None)
    resolved_by = serializers.CharField(source="resolved_by.username", default=None)
    assignee = serializers.CharField(source="assignee.username", default=None)
    current_level = serializers.IntegerField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "status",
            "severity",
            "service",
            "team",
            "dedup_key",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "assignee",
            "current_level",
            "loop",
            "next_escalation_at",
        ]


class IncidentDetailSerializer(IncidentSerializer):
    timeline = IncidentEventSerializer(source="events", many=True, read_only=True)
    alerts = AlertSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "resolution_note", "timeline", "alerts"]


# --- What the incident's actions read and answer ---------------------------------------------


def note_field(help_text: str, *, required: bool) -> serializers.CharField:
    """Free text as the services keep it: stripped, at most NOTE_MAX_LENGTH characters."""
    if required:
        return serializers.CharField(max_length=NOTE_MAX_LENGTH, help_text=help_text)
    return serializers.CharField(
        max_length=NOTE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text=help_text,
    )


class ResolveSerializer(serializers.Serializer):
    note = note_field(
        "Optional resolution note for the incident record: what was wrong, what fixed it.",
        required=False,
    )


class TeamMemberField(PersonRefField):
    """An active member of the team in the serializer's context, by id or by username. Anyone
    else gets the same answer, so it tells nothing about people outside the team."""

    def to_internal_value(self, data: Any) -> Any:
        [user] = resolve_members(self.context["team"], [super().to_internal_value(data)])
        return user


class ReassignSerializer(serializers.Serializer):
    user = TeamMemberField(
        help_text="The new assignee, an active member of the incident's team: a user id "
        "(a number) or a username (a string)."
    )
    note = note_field("Optional note for the new assignee, kept on the timeline.", required=False)


class NoteInputSerializer(serializers.Serializer):
    text = note_field(f"The note, 1 to {NOTE_MAX_LENGTH} characters.", required=True)


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="actor_label")
    text = serializers.CharField(source="message")

    class Meta:
        model = IncidentEvent
        fields = ["id", "at", "author", "text"]


class ChangeableField(serializers.PrimaryKeyRelatedField):
    """An object of a team-scoped model that the requesting user may change."""

    def __init__(self, model: type[Any], **kwargs: Any) -> None:
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        user = self.context["request"].user
        return visible(user, perm_name(self.model, "change"), self.model._default_manager.all())


class ServiceSerializer(serializers.ModelSerializer):
    team = ManagedTeamField()
    escalation_policy = ChangeableField(EscalationPolicy)

    class Meta:
        model = Service
        fields = ["id", "name", "description", "team", "escalation_policy"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_move(self.instance, attrs.get("team"))
        team = attrs.get("team") or getattr(self.instance, "team", None)
        policy = attrs.get("escalation_policy") or getattr(self.instance, "escalation_policy", None)
        if team and policy and policy.team_id != team.pk:
            raise serializers.ValidationError(
                {"escalation_policy": "The escalation policy must belong to the service's team."}
            )
        return attrs


class IntegrationSerializer(serializers.ModelSerializer):
    service = ChangeableField(Service)

    class Meta:
        model = Integration
        fields = ["id", "name", "kind", "service", "key_prefix", "is_active", "created_at"]
        read_only_fields = ["key_prefix", "is_active", "created_at"]

    def create(self, validated: dict[str, Any]) -> Integration:
        integration = Integration(**validated)
        self.key = integration.issue_key()
        integration.save()
        return integration

    def to_representation(self, integration: Integration) -> dict[str, Any]:
        data = super().to_representation(integration)
        key = getattr(self, "key", None)
        if key is not None:  # only in the response to the create: shown once
            data["key"] = key
            data["url"] = (
                f"{settings.SITE_URL}/v2/enqueue"
                if integration.kind == Integration.Kind.EVENTS_API_V2
                else settings.SITE_URL + integration.webhook_path(key)
            )
        return data
