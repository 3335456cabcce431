"""Concurrent identical triggers open one incident and page once: enforced by the database
(a partial unique index on open incidents), not only by Python."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from typing import Any

import pytest
from django.db import connection

from incidents.models import Alert, Incident, Notification
from tests.conftest import Setup
from tests.e2e.conftest import WebServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POSTS = 100


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts are what is under test: PostgreSQL only")


def test_concurrent_identical_triggers_open_one_incident_and_page_once(
    setup: Setup, web: WebServer, worker: Any, mailbox: Callable[[], list[Message]]
) -> None:
    event = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "dedup_key": "db-1/disk",
        "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"},
    }
    start = threading.Barrier(POSTS)

    def post(_: int) -> tuple[int, Any]:
        start.wait()
        return web.post_json("/v2/enqueue", event)

    with ThreadPoolExecutor(max_workers=POSTS) as pool:
        replies = list(pool.map(post, range(POSTS)))

    assert [status for status, _ in replies] == [202] * POSTS
    assert {body["dedup_key"] for _, body in replies} == {"db-1/disk"}
    incident = Incident.objects.get()
    assert Alert.objects.filter(incident=incident).count() == POSTS
    assert list(incident.notifications.values_list("user__username", flat=True)) == ["alice"]
    wait_for(
        lambda: incident.notifications.get().status == Notification.Status.SENT,
        20,
        "the page to be sent",
    )
    assert [message["To"] for message in mailbox()] == ["alice@example.com"]
