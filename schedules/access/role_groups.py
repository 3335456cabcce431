"""The two global role groups: auditors and team managers."""

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db import models

from schedules.access.grants import perm_name

AUDITORS_GROUP = "Auditors"
MANAGERS_GROUP = "Team managers"


def role_group(name: str) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    return group


def ensure_role_groups(
    view_models: Iterable[type[models.Model]],
    manager_add_models: Iterable[type[models.Model]],
    extra_auditor_perms: Iterable[str] = (),
) -> None:
    """The two global groups: auditors (read everything, export) and team managers (may create
    team-scoped objects; the admin and API limit which team they create them in)."""
    auditor_perms = [perm_name(model, "view") for model in view_models]
    _set_perms(role_group(AUDITORS_GROUP), [*auditor_perms, *extra_auditor_perms])
    _set_perms(role_group(MANAGERS_GROUP), [perm_name(m, "add") for m in manager_add_models])


def _set_perms(group: Group, perms: Iterable[str]) -> None:
    query = models.Q(pk__in=[])
    for perm in perms:
        app_label, codename = perm.split(".")
        query |= models.Q(content_type__app_label=app_label, codename=codename)
    group.permissions.set(Permission.objects.filter(query))
