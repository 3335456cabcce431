"""The Django admin as the managers' UI: incidents, integrations and their keys, policies, teams."""

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.signals import post_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.intake.events import AlertEvent
from incidents.models import AuditEntry as LogEntry
from incidents.models import (
    Incident,
    IncidentEvent,
    Integration,
    Notification,
    hash_integration_key,
)
from incidents.services import (
    Actor,
    alert_ingest,
    incident_acknowledge,
    incident_escalate,
    incident_resolve,
)
from tests.conftest import Setup, load_sample
from tests.factories import PolicyFactory, UserFactory, add_level

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:incidents_incident_changelist")
INTEGRATIONS = reverse("admin:incidents_integration_changelist")
SHOWN_KEY = re.compile(r"<code>([0-9a-f]{32})</code>")


@pytest.fixture
def root(db: None) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client: Client, root: Any) -> Client:
    client.force_login(root)
    return client


@pytest.fixture
def viewer(db: None) -> Any:
    """A staff member who may look at incidents and integrations but change nothing."""
    user = UserFactory(username="viewer", is_staff=True)
    codenames = [
        "view_incident",
        "view_alert",
        "view_incidentevent",
        "view_notification",
        "view_integration",
        "view_service",
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def viewer_client(client: Client, viewer: Any) -> Client:
    client.force_login(viewer)
    return client


def trigger(setup: Setup, dedup_key: str = "db-1/disk", summary: str = "Disk full on db-1") -> Any:
    [result] = alert_ingest(
        integration=setup.events_api,
        events=[
            AlertEvent(
                action="trigger",
                dedup_key=dedup_key,
                summary=summary,
                severity="error",
                source="db-1",
            )
        ],
    )
    return Incident.objects.get(pk=result.incident_id)


def change_url(incident: Incident) -> str:
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def run_action(client: Client, url: str, action: str, objects: list[Any]) -> Any:
    return client.post(
        url,
        {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0},
        follow=True,
    )


def page_text(response: Any) -> str:
    return response.content.decode()


def cells(html: str, column: str) -> list[str]:
    """The contents of one column of a changelist, row by row."""
    return re.findall(rf'<td class="field-{column}(?: [^"]*)?">(.*?)</td>', html)


def shown_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def post_event(client: Client, url: str, document: Any) -> Any:
    return client.post(url, data=json.dumps(document), content_type="application/json")


def pd_event(key: str, dedup_key: str = "admin-key-check") -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "Key check", "source": "test", "severity": "warning"},
    }


# --- incident changelist -------------------------------------------------------------------------


def test_incident_changelist_shows_status_service_severity_age_and_level(
    admin_client: Client, setup: Setup
) -> None:
    incident = trigger(setup)

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = page_text(response)
    assert f"#{incident.pk}" in html
    assert "Disk full on db-1" in html
    assert cells(html, "status_badge") == ['<b style="color:#ba2121">Triggered</b>']
    assert cells(html, "service") == [setup.service.name]
    assert cells(html, "severity") == ["Error"]
    assert [" ".join(age.split()) for age in cells(html, "age")] == ["0 minutes"]
    assert cells(html, "current_level_display") == ["1"]


def test_incident_changelist_shows_the_repeat_loop_in_the_level(
    admin_client: Client, make_setup: Any
) -> None:
    setup = make_setup(level_delay=timedelta(minutes=1), repeat=1)
    incident = trigger(setup)
    for minutes in (2, 4):  # level 2 (bob), then level 1 again on the first repeat
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            incident.refresh_from_db()
            token = incident.active_job_id
            assert incident_escalate(incident_id=incident.pk, token=token) == "escalated"

    html = page_text(admin_client.get(CHANGELIST))

    assert cells(html, "current_level_display") == ["1 (repeat 1)"]


def incident_changelist_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(queries)


