"""The API half of the permission matrix: every operation in the published OpenAPI schema x
every role x an object of team B (see conftest.py for the world).

Expected: another team's objects are filtered out of lists and answer 404 (or 403) by id,
writes aimed at them are refused and change nothing; the auditor reads everything and writes
nothing. The superuser runs every operation too, as the positive control that the request
itself is valid, so that a refusal above means something.

The operations come from the schema itself: an endpoint added without a row in OPERATIONS
fails `test_every_schema_operation_is_in_the_matrix`.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import models
from django.test import Client
from rest_framework.schemas.openapi import SchemaGenerator

from escalation.models import EscalationPolicy
from incidents.models import AuditExport, Incident, Integration, Service
from schedules.models import Team
from tests.rbac.conftest import (
    NON_SUPERUSERS,
    World,
    changed_tables,
    db_state,
    mentions_team_b,
)

# Key-authenticated intake: an integration key can only post alerts; it is not a user role.
INTAKE_PATHS = {"/v2/enqueue", "/api/v1/integrations/{key}/"}
REFUSED = {403, 404}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

MODELS_BY_PREFIX: dict[str, type[models.Model]] = {
    "/api/v1/teams/": Team,
    "/api/v1/escalation-policies/": EscalationPolicy,
    "/api/v1/services/": Service,
    "/api/v1/integrations/": Integration,
    "/api/v1/incidents/": Incident,
    "/api/v1/audit/": AuditExport,
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def model(self) -> type[models.Model]:
        return next(m for prefix, m in MODELS_BY_PREFIX.items() if self.path.startswith(prefix))

    @property
    def names_an_object(self) -> bool:
        return "{" in self.path


def schema_operations() -> list[Operation]:
    schema = SchemaGenerator(title="matrix").get_schema(request=None, public=True)
    return [
        Operation(method.upper(), path, operation["operationId"])
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if path not in INTAKE_PATHS
    ]


OPERATIONS = schema_operations()


def test_every_schema_operation_is_in_the_matrix() -> None:
    unknown = [str(op) for op in OPERATIONS if not op.path.startswith(tuple(MODELS_BY_PREFIX))]
    assert unknown == []
    # The matrix must at least cover the endpoints the issue names.
    covered = {op.operation_id for op in OPERATIONS}
    assert {"createService", "destroyPolicy", "acknowledgeIncidentDetail", "listExports"} <= covered


# --- Requests aimed at team B ---------------------------------------------------------------


def target(world: World, model: type[models.Model]) -> models.Model:
    """Team B's object of that kind: a spare one where there is one (nothing references it,
    so the superuser's control DELETE can succeed), else the main one."""
    if model is AuditExport:
        return world.b_export
    return world.b.spares.get(model) or world.b.objects()[model]


def body_for(world: World, op: Operation) -> dict[str, Any]:
    """A valid body that puts the change into team B."""
    b = world.b
    model = op.model
    if model is Service:
        return {"name": "Bravo hijacked", "team": b.team.pk, "escalation_policy": b.policy.pk}
    if model is EscalationPolicy:
        level = {"position": 1, "delay_seconds": 60, "users": [b.responder.username]}
        return {"name": "Bravo hijacked", "team": b.team.pk, "repeat": 0, "levels": [level]}
    if model is Integration:
        return {"name": "Bravo hijacked", "kind": "events_api_v2", "service": b.service.pk}
    return {}


def url_for(world: World, op: Operation) -> str:
    url = op.path
    if op.names_an_object:
        url = re.sub(r"\{[^}]+\}", str(target(world, op.model).pk), url)
    if op.model is AuditExport and not op.names_an_object:
        url += (
            f"?team={world.b.team.pk}&kind=incidents&format=jsonl&start=2000-01-01&end=2100-01-01"
        )
    return url


def call(client: Client, world: World, persona: str, op: Operation) -> Any:
    headers = {"Authorization": f"Token {world.tokens[persona]}"}
    body = body_for(world, op)
    return client.generic(
        op.method,
        url_for(world, op),
        json.dumps(body) if op.method in WRITES else "",
        content_type="application/json",
        headers=headers,
    )


def content_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


# --- The matrix -----------------------------------------------------------------------------


def matrix() -> list[Any]:
    return [
        pytest.param(op, persona, id=f"{op}-{persona}")
        for op in OPERATIONS
        for persona in NON_SUPERUSERS
    ]


@pytest.mark.parametrize(("op", "persona"), matrix())
def test_api_operation_on_team_b_is_refused_or_filtered(
    op: Operation, persona: str, world: World
) -> None:
    before = db_state()

    response = call(Client(), world, persona, op)
    content = content_of(response)

    assert response.status_code < 500, content
    # An auditor's export is itself recorded (by design); nothing else may change.
    logged = (
        ["incidents.AuditExport"] if persona == "auditor" and op.path.endswith("/export/") else []
    )
    changed = [t for t in changed_tables(before, db_state()) if t not in logged]
    assert changed == [], f"{op} changed data for {persona}"
    if op.method in WRITES:
        assert response.status_code in REFUSED | {400, 405}, (response.status_code, content)
        return
    if persona == "auditor":
        assert response.status_code == 200, content  # read-only on everything
        return
    if op.names_an_object:
        assert response.status_code in REFUSED, (response.status_code, content)
    assert not mentions_team_b(content), f"{op} shows team B to {persona}"


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_the_superuser_may_run_every_operation_on_team_b(op: Operation, world: World) -> None:
    """The positive control: the same request, by someone allowed, succeeds."""
    response = call(Client(), world, "superuser", op)
    content = content_of(response)

    assert 200 <= response.status_code < 300, (response.status_code, content)
    if op.method == "GET" and op.model is not AuditExport:
        assert mentions_team_b(content)
