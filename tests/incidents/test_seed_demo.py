"""`manage.py seed_demo`: an idempotent demo whose printed credentials, URLs and curl all work."""

import io
import json
import shlex
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from icalendar import Calendar
from rest_framework.authtoken.models import Token

from escalation.models import EscalationLevel, EscalationPolicy
from incidents.models import (
    Alert,
    Incident,
    Integration,
    Notification,
    Service,
    hash_integration_key,
)
from schedules.models import Rotation, RotationParticipant, Schedule, Team, TeamMembership
from tests.conftest import load_sample

pytestmark = pytest.mark.django_db


def seed_json() -> dict[str, Any]:
    buf = io.StringIO()
    call_command("seed_demo", "--json", stdout=buf)
    return json.loads(buf.getvalue())


def seed_banner() -> str:
    buf = io.StringIO()
    call_command("seed_demo", stdout=buf)
    return buf.getvalue()


def local_path(url: str) -> str:
    """The printed URLs are absolute (SITE_URL); the test client wants the path."""
    assert url.startswith(settings.SITE_URL + "/"), url
    return urlsplit(url).path


def post_json(client: Client, url: str, document: Any) -> Any:
    return client.post(local_path(url), data=json.dumps(document), content_type="application/json")


def platform_integrations(demo: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Platform team's integrations by kind (the Security team has its own)."""
    return by_key([row for row in demo["integrations"] if row["team"] == "Platform"], "kind")


def by_key(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def row_counts() -> dict[str, int]:
    models = [
        get_user_model(),
        Token,
        Group,
        Team,
        TeamMembership,
        EscalationPolicy,
        EscalationLevel,
        Service,
        Integration,
        Schedule,
        Rotation,
        RotationParticipant,
    ]
    return {model.__name__: model.objects.count() for model in models}


def test_json_output_lists_admin_url_users_integrations_and_services() -> None:
    demo = seed_json()

    assert demo["admin_url"] == f"{settings.SITE_URL}/admin/"
    users = by_key(demo["users"], "username")
    assert set(users) == {"admin", "audrey", "maria", "alice", "bob", "sam", "rita", "omar"}
    for user in users.values():
        assert user["password"]
        assert user["role"]
        assert user["api_token"] == Token.objects.get(user__username=user["username"]).key
    assert users["admin"]["role"] == "superuser"
    assert users["audrey"]["role"].startswith("auditor")
    assert (users["maria"]["team"], users["sam"]["team"]) == ("Platform", "Security")
    assert users["maria"]["role"] == "manager of Platform"
    assert users["rita"]["role"] == "responder in Security (level 1)"
    integrations = platform_integrations(demo)
    assert set(integrations) == {"alertmanager", "events_api_v2"}
    assert integrations["events_api_v2"]["url"] == f"{settings.SITE_URL}/v2/enqueue"
    key = integrations["alertmanager"]["key"]
    assert integrations["alertmanager"]["url"] == f"{settings.SITE_URL}/api/v1/integrations/{key}/"
    assert all(len(row["key"]) == 32 for row in integrations.values())
    assert [service["team"] for service in demo["services"]] == ["Platform", "Security"]
    service = demo["services"][0]
    assert service["name"] == "Checkout API"
    assert Service.objects.get(pk=service["id"]).escalation_policy.levels.count() == 2


def test_the_demo_stores_no_key_or_password_in_clear() -> None:
    demo = seed_json()

    for row in demo["integrations"]:
        integration = Integration.objects.get(kind=row["kind"], service__team__name=row["team"])
        assert integration.key_hash == hash_integration_key(row["key"])
        assert integration.key_prefix == row["key"][:6]
    for row in demo["users"]:
        user = get_user_model().objects.get(username=row["username"])
        assert row["password"] not in user.password
        assert user.check_password(row["password"])


def test_running_twice_creates_no_duplicates_and_prints_the_same_credentials() -> None:
    first = seed_json()
    counts = row_counts()

    second = seed_json()

    assert row_counts() == counts
    assert counts["Integration"] == 3
    assert counts["TeamMembership"] == 6
    assert counts["EscalationLevel"] == 4
    assert counts["RotationParticipant"] == 4
    assert second == first


def test_each_team_has_a_weekly_schedule_of_its_responders_with_a_working_feed() -> None:
    demo = seed_json()

    schedules = by_key(demo["schedules"], "team")
    assert {name: row["time_zone"] for name, row in schedules.items()} == {
        "Platform": "Europe/Berlin",
        "Security": "America/Chicago",
    }
    platform = Schedule.objects.get(pk=schedules["Platform"]["id"])
    rotation = platform.rotations.get()
    participants = rotation.participants.values_list("user__username", flat=True)
    assert list(participants) == ["alice", "bob"]
    assert rotation.start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %H:%M") == "Mon 09:00"
    feed = Client().get(schedules["Platform"]["ical_url"].removeprefix(settings.SITE_URL))
    assert feed.status_code == 200
    summaries = {str(event["SUMMARY"]) for event in Calendar.from_ical(feed.content).walk("VEVENT")}
    assert summaries == {"On call: Alice (Platform primary)", "On call: Bob (Platform primary)"}


def test_a_second_run_keeps_the_printed_keys_working() -> None:
    seed_json()
    demo = seed_json()
    client = Client()

    events_api = platform_integrations(demo)["events_api_v2"]
    response = post_json(client, events_api["url"], pd_trigger(events_api["key"]))

    assert response.status_code == 202, response.content


def test_the_printed_passwords_log_in() -> None:
    demo = seed_json()

    for user in demo["users"]:
        assert Client().login(username=user["username"], password=user["password"]), user


def test_the_admin_logs_in_to_the_printed_admin_url() -> None:
    demo = seed_json()
    admin = by_key(demo["users"], "username")["admin"]
    client = Client()
    assert client.login(username="admin", password=admin["password"])

    assert client.get(local_path(demo["admin_url"])).status_code == 200


def test_a_demo_responder_can_open_the_incident_list_in_the_admin() -> None:
    demo = seed_json()
    alice = by_key(demo["users"], "username")["alice"]
    client = Client()
    assert client.login(username="alice", password=alice["password"])

    assert client.get("/admin/incidents/incident/").status_code == 200


def test_the_printed_api_tokens_authenticate_the_api_with_each_role_s_view() -> None:
    demo = seed_json()
    events_api = platform_integrations(demo)["events_api_v2"]
    post_json(Client(), events_api["url"], pd_trigger(events_api["key"]))
    incident = Incident.objects.get()

    for user in demo["users"]:
        response = Client().get(
            "/api/v1/incidents/", headers={"Authorization": f"Token {user['api_token']}"}
        )
        assert response.status_code == 200, user["username"]
        sees_platform = user["team"] in (None, "Platform")  # admin and auditor see all
        expected = [incident.pk] if sees_platform else []
        assert [row["id"] for row in response.json()["results"]] == expected, user["username"]


def test_the_printed_alertmanager_url_accepts_an_alertmanager_webhook() -> None:
    demo = seed_json()
    alertmanager = platform_integrations(demo)["alertmanager"]
    body = load_sample("alertmanager_v4_firing_group_2_alerts.json")["body"]

    response = post_json(Client(), alertmanager["url"], body)

    assert response.status_code == 202, response.content
    incident = Incident.objects.get()
    assert incident.service.name == "Checkout API"
    assert Alert.objects.filter(incident=incident).count() == 2
    assert {alert.integration.kind for alert in Alert.objects.all()} == {"alertmanager"}


def pd_trigger(key: str) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "seed-demo-check",
        "payload": {"summary": "Checkout latency high", "source": "lb-1", "severity": "error"},
    }


def test_the_printed_events_api_key_works_on_v2_enqueue() -> None:
    demo = seed_json()
    events_api = platform_integrations(demo)["events_api_v2"]

    response = post_json(Client(), events_api["url"], pd_trigger(events_api["key"]))

    assert response.status_code == 202, response.content
    assert response.json()["dedup_key"] == "seed-demo-check"
    incident = Incident.objects.get(dedup_key="seed-demo-check")
    assert incident.service.name == "Checkout API"
    assert incident.alerts.get().integration.kind == "events_api_v2"


def curl_from(banner: str) -> tuple[str, Any]:
    [line] = [line for line in banner.splitlines() if line.strip().startswith("curl ")]
    words = shlex.split(line)
    assert words[:3] == ["curl", "-X", "POST"]
    assert "Content-Type: application/json" in words
    url = next(word for word in words if word.startswith("http"))
    payload = json.loads(words[words.index("-d") + 1])
    return url, payload


def test_the_printed_curl_command_opens_an_incident_that_pages_alice() -> None:
    banner = seed_banner()
    url, payload = curl_from(banner)

    response = post_json(Client(), url, payload)

    assert response.status_code == 202, response.content
    incident = Incident.objects.get(dedup_key=payload["dedup_key"])
    assert incident.status == Incident.Status.TRIGGERED
    paged = Notification.objects.filter(incident=incident)
    assert [(n.user.username, n.level_position) for n in paged] == [("alice", 1)]
    assert paged.get().address == "alice@example.com"


def test_the_banner_prints_the_same_credentials_as_the_json() -> None:
    demo = seed_json()

    banner = seed_banner()

    assert demo["admin_url"] in banner
    for user in demo["users"]:
        assert user["password"] in banner
        assert user["api_token"] in banner
    for integration in demo["integrations"]:
        assert integration["url"] in banner
        assert integration["key"] in banner
