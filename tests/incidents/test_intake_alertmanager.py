"""`POST /api/v1/integrations/<key>/` with Alertmanager's webhook payload, from real samples."""

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from incidents.models import Alert, Incident, IncidentEvent, Notification, Severity
from incidents.services import Actor, incident_acknowledge
from tests.conftest import Setup, load_sample

FIRING = "alertmanager_v4_firing_group_2_alerts.json"
RESOLVED = "alertmanager_v4_resolved_same_group.json"
LARGE = "alertmanager_v4_large_labels_annotations.json"
GROUP_KEY = '{}/{severity="critical"}:{alertname="KubePodCrashLooping", namespace="payments"}'
FINGERPRINTS = ["5f1b9c2e8a7d4c30", "c04e7a91b3d25f68"]


def message(sample: str = FIRING, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = load_sample(sample)["body"]
    body.update(changes)
    return body


def post(client: Client, key: str, document: Any) -> Any:
    return client.post(
        f"/api/v1/integrations/{key}/",
        data=json.dumps(document).encode(),
        content_type="application/json",
    )


def accepted(response: Any, dedup_keys: list[str]) -> None:
    assert response.status_code == 202, response.content
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_keys": dedup_keys,
    }


def kinds(incident: Incident) -> list[str]:
    return list(incident.events.order_by("at", "pk").values_list("kind", flat=True))


def test_firing_group_opens_one_incident_with_an_alert_per_fingerprint(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])

    incident = Incident.objects.get()
    assert incident.service == setup.service
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.dedup_key == GROUP_KEY
    assert incident.title == "Pod is crash looping."
    assert incident.severity == Severity.CRITICAL
    alerts = Alert.objects.order_by("alert_key")
    assert [alert.alert_key for alert in alerts] == FINGERPRINTS
    assert all(alert.incident == incident for alert in alerts)
    assert all(alert.integration == setup.alertmanager for alert in alerts)
    assert all(alert.action == Alert.Action.TRIGGER for alert in alerts)
    assert [alert.occurred_at for alert in alerts] == [
        datetime(2025, 3, 4, 10, 12, 30, 482000, tzinfo=UTC),
        datetime(2025, 3, 4, 10, 13, 0, 482000, tzinfo=UTC),
    ]


def test_firing_group_keeps_each_alert_raw_with_the_group_fields(
    client: Client, setup: Setup
) -> None:
    document = message()

    accepted(post(client, setup.alertmanager_key, document), [GROUP_KEY])

    for raw in document["alerts"]:
        stored = Alert.objects.get(alert_key=raw["fingerprint"])
        assert stored.payload["alert"] == raw
        assert stored.payload["group"]["groupKey"] == GROUP_KEY
        assert stored.payload["group"]["groupLabels"] == document["groupLabels"]
        assert stored.source == "incident-intake"  # no instance label: the receiver


def test_firing_group_pages_level_one_once(client: Client, setup: Setup) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])

    page = Notification.objects.get()
    assert page.user == setup.alice
    assert page.level_position == 1
    assert page.status == Notification.Status.PENDING
    incident = Incident.objects.get()
    assert kinds(incident) == [
        IncidentEvent.Kind.TRIGGERED,
        IncidentEvent.Kind.ESCALATED,
        IncidentEvent.Kind.ALERT_ADDED,
    ]


def test_repeated_firing_notification_attaches_to_the_same_incident(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])
    first_page = Notification.objects.get()

    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.alerts.count() == 4
    assert sorted(incident.alerts.values_list("alert_key", flat=True)) == sorted(FINGERPRINTS * 2)
    assert list(Notification.objects.all()) == [first_page]
    assert kinds(incident).count(IncidentEvent.Kind.ESCALATED) == 1


def test_resolved_notification_resolves_the_group_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])

    accepted(post(client, setup.alertmanager_key, message(RESOLVED)), [GROUP_KEY])

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.resolved_at is not None
    assert incident.next_escalation_at is None
    assert kinds(incident)[-1] == IncidentEvent.Kind.RESOLVED
    resolve = incident.alerts.get(action=Alert.Action.RESOLVE)
    assert resolve.dedup_key == GROUP_KEY
    assert resolve.integration == setup.alertmanager
    assert Notification.objects.get().status == Notification.Status.CANCELLED


