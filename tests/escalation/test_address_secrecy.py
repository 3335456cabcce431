"""A webhook URL may carry the secret that lets anyone post to it: only its owner and
superusers ever see it whole. Teammates and auditors see scheme://host/… and a fingerprint,
in every admin page, every API response and every audit entry; so do the timeline and the
audit log, which are kept for good.

Bob owns a webhook whose URL ends in a secret token. He is reassigned an incident, his
webhook is paged twice (once delivered, once refused), and he changes the URL to another
secret one. Then alice (his teammate) and the auditor read everything they can.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, reverse
from rest_framework.authtoken.models import Token
from rest_framework.schemas.openapi import SchemaGenerator

from escalation.channels import PermanentDeliveryError, display_address, mask_address
from escalation.channels.webhook import WebhookChannel
from escalation.models import ContactMethod, NotificationRule
from incidents.models import AuditEntry, Incident, Notification
from incidents.services import Actor, alert_ingest, incident_reassign, notification_deliver
from schedules.access import AUDITORS_GROUP, role_group
from tests.conftest import Setup, trigger_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKENS = ("T0KEN-ONE-s3cr3t", "T0KEN-TWO-s3cr3t")
URLS = tuple(f"https://hooks.example.com/services/T000/{token}" for token in TOKENS)
# Admin URL parameters filled with the id of the object the page is about.
OBJECT_PARAMS = {"object_id", "pk"}


@dataclass
class Scene:
    setup: Setup
    auditor: Any
    root: Any
    incident: Incident
    method: ContactMethod
    rules: list[NotificationRule]

    @property
    def bob(self) -> Any:
        return self.setup.bob

    def secret_bearing_objects(self) -> list[Any]:
        return [self.incident, self.method, *self.rules, *self.incident.notifications.all()]


@pytest.fixture
def scene(setup: Setup) -> Scene:
    for user in (setup.alice, setup.bob):
        user.is_staff = True
        user.save()
    auditor = UserFactory(username="audrey", is_staff=True)
    auditor.groups.add(role_group(AUDITORS_GROUP))
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    method = ContactMethod.objects.create(user=setup.bob, kind="webhook", address=URLS[0])
    rules = [
        NotificationRule.objects.create(contact_method=method, delay_minutes=minutes)
        for minutes in (0, 5)
    ]
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    incident_reassign(
        incident_id=result.incident_id,
        actor=Actor.of_user(setup.alice),
        to_user=setup.bob,
        note="please look",
    )
    sent, refused = Notification.objects.filter(user=setup.bob, channel="webhook")
    with mock.patch.object(WebhookChannel, "send", return_value=None):
        assert notification_deliver(notification_id=sent.pk) == "sent"
    Notification.objects.filter(pk=refused.pk).update(next_attempt_at=sent.next_attempt_at)
    refusal = PermanentDeliveryError("webhook refused the page: HTTP 404")
    with mock.patch.object(WebhookChannel, "send", side_effect=refusal):
        assert notification_deliver(notification_id=refused.pk) == "failed"
    method.address = URLS[1]
    method.save()
    incident = Incident.objects.get(pk=result.incident_id)
    return Scene(setup, auditor, root, incident, method, rules)


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def leaks(content: bytes | str) -> list[str]:
    text = content.decode() if isinstance(content, bytes) else content
    return [token for token in TOKENS if token in text]


# --- What to read ---------------------------------------------------------------------------


def admin_pages(scene: Scene) -> Iterator[str]:
    """Every admin page of every registered model that takes no parameter or only an object's
    id, the latter for each object that carries or names the address."""
    objects = scene.secret_bearing_objects()
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            if not (isinstance(pattern, URLPattern) and pattern.name):
                continue
            params = set(pattern.pattern.regex.groupindex)
            name = f"admin:{pattern.name}"
            if not params:
                yield reverse(name)
            elif params <= OBJECT_PARAMS:
                for obj in objects:
                    if isinstance(obj, model):
                        yield reverse(name, kwargs=dict.fromkeys(params, obj.pk))


def api_reads(scene: Scene) -> Iterator[str]:
    """Every GET in the OpenAPI schema that takes no parameter or only an object's id, the
    latter for each object that carries or names the address."""
    schema = SchemaGenerator(title="secrecy").get_schema(request=None, public=True)
    by_prefix = {
        "/api/v1/incidents/": scene.incident,
        "/api/v1/contact-methods/": scene.method,
        "/api/v1/notification-rules/": scene.rules[0],
    }
    for path, methods in schema["paths"].items():
        if "get" not in methods:
            continue
        if "{" not in path:
            yield path
            continue
        for prefix, obj in by_prefix.items():
            if path.startswith(prefix) and path.count("{") == 1 and "{id}" in path:
                yield path.replace("{id}", str(obj.pk))


# --- The marker tests -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["teammate", "auditor"])
def test_no_admin_page_shows_a_teammates_webhook_url(scene: Scene, persona: str) -> None:
    viewer = scene.setup.alice if persona == "teammate" else scene.auditor
    client = browser(viewer)
    shown: dict[str, int] = {}
    leaked = []
    for url in admin_pages(scene):
        response = client.get(url)
        shown[url] = response.status_code
        if leaks(response.content):
            leaked.append(url)

    assert leaked == []
    # The pages that show the address were read, not refused: the check above means something.
    incident_page = reverse("admin:incidents_incident_change", args=[scene.incident.pk])
    notifications = reverse("admin:incidents_notification_changelist")
    assert shown[incident_page] == shown[notifications] == 200
    if persona == "auditor":
        method_page = reverse("admin:escalation_contactmethod_change", args=[scene.method.pk])
        methods = reverse("admin:escalation_contactmethod_changelist")
        assert shown[method_page] == shown[methods] == 200


@pytest.mark.parametrize("persona", ["teammate", "auditor"])
def test_no_api_response_shows_a_teammates_webhook_url(scene: Scene, persona: str) -> None:
    viewer = scene.setup.alice if persona == "teammate" else scene.auditor
    client = api(viewer)
    shown: dict[str, int] = {}
    leaked = []
    for path in api_reads(scene):
        response = client.get(path)
        shown[path] = response.status_code
        if leaks(response.content):
            leaked.append(path)

    assert leaked == []
    assert shown[f"/api/v1/incidents/{scene.incident.pk}/"] == 200
    if persona == "auditor":
        assert shown[f"/api/v1/contact-methods/{scene.method.pk}/"] == 200
        assert shown["/api/v1/contact-methods/"] == 200


def test_no_audit_entry_holds_a_webhook_url(scene: Scene) -> None:
    entries = AuditEntry.objects.all()
    fields = [field.attname for field in AuditEntry._meta.concrete_fields]
    leaked = [
        (entry.content_type.model, entry.action)
        for entry in entries
        if leaks(json.dumps({name: getattr(entry, name) for name in fields}, default=str))
    ]

    assert leaked == []
    # The method's change is recorded, as others are shown the address: host and fingerprint.
    method_change = entries.filter(
        content_type__model="contactmethod", action=AuditEntry.Action.UPDATE
    ).get()
    assert method_change.changes["address"] == [mask_address(URLS[0]), mask_address(URLS[1])]
    assert mask_address(URLS[0]).startswith("https://hooks.example.com/… #")


def test_the_timeline_names_the_webhook_by_host_and_fingerprint(scene: Scene) -> None:
    messages = list(scene.incident.events.values_list("message", flat=True))
    where = display_address("webhook", URLS[0])

    assert f"Notified bob by webhook at {where} (level 1)." in messages
    assert any(m.startswith(f"Could not notify bob by webhook at {where}: ") for m in messages)


def test_the_owner_and_superusers_see_the_whole_url(scene: Scene) -> None:
    # The positive control: the pages above would show the URL, were it not hidden.
    own_page = reverse("admin:escalation_contactmethod_change", args=[scene.method.pk])
    notifications = reverse("admin:incidents_notification_changelist")
    incident_page = reverse("admin:incidents_incident_change", args=[scene.incident.pk])

    assert TOKENS[1] in browser(scene.bob).get(own_page).content.decode()
    assert TOKENS[0] in browser(scene.bob).get(incident_page).content.decode()
    assert TOKENS[0] in browser(scene.root).get(notifications).content.decode()
    own_method = api(scene.bob).get(f"/api/v1/contact-methods/{scene.method.pk}/").json()
    assert own_method["address"] == URLS[1]


def test_the_notification_list_cannot_be_searched_by_address(scene: Scene) -> None:
    # A search that matches would reveal the secret a guess at a time.
    notifications = reverse("admin:incidents_notification_changelist")
    page = browser(scene.setup.alice).get(notifications, {"q": TOKENS[0]})

    assert page.status_code == 200
    assert page.context["cl"].result_count == 0
