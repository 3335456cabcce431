"""The interface every alert source implements, and the errors intake answers with."""

from typing import Any, Protocol

from rest_framework import serializers

from incidents.intake.events import AlertEvent


class InvalidPayload(Exception):
    """The document is well-formed JSON but not a valid event; `errors` says why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class SourceAdapter(Protocol):
    def parse(self, document: Any) -> list[AlertEvent]:
        """Normalise a decoded request body, or raise InvalidPayload."""


def flatten_errors(detail: Any, prefix: str = "") -> list[str]:
    """DRF's nested error structure as readable lines: 'payload.summary: This field is ...'."""
    if isinstance(detail, dict):
        return [
            line
            for key, value in detail.items()
            for line in flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            return flatten_errors(dict(enumerate(detail)), prefix)
        return [f"{prefix}: {item}" if prefix else str(item) for item in detail]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def validated(serializer: serializers.Serializer) -> Any:
    if not serializer.is_valid():
        raise InvalidPayload(flatten_errors(serializer.errors))
    return serializer.validated_data


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not declare, so a typo is an error instead of lost data."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)
