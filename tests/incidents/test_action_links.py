"""One-click acknowledge/resolve links in pages: confirm on GET, act on POST, as the person
paged, audited as link actions."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from incidents.audit.models import AuditEntry
from incidents.links import action_link_url
from incidents.models import Incident, Notification
from incidents.services import alert_ingest, notification_deliver
from schedules.models import TeamMembership
from tests.conftest import Setup, trigger_event

LINK = re.compile(r"http://\S+/incidents/link/\S+/")


@pytest.fixture
def page(setup: Setup) -> Notification:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Notification.objects.get(incident_id=result.incident_id)


def path_of(url: str) -> str:
    return url.split("localhost:8000", 1)[1]


def status_of(page: Notification) -> str:
    return Incident.objects.get(pk=page.incident_id).status


def test_the_page_carries_working_acknowledge_and_resolve_links(page: Notification) -> None:
    notification_deliver(notification_id=page.pk)

    acknowledge, resolve = LINK.findall(mail.outbox[0].body)
    assert Client().post(path_of(acknowledge)).status_code == 200
    assert status_of(page) == Incident.Status.ACKNOWLEDGED
    assert Client().post(path_of(resolve)).status_code == 200
    assert status_of(page) == Incident.Status.RESOLVED


def test_opening_a_link_only_asks_for_confirmation(page: Notification) -> None:
    """Mail scanners fetch every link in a message: a GET must change nothing."""
    response = Client().get(path_of(action_link_url(page, "acknowledge")))

    assert response.status_code == 200
    assert b'<form method="post">' in response.content
    assert b"alice, acknowledge this incident?" in response.content
    assert status_of(page) == Incident.Status.TRIGGERED


def test_acknowledging_by_link_acts_as_the_person_paged_and_is_audited(
    page: Notification, setup: Setup
) -> None:
    response = Client(REMOTE_ADDR="198.51.100.9").post(
        path_of(action_link_url(page, "acknowledge"))
    )

    assert b"escalation has stopped" in response.content
    incident = Incident.objects.get(pk=page.incident_id)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", setup.alice)
    entry = AuditEntry.objects.get(additional_data__event="incident.acknowledge_by_link")
    assert (entry.actor, entry.remote_addr, entry.object_pk) == (
        setup.alice,
        "198.51.100.9",
        str(incident.pk),
    )
    status_change = AuditEntry.objects.get_for_object(incident).filter(changes__has_key="status")
    assert {e.actor for e in status_change if e.changes_dict["status"][1] == "acknowledged"} == {
        setup.alice
    }


def test_a_tampered_link_is_refused(page: Notification) -> None:
    url = path_of(action_link_url(page, "resolve"))
    tampered = url.replace("/link/", "/link/x")

    response = Client().post(tampered)

    assert response.status_code == 400
    assert b"This link is not valid." in response.content
    assert status_of(page) == Incident.Status.TRIGGERED


def test_an_expired_link_is_refused(page: Notification, time_machine: Any, settings: Any) -> None:
    url = path_of(action_link_url(page, "acknowledge"))
    time_machine.move_to(
        Incident.objects.get(pk=page.incident_id).created_at
        + timedelta(seconds=settings.ACTION_LINK_MAX_AGE_SECONDS + 60)
    )

    response = Client().post(url)

    assert response.status_code == 400
    assert b"expired" in response.content
    assert status_of(page) == Incident.Status.TRIGGERED


def test_a_person_who_left_the_team_can_no_longer_use_the_link(
    page: Notification, setup: Setup
) -> None:
    url = path_of(action_link_url(page, "acknowledge"))
    TeamMembership.objects.get(user=setup.alice, team=setup.service.team).delete()

    response = Client().post(url)

    assert response.status_code == 403
    assert status_of(page) == Incident.Status.TRIGGERED


def test_acknowledging_a_resolved_incident_by_link_says_so(page: Notification) -> None:
    Client().post(path_of(action_link_url(page, "resolve")))

    response = Client().post(path_of(action_link_url(page, "acknowledge")))

    assert response.status_code == 409
    assert status_of(page) == Incident.Status.RESOLVED
