"""Team-based access: django-guardian object permissions derived from team membership.

Each team has a managers group and a responders group. Every team-scoped object (the team,
its services, integrations, policies, incidents...) gets object permissions for those two
groups when it is created; membership puts people in the groups. Moving a person between teams
is therefore one membership change, and nothing is copied per person.

Apps declare their team-scoped models in AppConfig.ready() with `register_team_scoped`; this
module imports nothing from the apps above it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_group_obj_perms_model

from schedules.models import Team, TeamMembership

Role = TeamMembership.Role
AUDITORS_GROUP = "Auditors"
MANAGERS_GROUP = "Team managers"

# What each role may do to each kind of team-scoped object (Django permission actions).
RESPONDER_CAN = ("view",)
MANAGER_CAN = ("view", "change", "delete")


@dataclass(frozen=True)
class TeamScoped:
    model: type[models.Model]
    team_of: Callable[[Any], Team | None]
    actions: dict[str, tuple[str, ...]]  # role -> actions


_REGISTRY: dict[type[models.Model], TeamScoped] = {}


def register_team_scoped(
    model: type[models.Model],
    *,
    team_of: Callable[[Any], Team | None],
    responder: tuple[str, ...] = RESPONDER_CAN,
    manager: tuple[str, ...] = MANAGER_CAN,
) -> None:
    """Grant the model's team groups their permissions on every new object of `model`."""
    _REGISTRY[model] = TeamScoped(
        model, team_of, {Role.RESPONDER: responder, Role.MANAGER: manager}
    )
    post_save.connect(
        _grant_on_create, sender=model, dispatch_uid=f"team-scoped-{model._meta.label}"
    )


def registered_models() -> list[type[models.Model]]:
    return list(_REGISTRY)


def _grant_on_create(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
) -> None:
    if created and not kwargs.get("raw"):
        grant_team_permissions(instance)


def perm_name(model: type[models.Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


@cache
def _permission_ids(model: type[models.Model], actions: tuple[str, ...]) -> dict[str, int]:
    content_type = ContentType.objects.get_for_model(model)
    codenames = [f"{action}_{model._meta.model_name}" for action in actions]
    rows = Permission.objects.filter(content_type=content_type, codename__in=codenames)
    return {codename: pk for codename, pk in rows.values_list("codename", "pk")}


def grant_team_permissions(obj: models.Model) -> None:
    """Give obj's team groups their role's permissions on obj (idempotent, one insert).

    These grants follow deterministically from the object's creation and the team's membership,
    both of which are audited, so they are written in bulk rather than one audited row each.
    """
    spec = _REGISTRY[type(obj)]
    team = spec.team_of(obj)
    if team is None:
        return
    groups = ensure_team_groups(team)
    perm_model = get_group_obj_perms_model(obj)
    rows = [
        perm_model(content_object=obj, group=groups[role], permission_id=permission_id)
        for role, actions in spec.actions.items()
        for permission_id in _permission_ids(type(obj), tuple(actions)).values()
    ]
    perm_model._default_manager.bulk_create(rows, ignore_conflicts=True)


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


def sync_user_groups(user: Any) -> None:
    """Put `user` in exactly the team groups their memberships call for."""
    memberships = TeamMembership.objects.filter(user=user).select_related(
        "team__managers_group", "team__responders_group"
    )
    wanted = {ensure_team_groups(m.team)[m.role].pk for m in memberships}
    if any(m.role == Role.MANAGER for m in memberships):
        wanted.add(role_group(MANAGERS_GROUP).pk)
    team_groups = Group.objects.filter(
        models.Q(name__startswith="team ") | models.Q(name=MANAGERS_GROUP)
    )
    current = set(user.groups.filter(pk__in=team_groups).values_list("pk", flat=True))
    if current - wanted:
        user.groups.remove(*(current - wanted))
    if wanted - current:
        user.groups.add(*(wanted - current))


def _membership_changed(sender: Any, instance: TeamMembership, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        sync_user_groups(instance.user)


post_save.connect(_membership_changed, sender=TeamMembership, dispatch_uid="membership-sync")
post_delete.connect(_membership_changed, sender=TeamMembership, dispatch_uid="membership-sync-del")


def role_group(name: str) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    return group


def forget_cached_permissions() -> None:
    """After a flush or migrate, permission rows (and their ids) may have been recreated."""
    _permission_ids.cache_clear()


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


# --- Checks -------------------------------------------------------------------------------


def can(user: Any, perm: str, obj: models.Model) -> bool:
    """Model-level (auditors, superusers) or object-level permission."""
    if not user.is_active:
        return False
    return bool(user.has_perm(perm) or user.has_perm(perm, obj))


def visible(user: Any, perm: str | list[str], queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The objects of `queryset` on which `user` holds `perm` (any of them, for a list)."""
    if isinstance(user, AnonymousUser) or not user.is_active:
        return queryset.none()
    return get_objects_for_user(
        user, perm, klass=queryset, any_perm=True, accept_global_perms=True, with_superuser=True
    )


def managed_teams(user: Any) -> QuerySet[Team]:
    return visible(user, perm_name(Team, "change"), Team.objects.all())


def team_members(teams: QuerySet[Team]) -> QuerySet[Any]:
    return (
        get_user_model().objects.filter(team_memberships__team__in=teams, is_active=True).distinct()
    )
