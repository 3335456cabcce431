"""`POST /v2/enqueue`: the PagerDuty Events API v2 compatible intake, driven by real samples."""

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pagerduty
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client

from incidents.models import Alert, Incident, IncidentEvent, Integration, Notification, Severity
from incidents.services import scheduling
from tests.conftest import Setup, load_sample
from tests.factories import ServiceFactory, make_integration

ENQUEUE = "/v2/enqueue"
SAMPLE_DEDUP_KEY = "payments-api/prod/5xx-ratio"
SAMPLE_SUMMARY = "checkout 5xx ratio 7.3% (>5%) on api-prod-01.example.com"


def event(sample: str, routing_key: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = load_sample(sample)["body"]
    body["routing_key"] = routing_key
    body.update(changes)
    return body


def trigger(routing_key: str, **payload_changes: Any) -> dict[str, Any]:
    body = event("pagerduty_events_v2_trigger_full.json", routing_key)
    body["payload"].update(payload_changes)
    return body


def acknowledge(routing_key: str) -> dict[str, Any]:
    return event("pagerduty_events_v2_acknowledge.json", routing_key)


def resolve(routing_key: str) -> dict[str, Any]:
    return event("pagerduty_events_v2_resolve.json", routing_key)


def post(client: Client, document: Any, content_type: str = "application/json") -> Any:
    return client.post(ENQUEUE, data=json.dumps(document).encode(), content_type=content_type)


def accepted(response: Any) -> str:
    """Assert the exact PagerDuty 202 body and return its dedup key."""
    assert response.status_code == 202, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": body.get("dedup_key"),
    }
    assert isinstance(body["dedup_key"], str)
    assert body["dedup_key"]
    return body["dedup_key"]


def kinds(incident: Incident) -> list[str]:
    return list(incident.events.order_by("at", "pk").values_list("kind", flat=True))


# --- trigger ------------------------------------------------------------------------------


def test_full_trigger_sample_gets_pagerduty_202_response(client: Client, setup: Setup) -> None:
    expected = load_sample("pagerduty_events_v2_response_202_accepted.json")

    response = post(client, trigger(setup.events_api_key))

    assert response.status_code == expected["status"]
    assert response.json() == expected["body"]


def test_full_trigger_opens_one_triggered_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))

    incident = Incident.objects.get()
    assert incident.service == setup.service
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.title == SAMPLE_SUMMARY
    assert incident.severity == Severity.CRITICAL
    assert incident.dedup_key == SAMPLE_DEDUP_KEY
    assert kinds(incident) == [IncidentEvent.Kind.TRIGGERED, IncidentEvent.Kind.ESCALATED]


def test_full_trigger_stores_one_alert_without_the_routing_key(
    client: Client, setup: Setup
) -> None:
    document = trigger(setup.events_api_key)

    accepted(post(client, document))

    alert = Alert.objects.get()
    assert alert.incident == Incident.objects.get()
    assert alert.integration == setup.events_api
    assert alert.action == Alert.Action.TRIGGER
    assert alert.dedup_key == SAMPLE_DEDUP_KEY
    assert alert.summary == SAMPLE_SUMMARY
    assert alert.source == "api-prod-01.example.com"
    assert alert.severity == Severity.CRITICAL
    assert alert.occurred_at == datetime(2025, 3, 4, 10, 15, 42, 618000, tzinfo=UTC)
    assert "routing_key" not in alert.payload
    assert setup.events_api_key not in json.dumps(alert.payload)
    expected = {key: value for key, value in document.items() if key != "routing_key"}
    assert alert.payload == expected


def test_full_trigger_pages_level_one_only(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))

    notification = Notification.objects.get()
    assert notification.user == setup.alice
    assert notification.level_position == 1
    assert notification.loop == 0
    assert notification.channel == "email"
    assert notification.address == setup.alice.email
    assert notification.status == Notification.Status.PENDING
    assert not Notification.objects.filter(user=setup.bob).exists()
    incident = Incident.objects.get()
    assert incident.current_level == 1
    assert incident.next_escalation_at is not None
    assert incident.active_job_id


def test_minimal_trigger_is_accepted(client: Client, setup: Setup) -> None:
    document = {
        "routing_key": setup.events_api_key,
        "event_action": "trigger",
        "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "warning"},
    }

    accepted(post(client, document))

    incident = Incident.objects.get()
    assert incident.title == "Disk full on db-1"
    assert incident.severity == Severity.WARNING
    assert Alert.objects.get().occurred_at is None


@pytest.mark.parametrize("severity", ["info", "warning", "error", "critical"])
def test_trigger_severity_becomes_the_incident_severity(
    client: Client, setup: Setup, severity: str
) -> None:
    accepted(post(client, trigger(setup.events_api_key, severity=severity)))

    assert Incident.objects.get().severity == severity
    assert Alert.objects.get().severity == severity


def test_json_content_type_with_charset_is_accepted(client: Client, setup: Setup) -> None:
    response = post(client, trigger(setup.events_api_key), "application/json; charset=utf-8")

    assert accepted(response) == SAMPLE_DEDUP_KEY
    assert Incident.objects.count() == 1