def test_incident_changelist_query_count_does_not_grow_with_incidents(
    admin_client: Client, setup: Setup
) -> None:
    for n in range(2):
        trigger(setup, dedup_key=f"k{n}")
    with_two = incident_changelist_queries(admin_client)
    for n in range(2, 10):
        incident = trigger(setup, dedup_key=f"k{n}")
    incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.alice))

    with_ten = incident_changelist_queries(admin_client)

    assert with_ten == with_two
    assert with_ten <= 12


# --- incident change page ------------------------------------------------------------------------


def test_incident_page_shows_alerts_timeline_notifications_and_both_buttons(
    admin_client: Client, setup: Setup
) -> None:
    incident = trigger(setup, summary="Disk full on db-1")
    trigger(setup, summary="Disk still full on db-1")

    response = admin_client.get(change_url(incident))

    assert response.status_code == 200
    html = page_text(response)
    assert "Disk still full on db-1" in html  # the second alert
    assert "Escalated to level 1: paging alice." in html  # the timeline
    assert "Alert added by integration" in html
    assert "alice@example.com" in html  # the notification's address
    assert 'id="acknowledge-incident"' in html
    assert 'id="resolve-incident"' in html
    assert reverse("admin:incidents_incident_acknowledge", args=[incident.pk]) in html
    assert reverse("admin:incidents_incident_resolve", args=[incident.pk]) in html
    assert 'name="_save"' not in html


def test_acknowledged_incident_page_offers_only_resolve(admin_client: Client, setup: Setup) -> None:
    incident = trigger(setup)
    incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.alice))

    html = page_text(admin_client.get(change_url(incident)))

    assert 'id="acknowledge-incident"' not in html
    assert 'id="resolve-incident"' in html
    assert "Acknowledged by alice." in html


def test_resolved_incident_page_offers_no_transition(admin_client: Client, setup: Setup) -> None:
    incident = trigger(setup)
    incident_resolve(incident_id=incident.pk, actor=Actor.of_user(setup.bob))

    html = page_text(admin_client.get(change_url(incident)))

    assert 'id="acknowledge-incident"' not in html
    assert 'id="resolve-incident"' not in html
    assert "Resolved by bob." in html


def test_view_only_staff_sees_the_incident_without_buttons(
    viewer_client: Client, setup: Setup
) -> None:
    incident = trigger(setup)

    response = viewer_client.get(change_url(incident))

    assert response.status_code == 200
    html = page_text(response)
    assert "Escalated to level 1: paging alice." in html
    assert 'id="acknowledge-incident"' not in html
    assert 'id="resolve-incident"' not in html


# --- transitions from the admin ------------------------------------------------------------------


def test_acknowledge_selected_action_acknowledges_through_the_service(
    admin_client: Client, root: Any, setup: Setup
) -> None:
    first, second = trigger(setup, dedup_key="a"), trigger(setup, dedup_key="b")

    response = run_action(admin_client, CHANGELIST, "acknowledge_selected", [first, second])

    assert "2 incident(s) acknowledged." in shown_messages(response)
    for incident in (first, second):
        incident.refresh_from_db()
        assert incident.status == Incident.Status.ACKNOWLEDGED
        assert incident.acknowledged_by == root
        assert incident.next_escalation_at is None
        assert incident.events.get(kind=IncidentEvent.Kind.ACKNOWLEDGED).actor == root
        assert set(incident.notifications.values_list("status", flat=True)) == {
            Notification.Status.CANCELLED
        }


def test_resolve_selected_action_resolves_triggered_and_acknowledged_incidents(
    admin_client: Client, root: Any, setup: Setup
) -> None:
    triggered, acknowledged = trigger(setup, dedup_key="a"), trigger(setup, dedup_key="b")
    incident_acknowledge(incident_id=acknowledged.pk, actor=Actor.of_user(setup.alice))

    response = run_action(admin_client, CHANGELIST, "resolve_selected", [triggered, acknowledged])

    assert "2 incident(s) resolved." in shown_messages(response)
    for incident in (triggered, acknowledged):
        incident.refresh_from_db()
        assert (incident.status, incident.resolved_by) == (Incident.Status.RESOLVED, root)
        assert incident.events.filter(kind=IncidentEvent.Kind.RESOLVED).count() == 1


