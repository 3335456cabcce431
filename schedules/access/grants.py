"""Team groups and their object permissions: the groups, the permissions' ids, and the grant on
a new object."""

from functools import cache
from typing import Any, cast

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from guardian.utils import get_group_obj_perms_model

from schedules.access.announcements import GRANT, _announce
from schedules.access.registry import _REGISTRY, Role
from schedules.models import Team


def group_permission_model(model: type[models.Model]) -> type[models.Model]:
    """The model's direct foreign-key table of group object permissions."""
    # guardian's annotation says instance, but it takes the model class as well.
    return get_group_obj_perms_model(cast(Any, model))  # type: ignore[no-any-return]


def perm_name(model: type[models.Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


@cache
def _permission_ids(model: type[models.Model], actions: tuple[str, ...]) -> dict[str, int]:
    content_type = ContentType.objects.get_for_model(model)
    codenames = [f"{action}_{model._meta.model_name}" for action in actions]
    rows = Permission.objects.filter(content_type=content_type, codename__in=codenames)
    return {codename: pk for codename, pk in rows.values_list("codename", "pk")}


def _role_grants(
    model: type[models.Model], groups: dict[str, Group]
) -> list[tuple[Group, str, int]]:
    """(group, codename, permission id) for every permission the team's roles hold on `model`."""
    return [
        (groups[role], codename, permission_id)
        for role, actions in _REGISTRY[model].actions.items()
        for codename, permission_id in _permission_ids(model, tuple(actions)).items()
    ]


def grant_team_permissions(obj: models.Model) -> None:
    """Give a new object's team groups their role's permissions on it (one insert, idempotent)
    and announce the grant (the audit trail's entry for it)."""
    model = type(obj)
    team = _REGISTRY[model].team_of(obj)
    if team is None:
        return
    grants = _role_grants(model, ensure_team_groups(team))
    perm_model = group_permission_model(model)
    rows = [
        perm_model(content_object=obj, group=group, permission_id=permission_id)
        for group, _, permission_id in grants
    ]
    perm_model._default_manager.bulk_create(rows, ignore_conflicts=True)
    _announce(
        GRANT, obj, model, [obj.pk], team.pk, [(group.name, code) for group, code, _ in grants]
    )


def ensure_team_groups(team: Team) -> dict[str, Group]:
    if team.managers_group_id is None or team.responders_group_id is None:
        with transaction.atomic():
            team.managers_group, _ = Group.objects.get_or_create(name=f"team {team.pk} managers")
            team.responders_group, _ = Group.objects.get_or_create(
                name=f"team {team.pk} responders"
            )
            team.save(update_fields=["managers_group", "responders_group"])  # audited
    return {
        Role.MANAGER: team.managers_group,  # type: ignore[dict-item]
        Role.RESPONDER: team.responders_group,  # type: ignore[dict-item]
    }


def forget_cached_permissions() -> None:
    """After a flush or migrate, permission rows (and their ids) may have been recreated."""
    _permission_ids.cache_clear()
