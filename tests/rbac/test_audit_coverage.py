"""Nothing changes without an audit entry: every model of ours is registered with auditlog,
every many-to-many is tracked, permission grants written in bulk are recorded, and API
tokens are audited without their key ever reaching the log."""

from typing import Any

import pytest
from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token, TokenProxy

from escalation.models import EscalationLevel
from incidents.audit.signals import PERMISSIONS_GRANTED, token_reference
from incidents.models import AuditCheckpoint, AuditEntry, AuditExport, AuditSeal, Service
from schedules.access import group_permission_model, registered_models
from schedules.models import PersonSettings, Team
from tests.rbac.conftest import World, make_user

User = get_user_model()
OUR_APPS = ("schedules", "escalation", "incidents")

# The audit trail's own machinery. Entries are the log; seals and checkpoints are its hash
# chain (auditing them would append to the chain while it is being sealed); an export's row
# is its manifest, and making it is the audited "audit_exported" event.
NOT_AUDITED = {AuditEntry, AuditSeal, AuditCheckpoint, AuditExport}
# Accounts, roles and credentials: who may do what is part of the trail.
AUTH_MODELS: list[type[models.Model]] = [User, Group, Token, TokenProxy]


def our_models() -> list[type[models.Model]]:
    return [m for label in OUR_APPS for m in apps.get_app_config(label).get_models()]


def test_every_model_of_ours_is_audited_except_the_audit_machinery() -> None:
    unaudited = [
        m._meta.label
        for m in our_models() + AUTH_MODELS
        if m not in NOT_AUDITED
        if not auditlog.contains(m)
    ]
    assert unaudited == []
    assert all(m in our_models() for m in NOT_AUDITED)  # the exemptions are still real


def test_every_many_to_many_field_is_tracked() -> None:
    untracked = [
        f"{model._meta.label}.{field.name}"
        for model in our_models() + AUTH_MODELS
        if model not in NOT_AUDITED
        for field in model._meta.many_to_many
        # auditlog keeps no public accessor for the tracked many-to-many fields
        if field.name not in auditlog._registry[model]["m2m_fields"]
    ]
    assert untracked == []
    assert {"groups", "user_permissions"} <= auditlog._registry[User]["m2m_fields"]
    assert "permissions" in auditlog._registry[Group]["m2m_fields"]


def test_every_team_scoped_model_has_direct_permission_tables(db: None) -> None:
    """Moves and grants are written in bulk to the direct foreign-key tables."""
    from guardian.models import GroupObjectPermission

    assert registered_models()
    for model in registered_models():
        assert group_permission_model(model) is not GroupObjectPermission, model


def m2m_entries(obj: Any, field: str) -> list[Any]:
    return [
        e.changes[field]
        for e in AuditEntry.objects.get_for_object(obj).order_by("pk")
        if field in (e.changes or {})
    ]


def test_level_members_added_and_removed_are_recorded(world: World) -> None:
    level = EscalationLevel.objects.filter(policy=world.a.policy).earliest("position")
    newcomer = make_user("nina")

    level.users.add(newcomer)
    level.users.remove(newcomer)

    assert m2m_entries(level, "users")[-2:] == [
        {"type": "m2m", "operation": "add", "objects": ["nina"]},
        {"type": "m2m", "operation": "delete", "objects": ["nina"]},
    ]


def test_a_personal_permission_added_to_a_user_is_recorded(world: World) -> None:
    permission = Permission.objects.get(codename="view_auditentry")

    world.a.responder.user_permissions.add(permission)

    [change] = m2m_entries(world.a.responder, "user_permissions")
    assert change["operation"] == "add"
    assert change["objects"] == [str(permission)]


def test_a_new_service_records_which_groups_got_which_permissions(world: World) -> None:
    service = Service.objects.create(
        team=world.a.team, name="Alpha search", escalation_policy=world.a.policy
    )

    [entry] = AuditEntry.objects.get_for_object(service).filter(
        additional_data__event=PERMISSIONS_GRANTED
    )
    team = Team.objects.select_related("managers_group", "responders_group").get(pk=world.a.team.pk)
    managers, responders = team.managers_group.name, team.responders_group.name  # type: ignore[union-attr]
    assert entry.additional_data["permissions"] == {
        managers: ["change_service", "delete_service", "view_service"],
        responders: ["view_service"],
    }
    assert entry.additional_data["object_ids"] == [service.pk]
    assert entry.team_id == team.pk
    assert entry.action == AuditEntry.Action.ACCESS
    assert managers in entry.object_repr
    assert responders in entry.object_repr
    # Exactly the rows the entry names exist; no per-row entries were written for them.
    rows = group_permission_model(Service)._default_manager.filter(content_object=service)
    assert rows.count() == 4
    assert not AuditEntry.objects.filter(
        content_type__model="servicegroupobjectpermission", object_id__in=rows.values("pk")
    ).exists()


