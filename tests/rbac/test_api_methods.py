"""Every endpoint answers a method it does not take with 405, never a 500: DRF calls such a
request no action (or "metadata", for OPTIONS), and each endpoint declares a permission per
action (schedules.api.base.DeclaredPermissionsMixin)."""

import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.schemas.openapi import SchemaGenerator

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def methods_not_taken() -> list[tuple[str, str]]:
    schema = SchemaGenerator(title="methods").get_schema(request=None, public=True)
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        for method in sorted(METHODS - {m.upper() for m in operations})
    ]


NOT_TAKEN = methods_not_taken()


def test_some_methods_are_not_taken() -> None:
    # The list the test below walks is not empty, and holds the kinds that once failed.
    assert ("OPTIONS", "/api/v1/schedules/") in NOT_TAKEN
    assert ("POST", "/api/v1/schedules/oncall/") in NOT_TAKEN
    assert ("DELETE", "/api/v1/escalation-policies/") in NOT_TAKEN


@pytest.fixture
def client() -> Client:
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    return Client(headers={"Authorization": f"Token {Token.objects.create(user=user).key}"})


@pytest.mark.parametrize(("method", "path"), NOT_TAKEN, ids=[f"{m} {p}" for m, p in NOT_TAKEN])
def test_a_method_an_endpoint_does_not_take_is_a_405(client: Any, method: str, path: str) -> None:
    # An integration key is no number: a number there is an integration's id (another route).
    url = re.sub(r"\{[^}]+\}", "1", path.replace("{key}", "no-such-key"))

    response = client.generic(method, url, "{}", content_type="application/json")

    assert response.status_code == 405, response.content
    assert "not allowed" in response.json()["detail"]