def test_trigger_without_dedup_key_gets_a_generated_key_in_the_response(
    client: Client, setup: Setup
) -> None:
    document = trigger(setup.events_api_key)
    del document["dedup_key"]

    first = accepted(post(client, document))
    second = accepted(post(client, document))

    assert first != second
    incidents = Incident.objects.order_by("pk")
    assert [incident.dedup_key for incident in incidents] == [first, second]
    assert sorted(Alert.objects.values_list("dedup_key", flat=True)) == sorted([first, second])
    assert Notification.objects.count() == 2


def test_generated_dedup_key_routes_a_later_resolve(client: Client, setup: Setup) -> None:
    document = trigger(setup.events_api_key)
    del document["dedup_key"]
    dedup_key = accepted(post(client, document))

    accepted(post(client, {**resolve(setup.events_api_key), "dedup_key": dedup_key}))

    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_trigger_with_open_dedup_key_attaches_the_alert(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))

    assert accepted(post(client, trigger(setup.events_api_key))) == SAMPLE_DEDUP_KEY

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.alerts.count() == 2
    assert Alert.objects.count() == 2
    assert kinds(incident)[-1] == IncidentEvent.Kind.ALERT_ADDED


def test_trigger_with_open_dedup_key_pages_nobody_new(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    first_page = Notification.objects.get()
    escalation_due = Incident.objects.get().next_escalation_at

    accepted(post(client, trigger(setup.events_api_key)))

    assert list(Notification.objects.all()) == [first_page]
    incident = Incident.objects.get()
    assert incident.next_escalation_at == escalation_due
    assert kinds(incident).count(IncidentEvent.Kind.ESCALATED) == 1


def test_trigger_on_acknowledged_incident_attaches_and_keeps_it_acknowledged(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, acknowledge(setup.events_api_key)))

    accepted(post(client, trigger(setup.events_api_key)))

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.alerts.filter(action=Alert.Action.TRIGGER).count() == 2
    assert Notification.objects.count() == 1
    assert incident.next_escalation_at is None


def test_trigger_dedup_is_per_service(client: Client, setup: Setup) -> None:
    other_service: Any = ServiceFactory(
        team=setup.service.team, escalation_policy=setup.service.escalation_policy
    )
    _, other_key = make_integration(other_service, Integration.Kind.EVENTS_API_V2, "Other PD")

    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, trigger(other_key)))

    assert Incident.objects.filter(dedup_key=SAMPLE_DEDUP_KEY).count() == 2
    assert Incident.objects.get(service=other_service).alerts.count() == 1


# --- severity ------------------------------------------------------------------------------


def test_more_severe_later_alert_raises_the_incident_severity(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key, severity="warning")))

    accepted(post(client, trigger(setup.events_api_key, severity="critical")))

    incident = Incident.objects.get()
    assert incident.severity == Severity.CRITICAL
    added = incident.events.get(kind=IncidentEvent.Kind.ALERT_ADDED)
    assert "severity raised from warning to critical" in added.message
    assert Notification.objects.count() == 1


def test_less_severe_later_alert_keeps_the_incident_severity(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key, severity="error")))

    accepted(post(client, trigger(setup.events_api_key, severity="info")))

    incident = Incident.objects.get()
    assert incident.severity == Severity.ERROR
    assert sorted(incident.alerts.values_list("severity", flat=True)) == ["error", "info"]


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2025-03-04T10:15:42.618+0000", datetime(2025, 3, 4, 10, 15, 42, 618000, tzinfo=UTC)),
        ("2025-03-04T10:15:42.618Z", datetime(2025, 3, 4, 10, 15, 42, 618000, tzinfo=UTC)),
        ("2025-03-04T10:15:42+00:00", datetime(2025, 3, 4, 10, 15, 42, tzinfo=UTC)),
        ("2025-03-04T12:15:42.618+0200", datetime(2025, 3, 4, 10, 15, 42, 618000, tzinfo=UTC)),
        ("2025-03-04T05:15:42-05:00", datetime(2025, 3, 4, 10, 15, 42, tzinfo=UTC)),
        ("2025-03-04T10:15:42.618123456Z", datetime(2025, 3, 4, 10, 15, 42, 618123, tzinfo=UTC)),
    ],
)
def test_timestamp_formats_are_accepted(
    client: Client, setup: Setup, timestamp: str, expected: datetime
) -> None:
    accepted(post(client, trigger(setup.events_api_key, timestamp=timestamp)))

    assert Alert.objects.get().occurred_at == expected


# --- acknowledge and resolve ---------------------------------------------------------------


