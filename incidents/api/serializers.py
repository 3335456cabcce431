from rest_framework import serializers

from incidents.models import Alert, Incident, IncidentEvent


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
            "current_level",
            "loop",
            "next_escalation_at",
        ]


class IncidentDetailSerializer(IncidentSerializer):
    timeline = IncidentEventSerializer(source="events", many=True, read_only=True)
    alerts = AlertSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "timeline", "alerts"]
