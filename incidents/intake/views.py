"""The intake endpoints. A 2xx means the alert is committed; bad input gets a 4xx with a JSON
body that says what is wrong and stores nothing; a database that is down gets a 503 so the
sender retries."""

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.audit.actors import audit_actor_label
from incidents.intake.base import InvalidPayload
from incidents.intake.events_api_v2 import ROUTING_KEY_LENGTH
from incidents.intake.registry import ADAPTERS
from incidents.models import Integration, hash_integration_key
from incidents.services import Actor, alert_ingest

logger = logging.getLogger(__name__)

# PagerDuty's documented limit for one event.
EVENTS_API_MAX_BODY_BYTES = 512 * 1024
RETRY_AFTER_SECONDS = "5"


class IntakeError(Exception):
    def __init__(self, status_code: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.errors = status_code, message, errors or [message]


def _error(status_code: int, message: str, errors: list[str]) -> Response:
    body = {"status": "invalid event", "message": message, "errors": errors}
    return Response(body, status=status_code)


class IntakeView(APIView):
    """Reads the raw body itself: the size limit, the JSON errors and (later) signatures all
    need the exact bytes, not DRF's parsed data."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @property
    def max_body_bytes(self) -> int:
        return int(settings.INTAKE_MAX_BODY_BYTES)

    def post(self, request: Request, **kwargs: Any) -> Response:
        try:
            document = self.read_json(request)
            integration = self.authenticate_integration(document, **kwargs)
            events = ADAPTERS[integration.kind].parse(document)
            # The sender is the integration, not a user: say so on every audit entry.
            with audit_actor_label(Actor.of_integration(integration).label):
                results = alert_ingest(integration=integration, events=events)
        except IntakeError as exc:
            return _error(exc.status_code, exc.message, exc.errors)
        except InvalidPayload as exc:
            return _error(400, "Event object is invalid", exc.errors)
        except (OperationalError, InterfaceError):
            # The database is down or overloaded: worth retrying. Other database errors are
            # bugs (validation should have refused the input) and surface as a 500.
            logger.exception("intake could not store an event")
            response = Response(
                {"status": "unavailable", "message": "Could not store the event; retry later."},
                status=503,
            )
            response["Retry-After"] = RETRY_AFTER_SECONDS
            return response
        return self.accepted(list(dict.fromkeys(result.dedup_key for result in results)))

    def accepted(self, dedup_keys: list[str]) -> Response:
        return Response(
            {"status": "success", "message": "Event processed", "dedup_keys": dedup_keys},
            status=202,
        )

    def read_json(self, request: Request) -> Any:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type != "application/json":
            raise IntakeError(
                415, f"Content-Type must be application/json, not {content_type or 'missing'}."
            )
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > self.max_body_bytes:
            raise IntakeError(413, f"The body must be at most {self.max_body_bytes} bytes.")
        stream = request.stream
        body = stream.read(self.max_body_bytes + 1) if stream is not None else b""
        if len(body) > self.max_body_bytes:
            raise IntakeError(413, f"The body must be at most {self.max_body_bytes} bytes.")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntakeError(400, "The body is not valid JSON.", [f"JSON: {exc}"]) from None
        nul_paths = paths_with_nul(document)
        if nul_paths:
            # PostgreSQL's jsonb and text cannot hold NUL; refuse it here, the same on every
            # database, rather than fail the insert and answer a retryable 503.
            raise InvalidPayload(
                [f"{path}: Null characters are not allowed." for path in nul_paths]
            )
        return document

    def authenticate_integration(self, document: Any, **kwargs: Any) -> Integration:
        raise ImproperlyConfigured(f"{type(self).__name__} must say how it finds the integration")


def paths_with_nul(value: Any, path: str = "") -> list[str]:
    """Where a NUL character hides in a decoded JSON document (in a string or a key)."""
    if isinstance(value, str):
        return [path or "(body)"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                found.append(path or "(body)")
            found += paths_with_nul(item, child)
        return found
    if isinstance(value, list):
        return [
            p for index, item in enumerate(value) for p in paths_with_nul(item, f"{path}.{index}")
        ]
    return []


def _integration_by_key(key: str, kinds: list[str] | None = None) -> Integration | None:
    integrations = Integration.objects.select_related("service").filter(
        key_hash=hash_integration_key(key), is_active=True
    )
    if kinds is not None:
        integrations = integrations.filter(kind__in=kinds)
    return integrations.first()


class EventsApiV2View(IntakeView):
    """`POST /v2/enqueue`, request and responses as PagerDuty's Events API v2."""

    @property
    def max_body_bytes(self) -> int:
        return min(EVENTS_API_MAX_BODY_BYTES, int(settings.INTAKE_MAX_BODY_BYTES))

    def authenticate_integration(self, document: Any, **kwargs: Any) -> Integration:
        key = document.get("routing_key") if isinstance(document, dict) else None
        if not isinstance(key, str) or len(key) != ROUTING_KEY_LENGTH:
            raise InvalidPayload(["routing_key: must be a 32-character integration key."])
        integration = _integration_by_key(key, [Integration.Kind.EVENTS_API_V2])
        if integration is None:
            # The same answer for a key that never existed and one that was revoked.
            raise InvalidPayload(["routing_key: invalid routing key."])
        return integration

    def accepted(self, dedup_keys: list[str]) -> Response:
        return Response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_keys[0]},
            status=202,
        )


class IntegrationWebhookView(IntakeView):
    """`POST /api/v1/integrations/<key>/`: the source's native payload, parsed by the adapter
    of the integration's kind."""

    def authenticate_integration(self, document: Any, **kwargs: Any) -> Integration:
        integration = _integration_by_key(kwargs["key"])
        if integration is None:
            raise IntakeError(404, "Unknown integration key.")
        return integration