def test_acknowledge_selected_reports_a_resolved_incident_and_leaves_it_resolved(
    admin_client: Client, setup: Setup
) -> None:
    resolved, triggered = trigger(setup, dedup_key="a"), trigger(setup, dedup_key="b")
    incident_resolve(incident_id=resolved.pk, actor=Actor.of_user(setup.bob))

    response = run_action(admin_client, CHANGELIST, "acknowledge_selected", [resolved, triggered])

    messages = shown_messages(response)
    assert f"Incident #{resolved.pk} is resolved and cannot become acknowledged." in messages
    assert "1 incident(s) acknowledged." in messages
    resolved.refresh_from_db()
    triggered.refresh_from_db()
    assert (resolved.status, resolved.acknowledged_by) == (Incident.Status.RESOLVED, None)
    assert triggered.status == Incident.Status.ACKNOWLEDGED


def test_view_only_staff_is_not_offered_the_transition_actions(
    viewer_client: Client, setup: Setup
) -> None:
    incident = trigger(setup)

    response = run_action(viewer_client, CHANGELIST, "acknowledge_selected", [incident])

    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED
    assert "acknowledge_selected" not in page_text(viewer_client.get(CHANGELIST))
    assert response.status_code == 200


def test_acknowledge_button_acknowledges_and_returns_to_the_incident(
    admin_client: Client, root: Any, setup: Setup
) -> None:
    incident = trigger(setup)
    url = reverse("admin:incidents_incident_acknowledge", args=[incident.pk])

    response = admin_client.post(url)

    assert response.status_code == 302
    assert response["Location"] == change_url(incident)
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Incident.Status.ACKNOWLEDGED, root)
    assert incident.next_escalation_at is None
    assert not incident.notifications.filter(status=Notification.Status.PENDING).exists()


def test_resolve_button_resolves(admin_client: Client, root: Any, setup: Setup) -> None:
    incident = trigger(setup)

    response = admin_client.post(
        reverse("admin:incidents_incident_resolve", args=[incident.pk]), follow=True
    )

    assert "1 incident(s) resolved." in shown_messages(response)
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == (Incident.Status.RESOLVED, root)
    assert incident.events.get(kind=IncidentEvent.Kind.RESOLVED).actor == root


def test_acknowledge_button_on_a_resolved_incident_shows_the_error(
    admin_client: Client, setup: Setup
) -> None:
    incident = trigger(setup)
    incident_resolve(incident_id=incident.pk, actor=Actor.of_user(setup.bob))

    response = admin_client.post(
        reverse("admin:incidents_incident_acknowledge", args=[incident.pk]), follow=True
    )

    assert f"Incident #{incident.pk} is resolved and cannot become acknowledged." in (
        shown_messages(response)
    )
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED


@pytest.mark.parametrize("name", ["acknowledge", "resolve"])
def test_transition_urls_refuse_get(admin_client: Client, setup: Setup, name: str) -> None:
    incident = trigger(setup)

    response = admin_client.get(reverse(f"admin:incidents_incident_{name}", args=[incident.pk]))

    assert response.status_code == 405
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


@pytest.mark.parametrize("name", ["acknowledge", "resolve"])
def test_transition_urls_refuse_view_only_staff(
    viewer_client: Client, setup: Setup, name: str
) -> None:
    incident = trigger(setup)

    response = viewer_client.post(reverse(f"admin:incidents_incident_{name}", args=[incident.pk]))

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


def test_transition_urls_send_anonymous_users_to_the_login_page(
    client: Client, setup: Setup
) -> None:
    incident = trigger(setup)

    response = client.post(reverse("admin:incidents_incident_acknowledge", args=[incident.pk]))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


def test_transition_url_of_an_unknown_incident_is_404(admin_client: Client, db: None) -> None:
    response = admin_client.post(reverse("admin:incidents_incident_resolve", args=[999999]))

    assert response.status_code == 404


