"""guardian's "Object permissions" pages need guardian's own permissions: a manager may change
their team's service, but not hand out permissions on it, not even to themselves."""

from typing import Any

from django.test import Client
from django.urls import reverse

from incidents.models import Service
from schedules.models import Team
from tests.rbac.conftest import World, changed_tables, db_state

SERVICE_PERMS = ["view_service", "change_service", "delete_service"]


def permission_pages(world: World) -> dict[str, str]:
    service = world.a.service
    b_group = Team.objects.get(pk=world.b.team.pk).managers_group_id
    outsider = world.users["outsider"].pk
    return {
        "manage": reverse("admin:incidents_service_permissions", args=[service.pk]),
        "user": reverse(
            "admin:incidents_service_permissions_manage_user", args=[service.pk, outsider]
        ),
        "group": reverse(
            "admin:incidents_service_permissions_manage_group", args=[service.pk, b_group]
        ),
    }


def refused(response: Any) -> bool:
    if response.status_code in (403, 404):
        return True
    return bool(response.status_code == 302 and response["Location"] == reverse("admin:index"))


def test_a_manager_may_change_the_service_but_not_its_object_permissions(world: World) -> None:
    manager = world.persona("manager_a")
    assert manager.has_perm("incidents.change_service", world.a.service)
    client = Client()
    client.force_login(manager)
    pages = permission_pages(world)
    before = db_state()

    for name, url in pages.items():
        assert refused(client.get(url)), name
    submissions = {
        "manage": {"user": "otto", "submit_manage_user": "Manage user"},
        "user": {"permissions": SERVICE_PERMS},
        "group": {"permissions": SERVICE_PERMS},
    }
    for name, data in submissions.items():
        assert refused(client.post(pages[name], data)), name

    assert changed_tables(before, db_state()) == []
    outsider = world.persona("outsider")
    assert not outsider.has_perm(
        "incidents.view_service", Service.objects.get(pk=world.a.service.pk)
    )


def test_the_superuser_may_manage_object_permissions(world: World) -> None:
    """The positive control: the same submissions do grant, for someone entitled to."""
    client = Client()
    client.force_login(world.persona("superuser"))
    pages = permission_pages(world)

    assert client.get(pages["manage"]).status_code == 200
    assert client.post(pages["user"], {"permissions": SERVICE_PERMS}).status_code == 302

    outsider = world.persona("outsider")
    assert outsider.has_perm("incidents.change_service", Service.objects.get(pk=world.a.service.pk))
