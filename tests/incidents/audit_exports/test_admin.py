"""The auditor's admin: the Export button and form, past exports, the response-times page."""

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.audit.models import AuditEntry, AuditExport
from tests.conftest import Setup
from tests.incidents.audit_exports.conftest import (
    Q_START,
    acknowledge_at,
    log_entry,
    resolve_at,
    trigger_at,
)

pytestmark = pytest.mark.django_db

AUDIT_LOG = reverse("admin:incidents_auditentry_changelist")
EXPORT_FORM = reverse("admin:incidents_auditexport_export")
EXPORTS = reverse("admin:incidents_auditexport_changelist")
RESPONSE_TIMES = reverse("admin:incidents_auditexport_response_times")
FORM = {"kind": "audit_log", "format": "csv", "start": "2025-01-01", "end": "2025-04-01"}


@pytest.fixture
def entries(setup: Setup) -> list[AuditEntry]:
    return [log_entry(setup.service, Q_START + timedelta(days=n)) for n in range(3)]


def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def finished_export(client: Client) -> AuditExport:
    response = client.post(EXPORT_FORM, FORM)
    b"".join(response.streaming_content)
    return AuditExport.objects.get(pk=int(response["X-Watchstander-Export-Id"]))


@pytest.mark.parametrize("persona", ["auditor", "superuser"])
def test_the_audit_log_has_an_export_button(
    client: Client, persona: str, request: pytest.FixtureRequest, entries: list[AuditEntry]
) -> None:
    response = logged_in(client, request.getfixturevalue(persona)).get(AUDIT_LOG)

    assert response.status_code == 200
    assert f'href="{EXPORT_FORM}"' in response.content.decode()
    assert f'href="{RESPONSE_TIMES}"' in response.content.decode()


def test_people_who_cannot_export_see_no_button_and_get_403(
    client: Client, responder: Any, entries: list[AuditEntry]
) -> None:
    logged_in(client, responder)
    assert AuditExport.objects.count() == 0

    log = client.get(AUDIT_LOG)
    assert log.status_code == 200  # they may read the log...
    assert EXPORT_FORM not in log.content.decode()  # ...but not export it
    for url in (EXPORT_FORM, RESPONSE_TIMES, EXPORTS):
        assert client.get(url).status_code == 403, url
    assert client.post(EXPORT_FORM, FORM).status_code == 403
    assert not AuditExport.objects.exists()


def test_people_outside_the_admin_are_sent_to_log_in(
    client: Client, outsider: Any, entries: list[AuditEntry]
) -> None:
    logged_in(client, outsider)

    for url in (EXPORT_FORM, RESPONSE_TIMES):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("persona", ["auditor", "superuser"])
def test_the_export_form_streams_the_download(
    client: Client, persona: str, request: pytest.FixtureRequest, entries: list[AuditEntry]
) -> None:
    user = request.getfixturevalue(persona)
    logged_in(client, user)
    assert client.get(EXPORT_FORM).status_code == 200

    response = client.post(EXPORT_FORM, FORM)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith('attachment; filename="watchstander-audit')
    body = b"".join(response.streaming_content)
    export = AuditExport.objects.get()
    assert (export.requested_by, export.row_count) == (user, 3)
    assert export.sha256 == hashlib.sha256(body).hexdigest()


def test_the_export_form_explains_what_is_wrong(client: Client, auditor: Any, setup: Setup) -> None:
    logged_in(client, auditor)

    response = client.post(EXPORT_FORM, {**FORM, "kind": "incidents", "model": "incidents.service"})

    assert response.status_code == 200
    assert "only the audit_log export can be filtered by model" in response.content.decode()
    bad_period = client.post(EXPORT_FORM, {**FORM, "end": "2024-12-01"})
    assert "must be after its start" in bad_period.content.decode()
    assert not AuditExport.objects.exists()


def test_past_exports_list_their_manifest(
    client: Client, auditor: Any, entries: list[AuditEntry]
) -> None:
    logged_in(client, auditor)
    export = finished_export(client)

    listing = client.get(EXPORTS)
    manifest_url = reverse("admin:incidents_auditexport_manifest", args=[export.pk])
    assert listing.status_code == 200
    assert manifest_url in listing.content.decode()
    assert export.sha256[:16] in listing.content.decode()

    manifest = client.get(manifest_url)
    assert manifest.status_code == 200
    assert manifest["Content-Disposition"].endswith('.csv.manifest.json"')
    document = json.loads(manifest.content)
    assert (document["export_id"], document["row_count"]) == (export.pk, 3)


def test_exports_cannot_be_added_changed_or_deleted_in_the_admin(
    client: Client, superuser: Any, entries: list[AuditEntry]
) -> None:
    logged_in(client, superuser)
    export = finished_export(client)

    assert client.get(reverse("admin:incidents_auditexport_add")).status_code == 403
    delete = reverse("admin:incidents_auditexport_delete", args=[export.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditExport.objects.filter(pk=export.pk).exists()


@pytest.mark.parametrize("persona", ["auditor", "superuser"])
def test_the_response_times_page(
    client: Client, persona: str, request: pytest.FixtureRequest, setup: Setup
) -> None:
    # Inside the default window (the last 90 days): one incident acked after 2m, resolved at 1h.
    created = timezone.now() - timedelta(days=2)
    incident = trigger_at(setup.alertmanager, created, "recent")
    acknowledge_at(incident, created + timedelta(minutes=2), setup.alice)
    resolve_at(incident, created + timedelta(hours=1), setup.alice)

    response = logged_in(client, request.getfixturevalue(persona)).get(RESPONSE_TIMES)

    assert response.status_code == 200
    page = response.content.decode()
    assert setup.service.name in page
    assert setup.service.team.name in page
    assert "2m 00s" in page  # MTTA
    assert "1h 00m 00s" in page  # MTTR
    older = client.get(RESPONSE_TIMES, {"start": "2025-01-01", "end": "2025-04-01"})
    assert "No incidents in this period." in older.content.decode()


def test_the_incident_list_links_to_the_response_times(client: Client, superuser: Any) -> None:
    response = logged_in(client, superuser).get(reverse("admin:incidents_incident_changelist"))

    assert f'href="{RESPONSE_TIMES}"' in response.content.decode()
