"""The engine's records (alerts, the notification outbox) are browsable but never editable."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.models import Alert, Notification
from incidents.services import Actor, alert_ingest, incident_reassign
from tests.conftest import Setup, trigger_event
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def superuser_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", [Alert, Notification])
def test_engine_records_are_listed_with_bounded_queries(
    superuser_client: Client, setup: Setup, model: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        alert_ingest(integration=setup.alertmanager, events=[trigger_event(f"key-{n}")])
    url = reverse(f"admin:incidents_{model._meta.model_name}_changelist")

    with django_assert_max_num_queries(12):
        response = superuser_client.get(url)

    assert response.status_code == 200
    assert response.content.count(b"Disk full on db-1") >= 5


@pytest.mark.parametrize("model", [Alert, Notification])
def test_engine_records_cannot_be_added_changed_or_deleted(
    superuser_client: Client, setup: Setup, model: Any
) -> None:
    alert_ingest(integration=setup.alertmanager, events=[trigger_event()])
    record = model.objects.get()
    name = model._meta.model_name

    assert superuser_client.get(reverse(f"admin:incidents_{name}_add")).status_code == 403
    delete_url = reverse(f"admin:incidents_{name}_delete", args=[record.pk])
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    change = superuser_client.get(reverse(f"admin:incidents_{name}_change", args=[record.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert model.objects.filter(pk=record.pk).exists()


def incident_page_queries(client: Client, incident_id: int) -> int:
    url = reverse("admin:incidents_incident_change", args=[incident_id])
    client.get(url)  # warm: the first request of a session fills caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_incident_page_query_count_does_not_grow_with_its_notifications(
    superuser_client: Client, setup: Setup
) -> None:
    [result] = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])
    people = [UserFactory(username=f"person{n}") for n in range(6)]
    for person in people:
        MembershipFactory(team=setup.service.team, user=person)
    incident_reassign(
        incident_id=result.incident_id, actor=Actor.of_user(setup.alice), to_user=people[0]
    )
    with_two = incident_page_queries(superuser_client, result.incident_id)
    for person in people[1:]:  # a page to each: five more notifications, five more people
        incident_reassign(
            incident_id=result.incident_id, actor=Actor.of_user(setup.alice), to_user=person
        )

    assert incident_page_queries(superuser_client, result.incident_id) == with_two
