"""PagerDuty Events API v2: the request format, its field limits and its dedup semantics.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

import uuid
from typing import Any

from rest_framework import serializers

from incidents.intake.base import StrictSerializer, validated
from incidents.intake.events import AlertEvent
from incidents.models import Alert, Severity

ROUTING_KEY_LENGTH = 32


class LinkSerializer(StrictSerializer):
    href = serializers.URLField(max_length=2048)
    text = serializers.CharField(max_length=1024, required=False, allow_blank=True)


class ImageSerializer(StrictSerializer):
    src = serializers.URLField(max_length=2048)
    href = serializers.URLField(max_length=2048, required=False)
    alt = serializers.CharField(max_length=1024, required=False, allow_blank=True)


class PayloadSerializer(StrictSerializer):
    summary = serializers.CharField(max_length=1024)
    # (Serializer fields named "source" shadow Field.source for type checkers only.)
    source = serializers.CharField(max_length=255)  # type: ignore[assignment]
    severity = serializers.ChoiceField(choices=Severity.values)
    timestamp = serializers.DateTimeField(required=False)
    component = serializers.CharField(max_length=255, required=False, allow_blank=True)
    group = serializers.CharField(max_length=255, required=False, allow_blank=True)
    # "class" is a Python keyword, so the field is declared below.
    custom_details = serializers.JSONField(required=False)


PayloadSerializer._declared_fields["class"] = serializers.CharField(
    max_length=255, required=False, allow_blank=True
)


class EventSerializer(StrictSerializer):
    routing_key = serializers.CharField(
        min_length=ROUTING_KEY_LENGTH, max_length=ROUTING_KEY_LENGTH
    )
    event_action = serializers.ChoiceField(choices=Alert.Action.values)
    dedup_key = serializers.CharField(max_length=255, required=False)
    payload = PayloadSerializer(required=False)
    images = ImageSerializer(many=True, required=False)
    links = LinkSerializer(many=True, required=False)
    client = serializers.CharField(max_length=255, required=False, allow_blank=True)
    client_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["event_action"] == Alert.Action.TRIGGER:
            if "payload" not in attrs:
                raise serializers.ValidationError({"payload": ["Required for a trigger event."]})
        elif not attrs.get("dedup_key"):
            raise serializers.ValidationError(
                {"dedup_key": [f"Required for an {attrs['event_action']} event."]}
            )
        return attrs


class EventsApiV2Adapter:
    def parse(self, document: Any) -> list[AlertEvent]:
        data = validated(EventSerializer(data=document))
        payload = data.get("payload") or {}
        return [
            AlertEvent(
                action=data["event_action"],
                # PagerDuty generates a key when a trigger has none; so do we.
                dedup_key=data.get("dedup_key") or uuid.uuid4().hex,
                summary=payload.get("summary", ""),
                severity=payload.get("severity", ""),
                source=payload.get("source", ""),
                occurred_at=payload.get("timestamp"),
                payload=_stored(document),
            )
        ]


def _stored(document: dict[str, Any]) -> dict[str, Any]:
    # Keep what the sender sent, minus the credential.
    return {key: value for key, value in document.items() if key != "routing_key"}