def test_acknowledge_sample_acknowledges_the_open_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))

    assert accepted(post(client, acknowledge(setup.events_api_key))) == SAMPLE_DEDUP_KEY

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_at is not None
    assert incident.next_escalation_at is None
    assert incident.active_job_id == ""
    assert kinds(incident)[-1] == IncidentEvent.Kind.ACKNOWLEDGED
    ack = incident.alerts.get(action=Alert.Action.ACKNOWLEDGE)
    assert ack.integration == setup.events_api
    assert ack.dedup_key == SAMPLE_DEDUP_KEY
    assert Notification.objects.get().status == Notification.Status.CANCELLED


def test_acknowledge_of_acknowledged_incident_is_a_no_op(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, acknowledge(setup.events_api_key)))
    first_ack = Incident.objects.get()

    accepted(post(client, acknowledge(setup.events_api_key)))

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_at == first_ack.acknowledged_at
    assert kinds(incident).count(IncidentEvent.Kind.ACKNOWLEDGED) == 1
    assert incident.alerts.filter(action=Alert.Action.ACKNOWLEDGE).count() == 2


def test_resolve_sample_resolves_a_triggered_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))

    assert accepted(post(client, resolve(setup.events_api_key))) == SAMPLE_DEDUP_KEY

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.resolved_at is not None
    assert incident.next_escalation_at is None
    assert kinds(incident)[-1] == IncidentEvent.Kind.RESOLVED
    assert incident.alerts.filter(action=Alert.Action.RESOLVE).count() == 1
    assert Notification.objects.get().status == Notification.Status.CANCELLED


def test_resolve_sample_resolves_an_acknowledged_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, acknowledge(setup.events_api_key)))

    accepted(post(client, resolve(setup.events_api_key)))

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.acknowledged_at is not None
    assert incident.resolved_at is not None


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_ack_or_resolve_of_unknown_dedup_key_is_stored_without_incident(
    client: Client, setup: Setup, action: str
) -> None:
    document = event(f"pagerduty_events_v2_{action}.json", setup.events_api_key)

    assert accepted(post(client, document)) == SAMPLE_DEDUP_KEY

    alert = Alert.objects.get()
    assert alert.incident is None
    assert alert.action == action
    assert alert.dedup_key == SAMPLE_DEDUP_KEY
    assert alert.integration == setup.events_api
    assert not Incident.objects.exists()
    assert not Notification.objects.exists()


def test_acknowledge_after_resolve_does_not_reopen_or_touch_the_incident(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, resolve(setup.events_api_key)))

    accepted(post(client, acknowledge(setup.events_api_key)))

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.acknowledged_at is None
    assert Alert.objects.get(action=Alert.Action.ACKNOWLEDGE).incident is None


def test_trigger_after_resolve_opens_a_new_incident_and_pages_again(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, trigger(setup.events_api_key)))
    accepted(post(client, resolve(setup.events_api_key)))
    old = Incident.objects.get()

    accepted(post(client, trigger(setup.events_api_key)))

    new = Incident.objects.exclude(pk=old.pk).get()
    assert new.dedup_key == old.dedup_key == SAMPLE_DEDUP_KEY
    assert new.status == Incident.Status.TRIGGERED
    assert Incident.objects.get(pk=old.pk).status == Incident.Status.RESOLVED
    assert new.alerts.count() == 1
    page = Notification.objects.get(incident=new)
    assert page.user == setup.alice
    assert page.level_position == 1


# --- the official PagerDuty client, pointed at us ------------------------------------------


@pytest.fixture
def connection_kept_open() -> Iterator[None]:
    """As Django's test client does: requests leave the test's connection (and transaction)
    open instead of closing it when they finish."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("connection_kept_open")
def test_official_pagerduty_client_works_by_changing_the_host(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # The client insists on https; an in-process WSGI transport serves it without a socket.
    pd = pagerduty.EventsApiV2Client(
        setup.events_api_key,
        base_url="https://testserver",
        transport=httpx2.WSGITransport(app=get_wsgi_application()),
    )
    pd.retry, pd.max_http_attempts, pd.sleep_timer = {}, 1, 0  # a failure fails, at once
    enqueued: list[tuple[str, str]] = []
    monkeypatch.setattr(
        scheduling, "_enqueue", lambda queue, func, *rest: enqueued.append((queue, func))
    )

    with django_capture_on_commit_callbacks(execute=True):
        dedup_key = pd.trigger(
            "Disk full on db-1", "db-1", severity="error", custom_details={"free": "0%"}
        )

    incident = Incident.objects.get(dedup_key=dedup_key)
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.severity == Severity.ERROR
    assert Notification.objects.get().user == setup.alice
    # On commit, the page and the next escalation step are handed to the workers.
    assert sorted(enqueued) == [
        (scheduling.ESCALATION_QUEUE, scheduling.ESCALATION_STEP_JOB),
        (scheduling.NOTIFICATION_QUEUE, scheduling.DELIVERY_JOB),
    ]
    assert pd.acknowledge(dedup_key) == dedup_key
    assert Incident.objects.get().status == Incident.Status.ACKNOWLEDGED
    assert pd.resolve(dedup_key) == dedup_key
    assert Incident.objects.get().status == Incident.Status.RESOLVED
    assert Alert.objects.filter(incident=incident).count() == 3
