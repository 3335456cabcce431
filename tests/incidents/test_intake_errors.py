"""Bad input on both intake endpoints: a clear 4xx (or a 503 to retry) and nothing stored."""

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from incidents.intake.views import EventsApiV2View, IntegrationWebhookView
from incidents.models import Alert, Incident, IncidentEvent, Notification
from incidents.services import ingest
from tests.conftest import Setup, load_sample

ENQUEUE = "/v2/enqueue"
INVALID_EVENT = load_sample("pagerduty_events_v2_response_400_invalid_event.json")


def db_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Alert, Incident, IncidentEvent, Notification)
    }


def assert_nothing_stored() -> None:
    assert db_counts() == dict.fromkeys(db_counts(), 0)


def webhook(key: str) -> str:
    return f"/api/v1/integrations/{key}/"


def send(
    client: Client, url: str, data: bytes, content_type: str = "application/json", **extra: Any
) -> Any:
    return client.post(url, data=data, content_type=content_type, **extra)


def post(client: Client, url: str, document: Any) -> Any:
    return send(client, url, json.dumps(document).encode())


def pd_trigger(routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = load_sample("pagerduty_events_v2_trigger_full.json")["body"]
    body["routing_key"] = routing_key
    return body


def am_firing() -> dict[str, Any]:
    body: dict[str, Any] = load_sample("alertmanager_v4_firing_group_2_alerts.json")["body"]
    return body


def error_body(response: Any, status_code: int) -> dict[str, Any]:
    """Assert the error status and the PagerDuty error shape; return the body."""
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == set(INVALID_EVENT["body"])
    assert body["status"] == INVALID_EVENT["body"]["status"]
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], list)
    assert body["errors"]
    for error in body["errors"]:
        assert isinstance(error, str)
        assert "ErrorDetail" not in error
    return body


def _path(text: str) -> str:
    # "alerts[0].status" and "alerts.0.status" name the same field.
    return re.sub(r"\[(\d+)\]", r".\1", text)


def invalid_event(response: Any, field: str) -> dict[str, Any]:
    """A 400 'Event object is invalid' whose errors name `field`."""
    body = error_body(response, INVALID_EVENT["status"])
    assert body["message"] == INVALID_EVENT["body"]["message"]
    assert any(_path(field) in _path(error) for error in body["errors"]), body["errors"]
    return body


@dataclass
class Endpoint:
    name: str
    url: str
    document: dict[str, Any]
    view: type


@pytest.fixture(params=["events_api_v2", "alertmanager"])
def endpoint(request: pytest.FixtureRequest, setup: Setup) -> Endpoint:
    """Each intake endpoint with a document it accepts."""
    if request.param == "events_api_v2":
        return Endpoint(request.param, ENQUEUE, pd_trigger(setup.events_api_key), EventsApiV2View)
    return Endpoint(
        request.param, webhook(setup.alertmanager_key), am_firing(), IntegrationWebhookView
    )


# --- Events API v2: invalid events ----------------------------------------------------------