def test_resolved_notification_for_an_acknowledged_group_resolves_it(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])
    incident_acknowledge(incident_id=Incident.objects.get().pk, actor=Actor.of_user(setup.alice))

    accepted(post(client, setup.alertmanager_key, message(RESOLVED)), [GROUP_KEY])

    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_firing_group_with_one_alert_resolved_does_not_resolve(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])
    partly = message(notification_reason="alert resolved")
    partly["alerts"][0]["status"] = "resolved"
    partly["alerts"][0]["endsAt"] = "2025-03-04T10:41:30.482Z"

    accepted(post(client, setup.alertmanager_key, partly), [GROUP_KEY])

    incident = Incident.objects.get()
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.resolved_at is None
    assert IncidentEvent.Kind.RESOLVED not in kinds(incident)
    assert not Alert.objects.filter(action=Alert.Action.RESOLVE).exists()
    assert incident.alerts.filter(alert_key=FINGERPRINTS[1]).count() == 2
    assert Notification.objects.get().status == Notification.Status.PENDING


def test_resolved_notification_for_an_unknown_group_is_stored_without_incident(
    client: Client, setup: Setup
) -> None:
    accepted(post(client, setup.alertmanager_key, message(RESOLVED)), [GROUP_KEY])

    alert = Alert.objects.get()
    assert alert.action == Alert.Action.RESOLVE
    assert alert.incident is None
    assert not Incident.objects.exists()
    assert not Notification.objects.exists()


def test_firing_after_resolved_opens_a_new_incident(client: Client, setup: Setup) -> None:
    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])
    accepted(post(client, setup.alertmanager_key, message(RESOLVED)), [GROUP_KEY])
    old = Incident.objects.get()

    accepted(post(client, setup.alertmanager_key, message()), [GROUP_KEY])

    new = Incident.objects.exclude(pk=old.pk).get()
    assert new.status == Incident.Status.TRIGGERED
    assert new.alerts.count() == 2
    assert Incident.objects.get(pk=old.pk).status == Incident.Status.RESOLVED
    assert Notification.objects.filter(incident=new, user=setup.alice).count() == 1


def test_large_labels_and_annotations_sample_opens_an_incident(
    client: Client, setup: Setup
) -> None:
    document = message(LARGE)

    accepted(post(client, setup.alertmanager_key, document), [document["groupKey"]])

    incident = Incident.objects.get()
    assert incident.title == "Filesystem has less than 15% space left."
    assert incident.severity == Severity.WARNING
    assert incident.dedup_key == document["groupKey"]
    alert = Alert.objects.get()
    assert alert.alert_key == "9e4d1c7b2a8f3065"
    assert alert.source == "192.0.2.41:9100"
    assert alert.payload["alert"] == document["alerts"][0]
    assert len(alert.payload["alert"]["labels"]) == len(document["alerts"][0]["labels"])
    assert Notification.objects.get().user == setup.alice


def long_group_key(cluster: str) -> str:
    # Regex matchers in nested routes make group keys longer than the dedup_key column.
    matchers = ", ".join(f'team=~"^(?:platform-{n:02d}-.*)$"' for n in range(12))
    return (
        f'{{}}/{{{matchers}}}:{{alertname="NodeFilesystemAlmostOutOfSpace", cluster="{cluster}"}}'
    )


def test_group_key_longer_than_the_column_is_handled(client: Client, setup: Setup) -> None:
    group_key = long_group_key("prod-us-2")
    assert len(group_key) > 255
    firing = message(LARGE, groupKey=group_key)

    response = post(client, setup.alertmanager_key, firing)

    assert response.status_code == 202, response.content
    (dedup_key,) = response.json()["dedup_keys"]
    assert len(dedup_key) <= 255
    incident = Incident.objects.get()
    assert incident.dedup_key == dedup_key
    assert Alert.objects.get().dedup_key == dedup_key


