"""The webhook channel against a real HTTP server started in the test, which records every
request it gets and answers what the test tells it to."""

import contextlib
import http.client
import json
import re
import socket
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from escalation.channels import (
    CHANNELS,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    display_address,
    mask_address,
)
from escalation.channels.webhook import WebhookChannel, retry_after_seconds
from escalation.models import ContactMethod, NotificationRule
from incidents.models import Incident, Notification
from incidents.services import Actor, alert_ingest, incident_reassign, notification_deliver
from tests.conftest import Setup, trigger_event

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """A webhook receiver: answers each request with the next scripted Answer (200 once the
    script runs out) and records what it got."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: list[Answer] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._record()

            def do_GET(self) -> None:
                self._record()

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append(
                    Recorded(self.command, self.path, dict(self.headers), self.rfile.read(length))
                )
                answer = receiver.answers.pop(0) if receiver.answers else Answer()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pager"
        # A short poll, so that shutting the server down after each test is quick.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def message(url: str, **data: Any) -> Message:
    return Message(
        address=url,
        subject="[Watchstander] #7 CRITICAL: Disk full",
        body="You are being paged.",
        idempotency_key="i7-p1-l0-u3-r9-webhook",
        data={"type": "page", "summary": "Disk full", **data},
    )


def test_a_page_is_posted_as_json_with_an_idempotency_key(receiver: Receiver) -> None:
    WebhookChannel().send(message(receiver.url, incident={"id": 7}))

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/pager")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "i7-p1-l0-u3-r9-webhook"
    assert request.json() == {"type": "page", "summary": "Disk full", "incident": {"id": 7}}


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_sent(receiver: Receiver, status: int) -> None:
    receiver.answer(Answer(status))

    WebhookChannel().send(message(receiver.url))

    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_transient(receiver: Receiver, status: int) -> None:
    receiver.answer(Answer(status))

    with pytest.raises(TransientDeliveryError, match=f"HTTP {status}") as raised:
        WebhookChannel().send(message(receiver.url))

    assert raised.value.retry_after is None


def test_retry_after_in_seconds_is_passed_on(receiver: Receiver) -> None:
    receiver.answer(Answer(429, {"Retry-After": "120"}))

    with pytest.raises(TransientDeliveryError) as raised:
        WebhookChannel().send(message(receiver.url))

    assert raised.value.retry_after == 120


def test_retry_after_as_an_http_date_is_counted_from_now(
    receiver: Receiver, time_machine: Any
) -> None:
    time_machine.move_to(START, tick=False)
    receiver.answer(Answer(503, {"Retry-After": "Sun, 01 Mar 2026 12:05:00 GMT"}))

    with pytest.raises(TransientDeliveryError) as raised:
        WebhookChannel().send(message(receiver.url))

    assert raised.value.retry_after == 300


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0), (" 30 ", 30), ("Sun, 01 Mar 2026 11:00:00 GMT", 0), ("soon", None), ("", None)],
)
def test_retry_after_values(value: str, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=START) == seconds


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_client_errors_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.answer(Answer(status))

    with pytest.raises(PermanentDeliveryError, match=f"HTTP {status}"):
        WebhookChannel().send(message(receiver.url))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_is_permanent(receiver: Receiver, status: int) -> None:
    # Following it, urllib would turn the POST into a bodiless GET whose 200 looks like a page.
    receiver.answer(Answer(status, {"Location": "/elsewhere"}))

    with pytest.raises(PermanentDeliveryError, match=f"HTTP {status}"):
        WebhookChannel().send(message(receiver.url))

    assert [request.path for request in receiver.requests] == ["/hooks/pager"]


def test_a_far_end_that_does_not_answer_in_time_is_transient() -> None:
    # A listening socket that never accepts: the connection is made, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"

        with pytest.raises(TransientDeliveryError, match="not reached"):
            WebhookChannel(timeout=0.05).send(message(url))


def test_a_far_end_that_refuses_connections_is_transient() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Nothing listens there any more.

    with pytest.raises(TransientDeliveryError, match="not reached"):
        WebhookChannel().send(message(f"http://127.0.0.1:{port}/hook"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "example.com"])
def test_only_http_urls_are_ever_opened(url: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="https:// or http://"):
        WebhookChannel().send(message(url))


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("https://hooks.example.com/T0/B1", True),
        ("http://10.0.0.5:8080/pager", True),
        ("ftp://hooks.example.com/", False),
        ("javascript:alert(1)", False),
        ("hooks.example.com/pager", False),
    ],
)
def test_webhook_addresses_are_http_urls(address: str, valid: bool) -> None:
    channel = CHANNELS["webhook"]
    if valid:
        channel.validate_address(address)
    else:
        with pytest.raises(ValidationError, match="https:// or http://"):
            channel.validate_address(address)


# --- One deadline for the whole exchange ---------------------------------------------------


@pytest.fixture
def drip() -> Iterator[str]:
    """A far end that answers its status line at once, then one header every 50 ms for two
    seconds: no single read ever waits long, so a per-read timeout never trips."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(40):
                    if stop.wait(0.05):  # the far end's pace, not the test's
                        return
                    connection.sendall(f"X-Drip-{n}: y\r\n".encode())
                connection.sendall(b"Content-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()
    thread.join()


def test_a_far_end_that_drips_its_answer_is_cut_off_at_the_timeout(drip: str) -> None:
    started = time.monotonic()

    with pytest.raises(TransientDeliveryError, match=r"no complete answer within 0\.3 s"):
        WebhookChannel(timeout=0.3).send(message(drip))

    # The whole exchange, not each read: the answer would have taken two seconds.
    assert time.monotonic() - started < 1.0


def test_an_answer_within_the_deadline_is_not_cut_short(receiver: Receiver) -> None:
    WebhookChannel(timeout=5).send(message(receiver.url))

    assert len(receiver.requests) == 1


# --- Addresses with credentials, bad ports, and secrets in error texts -----------------------


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("https://user:pa55@hooks.example.com/x", "user name or password"),
        ("https://user@hooks.example.com/x", "user name or password"),
        ("https://user:@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com:0/x", "port between 1 and 65535"),
        ("https://hooks.example.com:65536/x", "port between 1 and 65535"),
        ("https://hooks.example.com:99999/x", "port between 1 and 65535"),
        ("https://hooks.example.com/a\x7fb", "ASCII, without spaces"),
        ("https://hooks.example.com/caf\u00e9", "ASCII, without spaces"),
        ("https://b\u00fccher.example/x", "ASCII, without spaces"),
    ],
)
def test_urls_http_client_cannot_send_or_that_carry_credentials_are_refused(
    address: str, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        CHANNELS["webhook"].validate_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "https://hooks.example.com:65535/x",
        "http://[::1]:8080/hook",
        "https://xn--bcher-kva.example/x?key=abc%20def",
    ],
)
def test_ports_ipv6_and_international_hosts_in_ascii_are_accepted(address: str) -> None:
    CHANNELS["webhook"].validate_address(address)