# --- integrations and their keys -----------------------------------------------------------------


def add_integration(client: Client, setup: Setup, kind: str, name: str) -> tuple[Any, str]:
    response = client.post(
        reverse("admin:incidents_integration_add"),
        {"service": setup.service.pk, "name": name, "kind": kind, "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    [message] = [m for m in shown_messages(response) if "shown only now" in m]
    [key] = SHOWN_KEY.findall(message)
    return response, key


def test_adding_an_integration_shows_its_key_once_and_stores_only_the_hash(
    admin_client: Client, setup: Setup
) -> None:
    response, key = add_integration(admin_client, setup, "events_api_v2", "Grafana")

    integration = Integration.objects.get(name="Grafana")
    assert integration.key_hash == hash_integration_key(key)
    assert integration.key_prefix == key[:6]
    assert f"http://testserver/api/v1/integrations/{key}/" in shown_messages(response)[0]
    # Nowhere in clear: not on the model, not in either audit trail, not on the next pages.
    assert key not in json.dumps(list(Integration.objects.values()), default=str)
    assert not LogEntry.objects.filter(changes_text__contains=key).exists()
    assert all(key not in str(entry.changes) for entry in LogEntry.objects.all())
    assert key not in page_text(admin_client.get(INTEGRATIONS))
    change = reverse("admin:incidents_integration_change", args=[integration.pk])
    assert key not in page_text(admin_client.get(change))


def test_the_key_shown_for_a_new_events_api_integration_works_on_the_intake(
    admin_client: Client, setup: Setup
) -> None:
    _, key = add_integration(admin_client, setup, "events_api_v2", "Grafana")

    response = post_event(admin_client, "/v2/enqueue", pd_event(key))

    assert response.status_code == 202, response.content
    incident = Incident.objects.get(dedup_key="admin-key-check")
    assert incident.alerts.get().integration.name == "Grafana"


def test_the_webhook_url_shown_for_a_new_alertmanager_integration_works(
    admin_client: Client, setup: Setup
) -> None:
    response, key = add_integration(admin_client, setup, "alertmanager", "Prometheus")
    [url] = re.findall(
        r"http://testserver(/api/v1/integrations/[0-9a-f]{32}/)", page_text(response)
    )

    accepted = post_event(
        admin_client, url, load_sample("alertmanager_v4_firing_group_2_alerts.json")["body"]
    )

    assert accepted.status_code == 202, accepted.content
    assert Integration.objects.get(name="Prometheus").alerts.count() == 2
    assert key in url


def test_rotate_keys_invalidates_the_old_key_and_shows_a_working_new_one(
    admin_client: Client, setup: Setup
) -> None:
    old_key = setup.events_api_key
    assert post_event(admin_client, "/v2/enqueue", pd_event(old_key, "before")).status_code == 202

    response = run_action(admin_client, INTEGRATIONS, "rotate_keys", [setup.events_api])

    [message] = [m for m in shown_messages(response) if "shown only now" in m]
    [new_key] = SHOWN_KEY.findall(message)
    assert new_key != old_key
    setup.events_api.refresh_from_db()
    assert setup.events_api.key_hash == hash_integration_key(new_key)
    refused = post_event(admin_client, "/v2/enqueue", pd_event(old_key, "after-old"))
    assert refused.status_code == 400
    assert not Incident.objects.filter(dedup_key="after-old").exists()
    assert post_event(admin_client, "/v2/enqueue", pd_event(new_key, "after")).status_code == 202


def test_rotate_keys_leaves_unselected_integrations_alone(
    admin_client: Client, setup: Setup
) -> None:
    run_action(admin_client, INTEGRATIONS, "rotate_keys", [setup.events_api])

    accepted = post_event(
        admin_client,
        f"/api/v1/integrations/{setup.alertmanager_key}/",
        load_sample("alertmanager_v4_firing_group_2_alerts.json")["body"],
    )
    assert accepted.status_code == 202


def test_view_only_staff_cannot_rotate_integration_keys(
    viewer_client: Client, setup: Setup
) -> None:
    old_hash = setup.events_api.key_hash

    run_action(viewer_client, INTEGRATIONS, "rotate_keys", [setup.events_api])

    setup.events_api.refresh_from_db()
    assert setup.events_api.key_hash == old_hash


# --- audit trail ---------------------------------------------------------------------------------


def log_entries_for(obj: Any) -> Any:
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk
    )


def test_an_admin_form_save_is_audited_with_the_staff_user_as_actor(
    admin_client: Client, root: Any, setup: Setup
) -> None:
    integration = setup.alertmanager
    response = admin_client.post(
        reverse("admin:incidents_integration_change", args=[integration.pk]),
        {"service": setup.service.pk, "name": "Alertmanager prod", "kind": "alertmanager"},
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert (integration.name, integration.is_active) == ("Alertmanager prod", False)
    entry = log_entries_for(integration).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == root
    assert entry.changes_dict["name"] == ["AM", "Alertmanager prod"]
    assert "is_active" in entry.changes_dict


def test_an_admin_acknowledge_is_audited_with_the_staff_user_as_actor(
    admin_client: Client, root: Any, setup: Setup
) -> None:
    incident = trigger(setup)

    admin_client.post(reverse("admin:incidents_incident_acknowledge", args=[incident.pk]))

    updates = log_entries_for(incident).filter(action=LogEntry.Action.UPDATE)
    [entry] = [e for e in updates if "status" in e.changes_dict]
    assert entry.changes_dict["status"] == ["triggered", "acknowledged"]
    assert entry.actor == root


# --- escalation policies and teams ---------------------------------------------------------------


def test_escalation_policy_changelist_shows_each_policys_level_count(
    admin_client: Client, setup: Setup
) -> None:
    three = PolicyFactory(name="Three levels", team=setup.service.team)
    for user in (setup.alice, setup.bob, setup.alice):
        add_level(three, [user], timedelta(minutes=1))

    response = admin_client.get(reverse("admin:escalation_escalationpolicy_changelist"))

    assert response.status_code == 200
    rows = {policy.name: policy.level_total for policy in response.context["cl"].result_list}
    assert rows == {setup.service.escalation_policy.name: 2, "Three levels": 3}
    assert sorted(cells(page_text(response), "level_count")) == ["2", "3"]


def test_escalation_policy_page_renders_its_levels(admin_client: Client, setup: Setup) -> None:
    policy = setup.service.escalation_policy

    response = admin_client.get(
        reverse("admin:escalation_escalationpolicy_change", args=[policy.pk])
    )

    assert response.status_code == 200
    assert 'name="levels-TOTAL_FORMS" value="2"' in page_text(response)


def test_team_page_renders_the_membership_inline(admin_client: Client, setup: Setup) -> None:
    team = setup.service.team

    response = admin_client.get(reverse("admin:schedules_team_change", args=[team.pk]))

    assert response.status_code == 200
    html = page_text(response)
    assert 'name="memberships-TOTAL_FORMS"' in html
    assert 'name="memberships-INITIAL_FORMS" value="2"' in html
    assert f'<option value="{setup.alice.pk}" selected>alice</option>' in html
    assert f'<option value="{setup.bob.pk}" selected>bob</option>' in html


def test_posting_the_incident_form_never_writes_the_row(admin_client: Client, setup: Setup) -> None:
    """An unlocked save of a stale copy could bring back an old escalation token."""
    incident = trigger(setup)
    saves: list[Any] = []
    post_save.connect(saves.append, sender=Incident, dispatch_uid="count-saves")
    try:
        response = admin_client.post(change_url(incident), {"title": "x", "status": "resolved"})
    finally:
        post_save.disconnect(sender=Incident, dispatch_uid="count-saves")

    assert response.status_code in (200, 302)
    assert saves == []
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.TRIGGERED