def test_long_group_key_resolve_finds_the_same_incident(client: Client, setup: Setup) -> None:
    group_key = long_group_key("prod-us-2")
    post(client, setup.alertmanager_key, message(LARGE, groupKey=group_key))
    resolved = message(LARGE, groupKey=group_key, status="resolved")
    resolved["alerts"][0]["status"] = "resolved"

    response = post(client, setup.alertmanager_key, resolved)

    assert response.status_code == 202, response.content
    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_long_group_keys_that_share_a_prefix_stay_separate(client: Client, setup: Setup) -> None:
    first, second = long_group_key("prod-us-2"), long_group_key("prod-us-3")
    assert first[:255] == second[:255]

    post(client, setup.alertmanager_key, message(LARGE, groupKey=first))
    post(client, setup.alertmanager_key, message(LARGE, groupKey=second))

    assert Incident.objects.count() == 2
    assert Notification.objects.count() == 2


def test_unknown_extra_fields_are_accepted(client: Client, setup: Setup) -> None:
    document = message(
        futureTopLevelField={"nested": [1, 2, 3]},
        anotherNewField="v2",
        truncatedAlerts=0,
    )
    document["alerts"][0]["futureAlertField"] = {"anything": True}

    accepted(post(client, setup.alertmanager_key, document), [GROUP_KEY])

    assert Incident.objects.get().alerts.count() == 2
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("High", Severity.ERROR),
        ("error", Severity.ERROR),
        ("warning", Severity.WARNING),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("something-else", Severity.CRITICAL),
        (None, Severity.CRITICAL),
    ],
)
def test_severity_label_sets_the_incident_severity(
    client: Client, setup: Setup, label: str | None, expected: str
) -> None:
    document = message()
    document["alerts"] = document["alerts"][:1]
    if label is None:
        del document["alerts"][0]["labels"]["severity"]
    else:
        document["alerts"][0]["labels"]["severity"] = label

    accepted(post(client, setup.alertmanager_key, document), [GROUP_KEY])

    assert Incident.objects.get().severity == expected
    assert Alert.objects.get().severity == expected


def test_most_severe_alert_of_the_group_sets_the_incident_severity(
    client: Client, setup: Setup
) -> None:
    document = message()
    document["alerts"][0]["labels"]["severity"] = "warning"
    document["alerts"][1]["labels"]["severity"] = "critical"

    accepted(post(client, setup.alertmanager_key, document), [GROUP_KEY])

    assert Incident.objects.get().severity == Severity.CRITICAL
    assert Notification.objects.count() == 1


def test_summary_falls_back_to_common_annotations_then_alertname(
    client: Client, setup: Setup
) -> None:
    document = message()
    for alert in document["alerts"]:
        del alert["annotations"]["summary"]
    no_common = copy.deepcopy(document)
    no_common["commonAnnotations"] = {}
    no_common["groupKey"] = '{}:{alertname="KubePodCrashLooping"}'

    post(client, setup.alertmanager_key, document)
    post(client, setup.alertmanager_key, no_common)

    titles = {incident.dedup_key: incident.title for incident in Incident.objects.all()}
    assert titles == {
        GROUP_KEY: "Pod is crash looping.",
        no_common["groupKey"]: "KubePodCrashLooping",
    }


@pytest.mark.parametrize(
    ("starts_at", "expected"),
    [
        # Go marshals times as RFC 3339 with up to nine fractional digits.
        ("2025-03-04T10:12:30.482123456Z", datetime(2025, 3, 4, 10, 12, 30, 482123, tzinfo=UTC)),
        ("2025-03-04T11:12:30.4+01:00", datetime(2025, 3, 4, 10, 12, 30, 400000, tzinfo=UTC)),
        ("2025-03-04T10:12:30Z", datetime(2025, 3, 4, 10, 12, 30, tzinfo=UTC)),
    ],
)
def test_starts_at_in_go_time_formats_is_the_alert_time(
    client: Client, setup: Setup, starts_at: str, expected: datetime
) -> None:
    document = message()
    document["alerts"] = document["alerts"][:1]
    document["alerts"][0]["startsAt"] = starts_at

    accepted(post(client, setup.alertmanager_key, document), [GROUP_KEY])

    assert Alert.objects.get().occurred_at == expected
