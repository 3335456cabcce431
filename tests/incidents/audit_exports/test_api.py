"""The export API: who may use it, bad parameters, streaming, and manifests."""

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from incidents.audit import export_encoding
from incidents.audit.exports import EXPORTED_EVENT
from incidents.audit.models import AuditEntry, AuditExport
from tests.conftest import Setup
from tests.incidents.audit_exports.conftest import PERIOD, Q_START, log_entry, token_for

pytestmark = pytest.mark.django_db

EXPORT = reverse("audit_api:export")
EXPORTS = reverse("audit_api:export-list")
QUERY = {"kind": "audit_log", "format": "csv", **PERIOD}


@pytest.fixture
def entries(setup: Setup) -> list[AuditEntry]:
    return [
        log_entry(setup.service, Q_START + timedelta(hours=n), changes={"n": [n, n + 1]})
        for n in range(40)
    ]


def manifest_url(export_id: int) -> str:
    return reverse("audit_api:export-manifest", args=[export_id])


def download(client: Client, user: Any, **params: str) -> Any:
    return client.get(EXPORT, {**QUERY, **params}, **token_for(user))


@pytest.mark.parametrize("persona", ["responder", "outsider"])
def test_people_without_the_export_permission_get_403(
    client: Client, entries: list[AuditEntry], persona: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(persona)
    finished = AuditExport.objects.create(
        kind="audit_log", format="csv", period_start=Q_START, period_end=Q_START
    )

    for url, params in [(EXPORT, QUERY), (EXPORTS, {}), (manifest_url(finished.pk), {})]:
        response = client.get(url, params, **token_for(user))
        assert response.status_code == 403, url
        assert "export permission" in response.json()["detail"]
    assert AuditExport.objects.count() == 1  # nothing was exported


def test_anonymous_requests_are_refused(client: Client, entries: list[AuditEntry]) -> None:
    assert client.get(EXPORT, QUERY).status_code == 401
    assert client.get(EXPORTS).status_code == 401


@pytest.mark.parametrize("persona", ["auditor", "superuser"])
def test_auditors_and_superusers_download_the_export(
    client: Client, entries: list[AuditEntry], persona: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(persona)

    response = download(client, user)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    export = AuditExport.objects.get(pk=int(response["X-Watchstander-Export-Id"]))
    assert response["Content-Disposition"] == (
        f'attachment; filename="watchstander-audit-log-20250101-20250401-{export.pk}.csv"'
    )
    body = b"".join(response.streaming_content)
    assert body.count(b"\r\n") == 41  # header + 40 entries
    export.refresh_from_db()
    assert export.requested_by == user
    assert (export.row_count, export.sha256) == (40, hashlib.sha256(body).hexdigest())


def test_the_body_is_streamed_in_chunks_and_the_manifest_waits_for_the_end(
    client: Client, auditor: Any, entries: list[AuditEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_encoding, "CHUNK_CHARS", 1024)
    response = download(client, auditor, format="jsonl")
    export_id = int(response["X-Watchstander-Export-Id"])

    # Nothing has been read yet: the rows are fetched as the client reads.
    assert AuditExport.objects.get(pk=export_id).finished_at is None
    assert client.get(manifest_url(export_id), **token_for(auditor)).status_code == 409
    chunks = list(response.streaming_content)

    assert 3 < len(chunks) < 40  # several rows per chunk, several chunks per body
    assert all(len(chunk) >= 1024 for chunk in chunks[:-1])
    manifest = client.get(manifest_url(export_id), **token_for(auditor))
    assert manifest.status_code == 200
    assert manifest.json()["row_count"] == 40
    assert manifest.json()["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert manifest.json()["generated_by"] == "auditor"


def test_the_api_export_is_audit_logged_as_the_token_user(
    client: Client, auditor: Any, setup: Setup
) -> None:
    team = setup.service.team
    response = download(client, auditor, kind="incidents", format="jsonl", team=team.name)
    b"".join(response.streaming_content)

    entry = AuditEntry.objects.get(additional_data__event=EXPORTED_EVENT)
    assert (entry.actor, entry.actor_label) == (auditor, "auditor")
    assert entry.additional_data["kind"] == "incidents"
    assert entry.additional_data["filters"] == {"team_id": team.pk, "team": team.name}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday"}, "start: 'yesterday' is not a date"),
        ({"end": "2025-13-01"}, "end: '2025-13-01' is not a date"),
        ({"end": "2025-01-01"}, "end: the period's end must be after its start"),
        ({"kind": "everything"}, "kind: 'everything' is not one of"),
        ({"format": "xlsx"}, "format: 'xlsx' is not one of"),
        ({"model": "incidents.nope"}, "model: unknown model 'incidents.nope'"),
        ({"team": "Nobody"}, "team: there is no team"),
        ({"start": ""}, "start: this parameter is required"),
    ],
)
def test_bad_parameters_get_400_with_a_readable_message(
    client: Client, auditor: Any, setup: Setup, params: dict[str, str], message: str
) -> None:
    response = download(client, auditor, **params)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not AuditExport.objects.exists()


def test_the_list_shows_exports_newest_first(
    client: Client, auditor: Any, entries: list[AuditEntry]
) -> None:
    first = download(client, auditor)
    b"".join(first.streaming_content)
    download(client, auditor, format="jsonl")  # never read: unfinished

    response = client.get(EXPORTS, **token_for(auditor))

    assert response.status_code == 200
    listed = response.json()["results"]
    assert [item["finished"] for item in listed] == [False, True]
    assert listed[1]["export_id"] == int(first["X-Watchstander-Export-Id"])
    assert listed[1]["row_count"] == 40
    assert listed[1]["manifest_url"] == manifest_url(listed[1]["export_id"])
    assert response.json()["count"] == 2


def test_an_unknown_export_has_no_manifest(client: Client, auditor: Any) -> None:
    response = client.get(manifest_url(999_999), **token_for(auditor))

    assert response.status_code == 404
