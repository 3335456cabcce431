"""Logins, logouts and failed logins are audit entries, with the client address and never a
password."""

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse

from incidents.audit.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
WRONG_PASSWORD = "Tr0ub4dor&3-not-it"
LOGIN_URL = reverse("admin:login")


def events(name: str) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(additional_data__event=name).order_by("id"),
    )


@pytest.fixture
def staff(db: None) -> Any:
    return UserFactory(username="dana", is_staff=True)


def log_in(client: Client, username: str, password: str, **headers: str) -> Any:
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        headers=headers,
    )


def test_a_login_is_recorded_with_who_and_from_where(client: Client, staff: Any) -> None:
    response = log_in(client, "dana", PASSWORD)

    assert response.status_code == 302
    [entry] = events("login")
    assert (entry.action, entry.actor, entry.actor_label, entry.remote_addr) == (
        AuditEntry.Action.ACCESS,
        staff,
        "dana",
        "127.0.0.1",
    )
    assert entry.object_repr == "Login: dana"
    assert (entry.content_type.model, entry.object_pk) == ("user", str(staff.pk))


def test_a_logout_is_recorded(client: Client, staff: Any) -> None:
    client.force_login(staff)

    client.post(reverse("admin:logout"))

    [entry] = events("logout")
    assert (entry.actor, entry.actor_label, entry.object_repr, entry.remote_addr) == (
        staff,
        "dana",
        "Logout: dana",
        "127.0.0.1",
    )


def test_a_failed_login_records_the_username_tried_but_never_the_password(
    client: Client, staff: Any
) -> None:
    response = log_in(client, "dana", WRONG_PASSWORD)

    assert response.status_code == 200  # the form again, with an error
    [entry] = events("login_failed")
    assert (entry.actor, entry.actor_label, entry.remote_addr) == (None, "anonymous", "127.0.0.1")
    assert entry.object_repr == "Failed login for 'dana'"
    assert entry.additional_data == {
        "event": "login_failed",
        "username": "dana",
        "account_exists": True,
    }
    assert events("login") == []
    for stored in AuditEntry.objects.values_list(
        "object_repr", "changes_text", "changes", "additional_data", "serialized_data"
    ):
        assert WRONG_PASSWORD not in str(stored)


def test_a_failed_login_for_an_unknown_account(client: Client) -> None:
    log_in(client, "nobody", WRONG_PASSWORD)

    [entry] = events("login_failed")
    assert entry.additional_data["account_exists"] is False
    assert entry.object_repr == "Failed login for 'nobody'"


def test_a_failed_login_ignores_a_spoofed_forwarded_for(client: Client, staff: Any) -> None:
    log_in(client, "dana", WRONG_PASSWORD, **{"X-Forwarded-For": "198.51.100.66"})

    [entry] = events("login_failed")
    assert entry.remote_addr == "127.0.0.1"


def test_a_failed_login_behind_a_trusted_proxy_records_the_client(
    client: Client, staff: Any, settings: Any
) -> None:
    settings.AUDIT_TRUSTED_PROXIES = ["127.0.0.1"]

    log_in(client, "dana", WRONG_PASSWORD, **{"X-Forwarded-For": "203.0.113.7"})

    [entry] = events("login_failed")
    assert entry.remote_addr == "203.0.113.7"


def test_a_failed_authentication_outside_a_request_is_recorded_too(staff: Any) -> None:
    assert authenticate(username="dana", password=WRONG_PASSWORD) is None

    [entry] = events("login_failed")
    assert (entry.remote_addr, entry.actor_label) == (None, "anonymous")