# --- API tokens ----------------------------------------------------------------------------


def entries_about_tokens() -> Any:
    return AuditEntry.objects.filter(content_type__app_label="authtoken").order_by("pk")


def assert_nowhere_in_the_log(secret: str) -> None:
    """Not in any column of any audit entry: a secret can reach the log through an entry about
    something else (a user's deletion diffs their token, for one)."""
    columns = [field.attname for field in AuditEntry._meta.concrete_fields]
    for row in AuditEntry.objects.values_list(*columns):
        assert not any(secret in str(value) for value in row), row


def test_creating_and_deleting_a_token_is_recorded_without_its_key(world: World) -> None:
    user = make_user("tina")
    before = entries_about_tokens().count()

    token = Token.objects.create(user=user)
    key = token.key
    token.delete()

    created, deleted = entries_about_tokens()[before:]
    assert (created.action, deleted.action) == (AuditEntry.Action.CREATE, AuditEntry.Action.DELETE)
    for entry in (created, deleted):
        assert entry.object_pk == token_reference(key)
        assert entry.object_repr == "API token of tina"
        assert entry.changes["user"] in ([None, user.pk], [user.pk, None])
    assert_nowhere_in_the_log(key)


def test_tokens_added_and_deleted_in_the_admin_are_recorded_without_their_key(
    world: World,
) -> None:
    admin = Client()
    admin.force_login(world.persona("superuser"))
    user = make_user("tom")
    before = entries_about_tokens().count()

    response = admin.post(reverse("admin:authtoken_tokenproxy_add"), {"user": user.pk})
    assert response.status_code == 302
    key = Token.objects.get(user=user).key
    response = admin.post(
        reverse("admin:authtoken_tokenproxy_delete", args=[user.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Token.objects.filter(user=user).exists()

    entries = list(entries_about_tokens()[before:])
    assert [e.action for e in entries] == [AuditEntry.Action.CREATE, AuditEntry.Action.DELETE]
    assert {e.actor_label for e in entries} == {"root"}
    assert {e.object_pk for e in entries} == {token_reference(key)}
    assert_nowhere_in_the_log(key)
    # Nor in Django's own admin log ("Recent actions"), which names objects by their text.
    logged = LogEntry.objects.filter(content_type__model="tokenproxy").order_by("pk")
    assert [(e.action_flag, e.object_repr) for e in logged] == [
        (ADDITION, "API token of tom"),
        (DELETION, "API token of tom"),
    ]
    assert not LogEntry.objects.filter(object_repr__contains=key).exists()


def test_deleting_a_person_writes_none_of_their_secrets_to_the_log(world: World) -> None:
    """auditlog diffs a user's reverse one-to-one relations as their objects' text, and an
    API token's text is its key."""
    user = make_user("vic")
    key = Token.objects.create(user=user).key
    feed_token = PersonSettings.objects.create(user=user).feed_token
    deleted_before = AuditEntry.objects.filter(action=AuditEntry.Action.DELETE).count()

    user.delete()

    deletions = AuditEntry.objects.filter(action=AuditEntry.Action.DELETE)
    assert {e.content_type.model for e in deletions[deleted_before:]} >= {
        "user",
        "token",
        "personsettings",
    }
    assert_nowhere_in_the_log(key)
    assert_nowhere_in_the_log(feed_token)


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_an_integration_key_is_no_api_credential(world: World, scheme: str) -> None:
    """Integration keys may only post alerts: as an API credential they authenticate nobody."""
    client = Client(HTTP_AUTHORIZATION=f"{scheme} {world.a.integration_key}")

    response = client.get("/api/v1/incidents/")

    assert response.status_code == 401
    assert "alpha" not in response.content.decode().lower()
