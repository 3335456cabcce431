"""The API half of the permission matrix: every operation in the published OpenAPI schema x
every role x an object of team B (see conftest.py for the world).

Expected: another team's objects are filtered out of lists and answer 404 (or 403) by id,
writes aimed at them are refused and change nothing; the auditor reads everything and writes
nothing. The superuser runs every operation too, as the positive control that the request
itself is valid, so that a refusal above means something.

The operations come from the schema itself: an endpoint added without a row in OPERATIONS
fails `test_every_schema_operation_is_in_the_matrix`.

Operations on the caller's own things (/api/v1/me/) name no team's object; they have their
own test: everyone may run them, and they change nothing but the caller's own settings.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import models
from django.test import Client
from rest_framework.schemas.openapi import SchemaGenerator

from escalation.models import ContactMethod, EscalationPolicy, NotificationRule
from incidents.models import AuditExport, Incident, Integration, Service
from schedules.models import Override, PersonSettings, Rotation, Schedule, Team
from tests.rbac.conftest import (
    NON_SUPERUSERS,
    PERSONAS,
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
    "/api/v1/schedules/": Schedule,
    "/api/v1/rotations/": Rotation,
    "/api/v1/overrides/": Override,
    "/api/v1/escalation-policies/": EscalationPolicy,
    "/api/v1/contact-methods/": ContactMethod,
    "/api/v1/notification-rules/": NotificationRule,
    "/api/v1/services/": Service,
    "/api/v1/integrations/": Integration,
    "/api/v1/incidents/": Incident,
    "/api/v1/audit/": AuditExport,
}
SELF_MODELS_BY_PREFIX: dict[str, type[models.Model]] = {"/api/v1/me/": PersonSettings}
# Objects that carry no name (so no marker): their leaks and the positive control are seen
# by id instead.
NAMELESS = {Override, NotificationRule}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def model(self) -> type[models.Model]:
        prefixes = {**MODELS_BY_PREFIX, **SELF_MODELS_BY_PREFIX}
        return next(m for prefix, m in prefixes.items() if self.path.startswith(prefix))

    @property
    def names_an_object(self) -> bool:
        return "{" in self.path

    @property
    def is_self(self) -> bool:
        return self.path.startswith(tuple(SELF_MODELS_BY_PREFIX))


def schema_operations() -> list[Operation]:
    schema = SchemaGenerator(title="matrix").get_schema(request=None, public=True)
    return [
        Operation(method.upper(), path, operation["operationId"])
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if path not in INTAKE_PATHS
    ]


ALL_OPERATIONS = schema_operations()
OPERATIONS = [op for op in ALL_OPERATIONS if not op.is_self]
SELF_OPERATIONS = [op for op in ALL_OPERATIONS if op.is_self]


def test_every_schema_operation_is_in_the_matrix() -> None:
    known = (*MODELS_BY_PREFIX, *SELF_MODELS_BY_PREFIX)
    unknown = [str(op) for op in ALL_OPERATIONS if not op.path.startswith(known)]
    assert unknown == []
    # The matrix must at least cover the endpoints the issues name.
    covered = {op.operation_id for op in OPERATIONS}
    assert {"createService", "destroyPolicy", "acknowledgeIncidentDetail", "listExports"} <= covered
    assert {"reassignIncidentDetail", "addNoteIncidentDetail", "resolveIncidentDetail"} <= covered
    assert {
        "createSchedule",
        "retrieveScheduleOncall",
        "listSchedulesOncall",
        "listScheduleShifts",
        "listScheduleGaps",
        "rotateScheduleFeedToken",
        "updateRotation",
        "createOverride",
        "destroyOverride",
    } <= covered
    assert {op.operation_id for op in SELF_OPERATIONS} == {"retrieveMe", "rotateMyFeedToken"}


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
    if model is Schedule and not op.path.endswith("/rotate-feed-token/"):
        return {"name": "Bravo hijacked", "team": b.team.pk, "time_zone": "Europe/Berlin"}
    if model is Rotation:
        return {
            "schedule": b.schedule.pk,
            "name": "Bravo hijacked",
            "start": "2026-01-05T09:00:00+01:00",
            "turn_length": 1,
            "turn_unit": "days",
            "participants": [b.responder.username, b.manager.pk],
            "restrictions": [
                {"start_day": 0, "start_time": "09:00", "end_day": 4, "end_time": "17:00"}
            ],
        }
    if model is Override:
        return {
            "schedule": b.schedule.pk,
            "user": b.responder.username,
            "start": "2026-01-05T09:00:00+01:00",
            "end": "2026-01-05T17:00:00+01:00",
        }
    if model is Incident and op.path.endswith("/reassign/"):
        return {"user": b.responder.username, "note": "over to you"}
    if model is Incident and op.path.endswith("/notes/"):
        return {"text": "looking into it"}
    if model is Incident and op.path.endswith("/resolve/"):
        return {"note": "fixed"}
    if model is ContactMethod:  # B's responder's, hence team B's
        return {"user": b.responder.username, "kind": "email", "address": "bravo@example.com"}
    if model is NotificationRule:
        pager = ContactMethod.objects.get(user=b.responder)
        return {"contact_method": pager.pk, "delay_minutes": 7, "urgency": "high"}
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


def ids_in(content: bytes) -> set[int]:
    """The ids of the objects a JSON answer shows (one object, or a page of them)."""
    try:
        data = json.loads(content)
    except ValueError:
        return set()
    rows = data.get("results", [data]) if isinstance(data, dict) else data
    return {row["id"] for row in rows if isinstance(row, dict) and "id" in row}


def b_ids(world: World, model: type[models.Model]) -> set[int]:
    objects = [world.b.objects().get(model), world.b.spares.get(model)]
    return {obj.pk for obj in objects if obj is not None}


def shows_team_b(world: World, op: Operation, content: bytes) -> bool:
    if op.model in NAMELESS:
        return bool(ids_in(content) & b_ids(world, op.model))
    return mentions_team_b(content)


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
    assert not ids_in(content) & b_ids(world, op.model), f"{op} lists team B's to {persona}"


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_the_superuser_may_run_every_operation_on_team_b(op: Operation, world: World) -> None:
    """The positive control: the same request, by someone allowed, succeeds."""
    response = call(Client(), world, "superuser", op)
    content = content_of(response)

    assert 200 <= response.status_code < 300, (response.status_code, content)
    if op.method == "GET" and op.model is not AuditExport:
        assert shows_team_b(world, op, content)


# --- The caller's own things ----------------------------------------------------------------


def feed_tokens() -> dict[int, str]:
    return dict(PersonSettings.objects.values_list("user_id", "feed_token"))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("op", SELF_OPERATIONS, ids=str)
def test_self_operations_touch_only_the_callers_own_settings(
    op: Operation, persona: str, world: World
) -> None:
    before, tokens_before = db_state(), feed_tokens()

    response = call(Client(), world, persona, op)
    content = content_of(response)

    assert response.status_code == 200, content
    assert not mentions_team_b(content)
    assert set(changed_tables(before, db_state())) <= {"schedules.PersonSettings"}
    tokens_after = feed_tokens()
    changed = {
        u for u in {*tokens_before, *tokens_after} if tokens_before.get(u) != tokens_after.get(u)
    }
    assert changed <= {world.users[persona].pk}
    assert tokens_after[world.users[persona].pk] in content.decode()


# --- Naming people --------------------------------------------------------------------------


def test_naming_someone_else_on_a_contact_method_tells_nothing_about_them(world: World) -> None:
    """Whether the person exists, in which team, by name or by id: one answer, decided
    before any lookup, so the endpoint cannot be used to find out who has an account."""
    alice = Client(HTTP_AUTHORIZATION=f"Token {world.tokens['responder_a']}")
    methods = "/api/v1/contact-methods/"
    own = f"{methods}{ContactMethod.objects.get(user=world.a.responder).pk}/"
    before = db_state()

    def answer(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = alice.generic(method, path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()

    answers = [
        answer(method, path, {"user": ref, **body})
        for ref in ["rita", world.b.responder.pk, "maria", "nosuchuser", 10**9]
        for method, path, body in [
            ("POST", methods, {"kind": "email", "address": "x@example.com"}),
            ("PATCH", own, {}),
        ]
    ]

    refusal = "Only administrators name someone else here: leave `user` out, or name yourself."
    assert answers == [(403, {"detail": refusal})] * 10
    assert changed_tables(before, db_state()) == []
    for ref in ["alice", world.a.responder.pk]:  # naming oneself is fine
        status, created = answer("POST", methods, {"user": ref, "address": f"a.{ref}@example.com"})
        assert (status, created["user"]) == (201, "alice"), created
