"""Prometheus Alertmanager webhook (`version: "4"`).

One incident per alert group (`groupKey`): each firing alert of the group is an alert on it,
later notifications for the group attach to it, and the group's top-level status turning
`resolved` (every alert in it resolved) resolves the incident. Unknown fields are accepted:
Alertmanager adds fields between versions (`notification_reason`, `routeLabels`), and refusing
them would break intake on an Alertmanager upgrade.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

import hashlib
from typing import Any

from rest_framework import serializers

from incidents.intake.base import InvalidPayload, validated
from incidents.intake.events import AlertEvent
from incidents.models import Alert, Severity

SEVERITY_LABELS = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.ERROR,
    "high": Severity.ERROR,
    "major": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "minor": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}
# An alert without a recognised severity label pages at full urgency: better loud than lost.
DEFAULT_SEVERITY = Severity.CRITICAL


class AlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    annotations = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    startsAt = serializers.DateTimeField(required=False)
    fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=255)
    generatorURL = serializers.CharField(required=False, allow_blank=True)


class MessageSerializer(serializers.Serializer):
    version = serializers.ChoiceField(choices=["4"])
    groupKey = serializers.CharField()
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    receiver = serializers.CharField(required=False, allow_blank=True)
    externalURL = serializers.CharField(required=False, allow_blank=True)
    commonAnnotations = serializers.DictField(required=False, default=dict)
    alerts = AlertSerializer(many=True, allow_empty=False)


class AlertmanagerAdapter:
    def parse(self, document: Any) -> list[AlertEvent]:
        message = validated(MessageSerializer(data=document))
        dedup_key = group_dedup_key(message["groupKey"])
        group = _group_fields(document)
        if message["status"] == "resolved":
            return [
                AlertEvent(
                    action=Alert.Action.RESOLVE,
                    dedup_key=dedup_key,
                    summary=f"All {len(message['alerts'])} alert(s) of the group resolved",
                    source=message.get("receiver", ""),
                    payload={"group": group, "alerts": document["alerts"]},
                )
            ]
        events = [
            _trigger(dedup_key, message, group, alert, raw)
            for alert, raw in zip(message["alerts"], document["alerts"], strict=True)
            if alert["status"] == "firing"
        ]
        if not events:
            # Would otherwise be a 2xx that stores nothing.
            raise InvalidPayload(["alerts: a firing group must contain a firing alert."])
        return events


def group_dedup_key(group_key: str) -> str:
    """The incident's dedup key: the group key, hashed when it exceeds the column (regex
    matchers in routes make long keys)."""
    if len(group_key) <= 255:
        return group_key
    return "alertmanager-sha256:" + hashlib.sha256(group_key.encode()).hexdigest()


def _trigger(
    dedup_key: str,
    message: dict[str, Any],
    group: dict[str, Any],
    alert: dict[str, Any],
    raw: dict[str, Any],
) -> AlertEvent:
    # Values from the validated alert (DRF made them strings); the raw one is only stored.
    labels, annotations = alert["labels"], alert["annotations"]
    summary = (
        annotations.get("summary")
        or message["commonAnnotations"].get("summary")
        or labels.get("alertname", "")
        or "Alertmanager alert"
    )
    return AlertEvent(
        action=Alert.Action.TRIGGER,
        dedup_key=dedup_key,
        summary=str(summary),
        severity=SEVERITY_LABELS.get(labels.get("severity", "").lower(), DEFAULT_SEVERITY),
        source=labels.get("instance") or message.get("receiver", ""),
        alert_key=alert.get("fingerprint", ""),
        occurred_at=alert.get("startsAt"),
        payload={"group": group, "alert": raw},
    )


def _group_fields(document: dict[str, Any]) -> dict[str, Any]:
    keep = ("receiver", "status", "groupKey", "groupLabels", "externalURL", "truncatedAlerts")
    return {key: document[key] for key in keep if key in document}
