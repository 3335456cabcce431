"""The main job end to end, with a real RQ worker, a real gunicorn and real payloads: an alert
in, the on-call person paged, the next level paged when nobody acknowledges, nothing more once
somebody does, and the incident resolved by the source."""

import time
from collections.abc import Callable
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from pagerduty import EventsApiV2Client
from rest_framework.authtoken.models import Token
from rq.registry import ScheduledJobRegistry

from incidents.models import Incident, IncidentEvent, Notification
from tests.conftest import Setup, load_sample
from tests.e2e.conftest import WebServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEVEL_DELAY = timedelta(seconds=3)


def sent_to(incident_id: int) -> list[tuple[str, int, int]]:
    return list(
        Notification.objects.filter(incident_id=incident_id, status="sent")
        .order_by("sent_at")
        .values_list("user__username", "level_position", "loop")
    )


def recipients(mailbox: Callable[[], list[Message]]) -> list[str]:
    return [message["To"] for message in mailbox()]


def wait_for_pages(incident_id: int, expected: list[tuple[str, int, int]]) -> None:
    wait_for(lambda: sent_to(incident_id) == expected, 20, f"pages {expected}")


def assert_level_two_waited_for_the_delay(incident: Incident) -> None:
    """A job never acts before the due time stored in the database."""
    first, second = incident.notifications.order_by("created_at")[:2]
    assert second.created_at - first.created_at >= LEVEL_DELAY


def assert_nothing_more_is_sent(incident: Incident, redis_conn: Any) -> None:
    before = incident.notifications.count()
    assert ScheduledJobRegistry("escalation", connection=redis_conn).get_job_ids() == []
    # Wait (seconds) past the moment the next level (repeat 1) would have been paged.
    time.sleep(LEVEL_DELAY.total_seconds() + 2)
    assert incident.notifications.count() == before


def test_alertmanager_group_pages_escalates_stops_on_ack_and_resolves(
    make_setup: Callable[..., Setup],
    web: WebServer,
    worker: Any,
    redis_conn: Any,
    mailbox: Callable[[], list[Message]],
) -> None:
    setup = make_setup(level_delay=LEVEL_DELAY, repeat=1)
    webhook = f"/api/v1/integrations/{setup.alertmanager_key}/"

    status, body = web.post_json(
        webhook, load_sample("alertmanager_v4_firing_group_2_alerts.json")["body"]
    )
    assert status == 202, body
    incident = Incident.objects.get()
    assert incident.alerts.count() == 2

    wait_for_pages(incident.pk, [("alice", 1, 0)])
    assert recipients(mailbox) == ["alice@example.com"]
    wait_for_pages(incident.pk, [("alice", 1, 0), ("bob", 2, 0)])
    assert recipients(mailbox) == ["alice@example.com", "bob@example.com"]
    assert_level_two_waited_for_the_delay(incident)

    token = Token.objects.create(user=setup.bob)
    status, body = web.post_json(
        f"/api/v1/incidents/{incident.pk}/acknowledge/", {}, {"Authorization": f"Token {token.key}"}
    )
    assert status == 200, body
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "bob"
    assert_nothing_more_is_sent(incident, redis_conn)
    assert recipients(mailbox) == ["alice@example.com", "bob@example.com"]

    status, body = web.post_json(
        webhook, load_sample("alertmanager_v4_resolved_same_group.json")["body"]
    )
    assert status == 202, body
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert list(incident.events.values_list("kind", flat=True)) == [
        IncidentEvent.Kind.TRIGGERED,
        IncidentEvent.Kind.ESCALATED,
        IncidentEvent.Kind.ALERT_ADDED,  # the group's second alert
        IncidentEvent.Kind.NOTIFIED,
        IncidentEvent.Kind.ESCALATED,
        IncidentEvent.Kind.NOTIFIED,
        IncidentEvent.Kind.ACKNOWLEDGED,
        IncidentEvent.Kind.RESOLVED,
    ]


def test_pagerduty_client_drives_the_same_flow(
    make_setup: Callable[..., Setup],
    web: WebServer,
    worker: Any,
    redis_conn: Any,
    mailbox: Callable[[], list[Message]],
) -> None:
    setup = make_setup(level_delay=LEVEL_DELAY, repeat=1)
    client = EventsApiV2Client(setup.events_api_key, base_url=web.url, verify=web.ssl_context)

    dedup_key = client.trigger(
        "checkout 5xx ratio 7.3%",
        "api-prod-01.example.com",
        severity="error",
        custom_details={"ratio": 0.073},
    )
    incident = Incident.objects.get(dedup_key=dedup_key)
    assert (incident.title, incident.severity) == ("checkout 5xx ratio 7.3%", "error")

    wait_for_pages(incident.pk, [("alice", 1, 0)])
    assert (
        client.trigger("checkout 5xx ratio 9%", "api-prod-01.example.com", dedup_key=dedup_key)
        == dedup_key
    )
    assert Incident.objects.count() == 1
    assert incident.alerts.count() == 2
    wait_for_pages(incident.pk, [("alice", 1, 0), ("bob", 2, 0)])
    assert_level_two_waited_for_the_delay(incident)

    assert client.acknowledge(dedup_key) == dedup_key
    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert_nothing_more_is_sent(incident, redis_conn)
    assert recipients(mailbox) == ["alice@example.com", "bob@example.com"]

    assert client.resolve(dedup_key) == dedup_key
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED

    # A trigger after resolve opens a new incident that pages level 1 again.
    client.trigger("checkout 5xx ratio back up", "api-prod-01.example.com", dedup_key=dedup_key)
    reopened = Incident.objects.exclude(pk=incident.pk).get(dedup_key=dedup_key)
    wait_for_pages(reopened.pk, [("alice", 1, 0)])