def test_a_queued_url_with_a_password_is_refused_for_good_without_quoting_it() -> None:
    # Queued before the rule existed: refused at send time, and its text says nothing of it.
    with pytest.raises(PermanentDeliveryError, match="user name or password") as raised:
        WebhookChannel().send(message("https://user:pa55@hooks.example.com/x"))

    assert "pa55" not in str(raised.value)


def test_a_url_http_client_refuses_is_permanent_and_not_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://hooks.example.com/services/s3cr3t"
    refusal = http.client.InvalidURL(f"URL can't contain control characters. {url!r}")
    opener = mock.Mock(**{"open.side_effect": refusal})
    monkeypatch.setattr("escalation.channels.webhook._opener", lambda deadline: opener)

    with pytest.raises(PermanentDeliveryError) as raised:
        WebhookChannel().send(message(url))

    assert "s3cr3t" not in str(raised.value)


def test_a_transient_error_never_quotes_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://hooks.example.com/services/s3cr3t?key=also-s3cr3t"
    failure = urllib.error.URLError(f"cannot reach {url} (path /services/s3cr3t?key=also-s3cr3t)")
    opener = mock.Mock(**{"open.side_effect": failure})
    monkeypatch.setattr("escalation.channels.webhook._opener", lambda deadline: opener)

    with pytest.raises(TransientDeliveryError, match="not reached") as raised:
        WebhookChannel().send(message(url))

    assert "s3cr3t" not in str(raised.value)


# --- How others see the address --------------------------------------------------------------


def test_others_see_a_webhook_by_scheme_host_and_fingerprint() -> None:
    channel = CHANNELS["webhook"]
    shown = channel.display_address("https://hooks.example.com:8443/services/T0/s3cr3t?k=v")

    assert re.fullmatch(r"https://hooks\.example\.com:8443/… #[0-9a-f]{8}", shown)
    # The fingerprint tells two URLs of one host apart, and is the same every time.
    other = channel.display_address("https://hooks.example.com:8443/services/T0/other")
    assert other != shown
    assert shown == channel.display_address("https://hooks.example.com:8443/services/T0/s3cr3t?k=v")


def test_the_user_info_of_an_old_url_is_never_displayed() -> None:
    shown = display_address("webhook", "https://user:pa55@hooks.example.com/x")

    assert "pa55" not in shown
    assert "user" not in shown
    assert shown.startswith("https://hooks.example.com/… #")