def without(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def setting(value: Any, *path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def acknowledging_without_dedup_key(action: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["event_action"] = action
        del document["dedup_key"]

    return change


INVALID_PD_EVENTS = [
    pytest.param(without("payload"), "payload", id="trigger-without-payload"),
    pytest.param(without("payload", "summary"), "payload.summary", id="no-summary"),
    pytest.param(without("payload", "source"), "payload.source", id="no-source"),
    pytest.param(without("payload", "severity"), "payload.severity", id="no-severity"),
    pytest.param(setting("fatal", "payload", "severity"), "payload.severity", id="bad-severity"),
    pytest.param(setting("", "payload", "summary"), "payload.summary", id="blank-summary"),
    pytest.param(
        setting("x" * 1025, "payload", "summary"), "payload.summary", id="summary-over-1024"
    ),
    pytest.param(setting("s" * 256, "payload", "source"), "payload.source", id="source-over-255"),
    pytest.param(setting("d" * 256, "dedup_key"), "dedup_key", id="dedup-key-over-255"),
    pytest.param(
        setting("yesterday", "payload", "timestamp"), "payload.timestamp", id="bad-timestamp"
    ),
    pytest.param(setting("escalate", "event_action"), "event_action", id="bad-event-action"),
    pytest.param(without("event_action"), "event_action", id="no-event-action"),
    pytest.param(setting([{"k": "v"}], "contexts"), "contexts", id="unknown-top-level-key"),
    pytest.param(
        setting({"k": "v"}, "payload", "details"), "payload.details", id="unknown-payload-key"
    ),
    pytest.param(
        setting([{"href": "not a url"}], "links"), "links[0].href", id="link-href-not-a-url"
    ),
    pytest.param(
        acknowledging_without_dedup_key("acknowledge"), "dedup_key", id="ack-without-dedup-key"
    ),
    pytest.param(
        acknowledging_without_dedup_key("resolve"), "dedup_key", id="resolve-without-dedup-key"
    ),
]


@pytest.mark.parametrize(("change", "field"), INVALID_PD_EVENTS)
def test_invalid_event_is_refused_naming_the_field(
    client: Client, setup: Setup, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    document = pd_trigger(setup.events_api_key)
    change(document)
    before = db_counts()

    invalid_event(post(client, ENQUEUE, document), field)

    assert db_counts() == before


def test_invalid_event_on_an_open_incident_changes_nothing(client: Client, setup: Setup) -> None:
    post(client, ENQUEUE, pd_trigger(setup.events_api_key))
    before = db_counts()
    document = pd_trigger(setup.events_api_key)
    document["payload"]["severity"] = "fatal"

    invalid_event(post(client, ENQUEUE, document), "payload.severity")

    assert db_counts() == before
    assert Incident.objects.get().severity == "critical"


@pytest.mark.parametrize(
    "routing_key",
    [
        pytest.param("a" * 31, id="31-chars"),
        pytest.param("a" * 33, id="33-chars"),
        pytest.param("", id="empty"),
        pytest.param(12345678901234567890123456789012, id="a-number"),
        pytest.param(None, id="null"),
    ],
)
def test_routing_key_of_the_wrong_length_or_type_is_refused(
    client: Client, setup: Setup, routing_key: Any
) -> None:
    document = pd_trigger(setup.events_api_key)
    document["routing_key"] = routing_key

    invalid_event(post(client, ENQUEUE, document), "routing_key")

    assert_nothing_stored()


def test_missing_routing_key_is_refused(client: Client, setup: Setup) -> None:
    document = pd_trigger(setup.events_api_key)
    del document["routing_key"]

    invalid_event(post(client, ENQUEUE, document), "routing_key")

    assert_nothing_stored()


def test_unknown_deactivated_and_foreign_routing_keys_get_the_same_answer(
    client: Client, setup: Setup
) -> None:
    never_existed = secrets.token_hex(16)
    deactivated = setup.events_api_key
    setup.events_api.is_active = False
    setup.events_api.save()

    responses = [
        post(client, ENQUEUE, pd_trigger(key))
        for key in (never_existed, deactivated, setup.alertmanager_key)
    ]

    bodies = [invalid_event(response, "routing_key") for response in responses]
    assert bodies[0] == bodies[1] == bodies[2]
    assert all(response.status_code == 400 for response in responses)
    assert_nothing_stored()


def test_routing_key_is_not_echoed_in_the_error(client: Client, setup: Setup) -> None:
    key = secrets.token_hex(16)

    response = post(client, ENQUEUE, pd_trigger(key))

    invalid_event(response, "routing_key")
    assert key not in response.content.decode()


# --- Alertmanager: invalid messages ----------------------------------------------------------


def _alert_status(value: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["alerts"][0]["status"] = value

    return change


def _without_labels(document: dict[str, Any]) -> None:
    del document["alerts"][1]["labels"]


INVALID_AM_MESSAGES = [
    pytest.param(setting("3", "version"), "version", id="version-3"),
    pytest.param(without("version"), "version", id="no-version"),
    pytest.param(without("groupKey"), "groupKey", id="no-group-key"),
    pytest.param(setting("", "groupKey"), "groupKey", id="blank-group-key"),
    pytest.param(without("alerts"), "alerts", id="no-alerts"),
    pytest.param(setting([], "alerts"), "alerts", id="empty-alerts"),
    pytest.param(setting("pending", "status"), "status", id="bad-group-status"),
    pytest.param(without("status"), "status", id="no-group-status"),
    pytest.param(_alert_status("pending"), "alerts[0].status", id="bad-alert-status"),
    pytest.param(_without_labels, "alerts[1].labels", id="alert-without-labels"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_AM_MESSAGES)
def test_invalid_alertmanager_message_is_refused_naming_the_field(
    client: Client, setup: Setup, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    document = am_firing()
    change(document)

    invalid_event(post(client, webhook(setup.alertmanager_key), document), field)

    assert_nothing_stored()


@pytest.mark.parametrize(
    ("where", "key", "value", "stored_as"),
    [
        pytest.param("labels", "severity", 2, ("severity", "critical"), id="severity-label"),
        pytest.param("labels", "instance", 9100, ("source", "9100"), id="instance-label"),
        pytest.param("alert", "fingerprint", 1234, ("alert_key", "1234"), id="fingerprint"),
    ],
)
def test_numeric_label_values_are_stored_as_text_not_a_server_error(
    client: Client, setup: Setup, where: str, key: str, value: int, stored_as: tuple[str, str]
) -> None:
    document = am_firing()
    document["alerts"] = document["alerts"][:1]
    target = document["alerts"][0] if where == "alert" else document["alerts"][0][where]
    target[key] = value
    client.raise_request_exception = False

    response = post(client, webhook(setup.alertmanager_key), document)

    assert response.status_code == 202, response.content
    field, expected = stored_as
    assert getattr(Alert.objects.get(), field) == expected


def _pd_with(change: Callable[[dict[str, Any]], None]) -> Callable[[Setup], tuple[str, Any]]:
    def build(setup: Setup) -> tuple[str, Any]:
        document = pd_trigger(setup.events_api_key)
        change(document)
        return ENQUEUE, document

    return build


def _am_with(change: Callable[[dict[str, Any]], None]) -> Callable[[Setup], tuple[str, Any]]:
    def build(setup: Setup) -> tuple[str, Any]:
        document = am_firing()
        change(document)
        return webhook(setup.alertmanager_key), document

    return build


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(
            _pd_with(setting("a\u0000b", "payload", "summary")),
            "payload.summary",
            id="pd-summary",
        ),
        pytest.param(
            _am_with(setting("a\u0000b", "alerts", 0, "labels", "pod")),
            "alerts[0].labels.pod",
            id="am-label-value",
        ),
        pytest.param(
            _pd_with(setting("a\u0000b", "payload", "custom_details", "log")),
            "payload.custom_details",
            id="pd-custom-details-value",
        ),
        pytest.param(
            _pd_with(setting("v", "payload", "custom_details", "a\u0000b")),
            "payload.custom_details",
            id="pd-custom-details-key",
        ),
        pytest.param(
            _am_with(setting("v", "alerts", 0, "labels", "a\u0000b")),
            "alerts[0].labels",
            id="am-label-name",
        ),
        pytest.param(
            _am_with(setting("a\u0000b", "alerts", 0, "futureField")),
            "alerts[0].futureField",
            id="am-extra-alert-field",
        ),
    ],
)
def test_nul_character_is_a_400_naming_the_field_on_every_database(
    client: Client, setup: Setup, build: Callable[[Setup], tuple[str, Any]], field: str
) -> None:
    """Same answer on SQLite and PostgreSQL, and never a 503 that makes the sender retry a
    document that can never be stored."""
    url, document = build(setup)

    invalid_event(post(client, url, document), field)

    assert_nothing_stored()


def test_events_api_document_on_alertmanager_webhook_is_refused(
    client: Client, setup: Setup
) -> None:
    invalid_event(
        post(client, webhook(setup.alertmanager_key), pd_trigger(setup.events_api_key)),
        "groupKey",
    )

    assert_nothing_stored()


# --- both endpoints: transport errors --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"routing_key": "abc", ', id="truncated"),
        pytest.param(b"{'single': 'quotes'}", id="single-quotes"),
        pytest.param(b'{"a": 1} trailing', id="trailing-garbage"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_json_is_a_400_with_a_json_body(
    client: Client, endpoint: Endpoint, body: bytes
) -> None:
    # An empty body makes the test client drop the content type; keep it.
    response = send(client, endpoint.url, body, CONTENT_TYPE="application/json")

    error = error_body(response, 400)
    assert any("JSON" in line for line in [error["message"], *error["errors"]])
    assert_nothing_stored()


@pytest.mark.parametrize(
    "document", [[], "a string", 42, None], ids=["array", "string", "number", "null"]
)
def test_json_that_is_not_an_object_is_a_400(
    client: Client, endpoint: Endpoint, document: Any
) -> None:
    error_body(post(client, endpoint.url, document), 400)

    assert_nothing_stored()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "text/json", "application/jsonp", ""]
)
def test_a_valid_event_with_the_wrong_content_type_is_a_415(
    client: Client, endpoint: Endpoint, content_type: str
) -> None:
    response = send(client, endpoint.url, json.dumps(endpoint.document).encode(), content_type)

    body = error_body(response, 415)
    assert "application/json" in body["message"]
    assert_nothing_stored()


def test_a_form_post_is_a_415(client: Client, endpoint: Endpoint) -> None:
    response = client.post(endpoint.url, data={"payload": json.dumps(endpoint.document)})

    error_body(response, 415)
    assert_nothing_stored()


def test_an_urlencoded_post_is_a_415(client: Client, endpoint: Endpoint) -> None:
    response = send(
        client,
        endpoint.url,
        b"routing_key=abc&event_action=trigger",
        "application/x-www-form-urlencoded",
    )

    error_body(response, 415)
    assert_nothing_stored()


def test_body_over_the_limit_is_a_413(
    client: Client, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(endpoint.document).encode()
    monkeypatch.setattr(endpoint.view, "max_body_bytes", len(data) - 1)

    response = send(client, endpoint.url, data)

    body = error_body(response, 413)
    assert str(len(data) - 1) in body["message"]
    assert_nothing_stored()


def test_body_at_the_limit_is_accepted(
    client: Client, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(endpoint.document).encode()
    monkeypatch.setattr(endpoint.view, "max_body_bytes", len(data))

    response = send(client, endpoint.url, data)

    assert response.status_code == 202, response.content
    assert Incident.objects.count() == 1


def test_events_api_refuses_bodies_over_pagerdutys_512_kib_limit(
    client: Client, setup: Setup
) -> None:
    document = pd_trigger(setup.events_api_key)
    document["payload"]["custom_details"]["log"] = "x" * (512 * 1024)

    response = post(client, ENQUEUE, document)

    error_body(response, 413)
    assert_nothing_stored()


def test_unknown_and_inactive_integration_keys_get_the_same_404(
    client: Client, setup: Setup
) -> None:
    setup.alertmanager.is_active = False
    setup.alertmanager.save()
    document = am_firing()

    never_existed = post(client, webhook(secrets.token_hex(16)), document)
    inactive = post(client, webhook(setup.alertmanager_key), document)
    not_a_key = post(client, webhook("not-a-key"), document)

    body = error_body(never_existed, 404)
    assert body == {
        "status": "invalid event",
        "message": "Unknown integration key.",
        "errors": ["Unknown integration key."],
    }
    assert error_body(inactive, 404) == body
    assert error_body(not_a_key, 404) == body
    assert setup.alertmanager_key not in inactive.content.decode()
    assert_nothing_stored()


def test_database_error_during_ingest_is_a_503_with_retry_after(
    client: Client, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(**kwargs: Any) -> Any:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("incidents.intake.views.alert_ingest", database_down)

    response = post(client, endpoint.url, endpoint.document)

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "message": "Could not store the event; retry later.",
    }
    assert response["Retry-After"].isdigit()
    assert int(response["Retry-After"]) > 0
    assert_nothing_stored()


def test_database_error_after_paging_rolls_the_whole_event_back(
    client: Client, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incident, its alert, its timeline and its page are written before the failure."""
    escalation_start = ingest.escalation_start

    def page_then_fail(incident: Incident) -> None:
        escalation_start(incident)
        assert Notification.objects.filter(incident=incident).exists()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ingest, "escalation_start", page_then_fail)

    response = post(client, ENQUEUE, pd_trigger(setup.events_api_key))

    assert response.status_code == 503
    assert response["Retry-After"]
    assert_nothing_stored()


def test_database_error_on_the_second_alert_of_a_group_rolls_back_the_first(
    client: Client, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_alert = ingest._store_alert
    stored: list[Alert] = []

    def fail_on_second_alert(*args: Any, **kwargs: Any) -> Alert:
        if stored:
            raise OperationalError("server closed the connection unexpectedly")
        stored.append(store_alert(*args, **kwargs))
        return stored[-1]

    monkeypatch.setattr(ingest, "_store_alert", fail_on_second_alert)

    response = post(client, webhook(setup.alertmanager_key), am_firing())

    assert response.status_code == 503
    assert len(stored) == 1
    assert_nothing_stored()