def test_e_mail_addresses_are_shown_as_they_are_and_unknown_kinds_not_at_all() -> None:
    assert display_address("email", "rita@example.com") == "rita@example.com"
    assert re.fullmatch(r"#[0-9a-f]{8}", display_address("pigeon", "loft 7, s3cr3t"))


@pytest.mark.parametrize(
    ("value", "recorded"),
    [
        ("rita@example.com", "rita@example.com"),
        ("None", "None"),  # auditlog's "before" of a new row
        ("", ""),
    ],
)
def test_the_audit_mask_keeps_what_is_no_secret(value: str, recorded: str) -> None:
    assert mask_address(value) == recorded


@pytest.mark.parametrize(
    "value",
    ["https://hooks.example.com/s3cr3t", "https://u:s3cr3t@hooks.example.com/", "s3cr3t"],
)
def test_the_audit_mask_hides_every_url_path_and_anything_unrecognised(value: str) -> None:
    assert "s3cr3t" not in mask_address(value)


# --- Through the outbox ---------------------------------------------------------------------


@pytest.fixture
def webhook_page(setup: Setup, receiver: Receiver, time_machine: Any) -> Notification:
    """Alice's only rule posts to the receiver at once; a critical incident pages her."""
    time_machine.move_to(START, tick=False)
    hook = ContactMethod.objects.create(user=setup.alice, kind="webhook", address=receiver.url)
    NotificationRule.objects.create(contact_method=hook)
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Notification.objects.get(incident_id=result.incident_id)


def test_a_page_carries_what_the_e_mail_says_as_fields(
    webhook_page: Notification, receiver: Receiver, setup: Setup
) -> None:
    assert notification_deliver(notification_id=webhook_page.pk) == "sent"

    [request] = receiver.requests
    incident = Incident.objects.get(pk=webhook_page.incident_id)
    payload = request.json()
    assert request.headers["Idempotency-Key"] == webhook_page.idempotency_key
    assert payload["type"] == "page"
    assert payload["summary"] == f"[Watchstander] #{incident.pk} CRITICAL: Disk full on db-1"
    assert payload["person"] == "alice"
    assert payload["incident"] == {
        "id": incident.pk,
        "title": "Disk full on db-1",
        "severity": "critical",
        "urgency": "high",
        "status": "triggered",
        "service": {"id": setup.service.pk, "name": setup.service.name},
        "created_at": START.isoformat(),
        "url": f"http://localhost:8000/admin/incidents/incident/{incident.pk}/change/",
    }
    assert (payload["level"], payload["loop"]) == (1, 0)
    assert payload["acknowledge_link"].startswith("http://localhost:8000/")
    assert payload["resolve_link"] != payload["acknowledge_link"]
    assert payload["acknowledge_api_url"].endswith(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert payload["reassignment"] is None


def test_a_reassignment_page_carries_who_handed_it_over_and_their_note(
    webhook_page: Notification, receiver: Receiver, setup: Setup
) -> None:
    incident_reassign(
        incident_id=webhook_page.incident_id,
        actor=Actor.of_user(setup.bob),
        to_user=setup.alice,
        note="the disk again, you know this box",
    )
    page = Notification.objects.exclude(pk=webhook_page.pk).get(user=setup.alice)

    assert notification_deliver(notification_id=page.pk) == "sent"

    [request] = receiver.requests
    payload = request.json()
    assert payload["reassignment"] == "Reassigned to you by bob: the disk again, you know this box"
    assert payload["summary"].endswith("(reassigned to you)")


def test_a_retry_honours_retry_after_and_sends_the_same_idempotency_key(
    webhook_page: Notification, receiver: Receiver, time_machine: Any
) -> None:
    receiver.answer(Answer(503, {"Retry-After": "300"}))

    assert notification_deliver(notification_id=webhook_page.pk) == "retry"
    webhook_page.refresh_from_db()
    # Longer than the first backoff (30 s): the far end's word wins.
    assert webhook_page.next_attempt_at == START + timedelta(seconds=300)
    time_machine.move_to(webhook_page.next_attempt_at, tick=False)
    assert notification_deliver(notification_id=webhook_page.pk) == "sent"

    keys = [request.headers["Idempotency-Key"] for request in receiver.requests]
    assert keys == [webhook_page.idempotency_key] * 2


def test_a_refused_webhook_is_recorded_as_failed_without_retrying(
    webhook_page: Notification, receiver: Receiver
) -> None:
    receiver.answer(Answer(404))

    assert notification_deliver(notification_id=webhook_page.pk) == "failed"

    webhook_page.refresh_from_db()
    assert webhook_page.status == Notification.Status.FAILED
    assert "HTTP 404" in webhook_page.last_error
    assert len(receiver.requests) == 1
