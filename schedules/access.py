"""Team-based access: django-guardian object permissions derived from team membership.

Each team has a managers group and a responders group. Every team-scoped object (the team,
its services, integrations, policies, incidents...) gets object permissions for those two
groups when it is created; membership puts people in the groups. Moving a person between teams
is therefore one membership change, and nothing is copied per person.

When an object changes team (a service handed to another team, an integration moved to another
service), its team-derived permissions move with it: the other teams' groups lose theirs and
the new team's groups get them, on the object and on its dependants (a service's integrations
and incidents). Grants and revocations are written in bulk and announced with
`team_permissions_changed`, which the audit trail records as one entry per change.

An object that other objects still rely on may not change team while they do (a policy that
another team's services escalate through, a schedule that another team's levels page): the
new team would decide who the old team's incidents page. Apps say what forbids a move with
`register_move_guard`, and every path that can move an object (admin forms, API serializers)
asks `move_refusal` first and shows its reason.

Apps declare their team-scoped models and move guards in AppConfig.ready() with
`register_team_scoped` and `register_move_guard`; this module imports nothing from the apps
above it.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from auditlog.context import disable_auditlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models, transaction
from django.db.models import ProtectedError, QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import Signal
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_group_obj_perms_model

from schedules.models import Team, TeamMembership

Role = TeamMembership.Role
AUDITORS_GROUP = "Auditors"
MANAGERS_GROUP = "Team managers"

# What each role may do to each kind of team-scoped object (Django permission actions).
RESPONDER_CAN = ("view",)
MANAGER_CAN = ("view", "change", "delete")

GRANT = "grant"
REVOKE = "revoke"

Dependants = Callable[[Any], Iterable[QuerySet[Any]]]
# guard(obj, team): why obj (as stored) may not move to `team`, or None if nothing forbids it.
MoveGuard = Callable[[Any, Team], str | None]
DeleteGuard = Callable[[Any], list[models.Model]]


@dataclass(frozen=True)
class TeamScoped:
    model: type[models.Model]
    team_of: Callable[[Any], Team | None]
    actions: dict[str, tuple[str, ...]]  # role -> actions
    link: "models.ForeignKey[Any, Any] | None"  # its change may move the object to another team
    dependants: Dependants | None


@dataclass(frozen=True)
class PermissionChange:
    """Object permissions granted to, or revoked from, one team's groups in one go.

    `subject` is the object whose creation or move caused the change; the permissions are on
    the `model` objects `object_ids`, which are the subject itself or its dependants."""

    operation: str  # GRANT or REVOKE
    subject: models.Model
    model: type[models.Model]
    object_ids: tuple[Any, ...]
    team_id: int | None
    permissions: dict[str, tuple[str, ...]]  # group name -> permission codenames


# Sent (sender: the model of the changed objects; `change`: a PermissionChange) after each bulk
# grant or revocation. Rows written in bulk leave no audit entries of their own, so the audit
# trail (incidents) records this instead; this module must not import it.
team_permissions_changed = Signal()

_REGISTRY: dict[type[models.Model], TeamScoped] = {}
_MOVE_GUARDS: dict[type[models.Model], list[MoveGuard]] = defaultdict(list)
_DELETE_GUARDS: dict[type[models.Model], list[DeleteGuard]] = defaultdict(list)
_MOVED = "_team_scoped_moved"  # set on an instance between its pre_save and post_save


def register_team_scoped(
    model: type[models.Model],
    *,
    team_of: Callable[[Any], Team | None],
    responder: tuple[str, ...] = RESPONDER_CAN,
    manager: tuple[str, ...] = MANAGER_CAN,
    via: str | None = None,
    dependants: Dependants | None = None,
) -> None:
    """Grant the model's team groups their permissions on every new object of `model`, and
    move them to the new team's groups whenever an object changes team.

    `via` names the foreign key through which an object belongs to its team (the team itself,
    or a parent such as an integration's service); it defaults to a `team` foreign key if the
    model has one. `dependants(obj)` returns querysets of other team-scoped objects whose team
    follows obj's (a service's integrations and incidents): they move with it. Only `save()`
    is watched: `QuerySet.update()` of that key moves nothing.

    The model needs direct foreign-key permission tables (guardian's `content_object` models).
    """
    _REGISTRY[model] = TeamScoped(
        model,
        team_of,
        {Role.RESPONDER: responder, Role.MANAGER: manager},
        _team_link(model, via),
        dependants,
    )
    uid = f"team-scoped-{model._meta.label}"
    pre_save.connect(_note_team_change, sender=model, dispatch_uid=uid)
    post_save.connect(_follow_team, sender=model, dispatch_uid=uid)


def _team_link(model: type[models.Model], via: str | None) -> "models.ForeignKey[Any, Any] | None":
    """The foreign key named `via`, or else the model's `team` foreign key if it has one."""
    try:
        field = model._meta.get_field(via or "team")
    except FieldDoesNotExist:
        if via is None:
            return None
        raise
    if isinstance(field, models.ForeignKey) and (via is not None or field.related_model is Team):
        return field
    if via is not None:
        raise ImproperlyConfigured(f"{model._meta.label}.{via} is not a foreign key.")
    return None


def registered_models() -> list[type[models.Model]]:
    return list(_REGISTRY)


def team_link(model: type[models.Model]) -> "models.ForeignKey[Any, Any] | None":
    """The foreign key whose change moves objects of `model` to another team (None: not a
    team-scoped model, or one that never moves, such as the team itself)."""
    spec = _REGISTRY.get(model)
    return spec.link if spec is not None else None


def team_of(obj: models.Model) -> Team | None:
    """The team `obj` belongs to, by the rule its model was registered with."""
    return _REGISTRY[type(obj)].team_of(obj)


def _note_team_change(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool = False,
    update_fields: Iterable[str] | None = None,
    **kwargs: Any,
) -> None:
    """Remember whether this save changes the key that ties the object to its team.

    One indexed read, and only when the save writes that key: the stored value is the only
    trustworthy "before" (an instance's own copy goes stale with refresh_from_db and the like).
    """
    instance.__dict__.pop(_MOVED, None)  # left over from a save that failed
    link = _REGISTRY[sender].link
    if raw or link is None or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not {link.name, link.attname} & set(update_fields):
        return
    stored = sender._base_manager.filter(pk=instance.pk).values_list(link.attname, flat=True)
    if list(stored) != [getattr(instance, link.attname)]:
        instance.__dict__[_MOVED] = True


def _follow_team(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kw: Any
) -> None:
    moved = instance.__dict__.pop(_MOVED, False)
    if raw:
        return
    if created:
        grant_team_permissions(instance)
    elif moved:
        move_team_permissions(instance)


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


def move_team_permissions(obj: models.Model) -> None:
    """Make the team-derived permissions on obj, and on its dependants, exactly those of obj's
    current team: other teams' groups lose theirs, the team's groups get what they lack.

    A constant number of queries whatever the number of dependants (bulk delete and insert),
    with one announced change per model, team and operation. Permissions granted to single
    users or to groups that are no team's are not team-derived and stay as they are."""
    spec = _REGISTRY[type(obj)]
    team = spec.team_of(obj)
    groups = ensure_team_groups(team) if team is not None else {}
    targets = [type(obj)._base_manager.filter(pk=obj.pk)]
    if spec.dependants is not None:
        targets += list(spec.dependants(obj))
    with transaction.atomic():
        team_groups = _team_of_groups()
        for objects in targets:
            _revoke_from_other_teams(obj, objects, team_groups, keep=groups)
            if team is not None:
                _grant_missing(obj, objects, team, groups)


def _team_of_groups() -> dict[int, int]:
    """group id -> team id, for every team's managers and responders groups."""
    owners: dict[int, int] = {}
    for team_id, *group_ids in Team.objects.values_list(
        "pk", "managers_group_id", "responders_group_id"
    ):
        owners.update({group_id: team_id for group_id in group_ids if group_id is not None})
    return owners


def _revoke_from_other_teams(
    subject: models.Model,
    objects: QuerySet[Any],
    team_groups: dict[int, int],
    keep: dict[str, Group],
) -> None:
    perm_model = group_permission_model(objects.model)
    stale = perm_model._default_manager.filter(
        content_object__in=objects, group_id__in=list(team_groups)
    ).exclude(group_id__in=[group.pk for group in keep.values()])
    rows = list(
        stale.values_list("content_object_id", "group_id", "group__name", "permission__codename")
    )
    if not rows:
        return
    with disable_auditlog():  # one announced change stands for the rows (no entry per row)
        stale.delete()
    by_team: dict[int, list[tuple[Any, str, str]]] = defaultdict(list)
    for object_id, group_id, group_name, codename in rows:
        by_team[team_groups[group_id]].append((object_id, group_name, codename))
    for team_id, team_rows in by_team.items():
        object_ids = [object_id for object_id, _, _ in team_rows]
        grants = [(group_name, codename) for _, group_name, codename in team_rows]
        _announce(REVOKE, subject, objects.model, object_ids, team_id, grants)


def _grant_missing(
    subject: models.Model, objects: QuerySet[Any], team: Team, groups: dict[str, Group]
) -> None:
    model = objects.model
    perm_model = group_permission_model(model)
    grants = _role_grants(model, groups)
    held = set(
        perm_model._default_manager.filter(
            content_object__in=objects, group_id__in=[group.pk for group in groups.values()]
        ).values_list("content_object_id", "group_id", "permission_id")
    )
    missing = [
        (object_id, group, codename, permission_id)
        for object_id in objects.values_list("pk", flat=True)
        for group, codename, permission_id in grants
        if (object_id, group.pk, permission_id) not in held
    ]
    if not missing:
        return
    perm_model._default_manager.bulk_create(
        [
            perm_model(content_object_id=object_id, group=group, permission_id=permission_id)
            for object_id, group, _, permission_id in missing
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    object_ids = [object_id for object_id, _, _, _ in missing]
    _announce(GRANT, subject, model, object_ids, team.pk, [(g.name, c) for _, g, c, _ in missing])


def _announce(
    operation: str,
    subject: models.Model,
    model: type[models.Model],
    object_ids: Iterable[Any],
    team_id: int | None,
    grants: Iterable[tuple[str, str]],
) -> None:
    permissions: dict[str, set[str]] = defaultdict(set)
    for group_name, codename in grants:
        permissions[group_name].add(codename)
    change = PermissionChange(
        operation=operation,
        subject=subject,
        model=model,
        object_ids=tuple(sorted(set(object_ids))),
        team_id=team_id,
        permissions={name: tuple(sorted(codes)) for name, codes in sorted(permissions.items())},
    )
    team_permissions_changed.send(sender=model, change=change)


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


def _members_added(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    # `team.members.add(user)` (or `user.teams.add(team)`) bulk-creates memberships, so no
    # post_save arrives for them. Removing goes through QuerySet.delete(): post_delete does.
    if action != "post_add":
        return
    users = [instance] if reverse else get_user_model()._default_manager.filter(pk__in=pk_set or ())
    for user in users:
        sync_user_groups(user)


post_save.connect(_membership_changed, sender=TeamMembership, dispatch_uid="membership-sync")
post_delete.connect(_membership_changed, sender=TeamMembership, dispatch_uid="membership-sync-del")
m2m_changed.connect(_members_added, sender=TeamMembership, dispatch_uid="membership-sync-m2m")


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


# --- Moves that are refused ----------------------------------------------------------------


def register_move_guard(model: type[models.Model], guard: MoveGuard) -> None:
    """Refuse to move an object of `model` to another team while `guard(obj, team)` gives a
    reason: a sentence for the person attempting it, saying what to change first.

    The guard gets the object as stored and the team it would move to; it is asked only when
    that team is another one. Only the admin forms and API serializers ask (move_refusal):
    code that saves a model directly is trusted to know what it does."""
    if guard not in _MOVE_GUARDS[model]:
        _MOVE_GUARDS[model].append(guard)


def move_refusal(obj: models.Model, team: Team | None) -> str | None:
    """Why `obj` may not move to `team`, or None: it may, or this is no move (a new object,
    or its team stays). Several reasons are given together, so one attempt tells them all."""
    model, spec = type(obj), _REGISTRY.get(type(obj))
    if spec is None or spec.link is None or obj.pk is None or team is None:
        return None
    # As stored, not as `obj` says: a form or serializer may have set the new values on it.
    stored = model._base_manager.select_related(spec.link.name).filter(pk=obj.pk).first()
    current = spec.team_of(stored) if stored is not None else None
    if stored is None or current is None or current.pk == team.pk:
        return None
    reasons = [reason for guard in _MOVE_GUARDS[model] if (reason := guard(stored, team))]
    return " ".join(reasons) or None


# --- Deletions that are refused ---------------------------------------------------------------


def register_delete_guard(model: type[models.Model], guard: DeleteGuard) -> None:
    """Refuse to delete an object of `model` while `guard(obj)` gives objects that rely on it:
    Django's PROTECT, for what a foreign key cannot say (a many-to-many's rows go with either
    side, so deleting a schedule would silently take it off the escalation levels that page
    through it).

    Enforced on every deletion, by a pre_delete receiver that raises ProtectedError: the API
    answers it with 409 and the names, and the admin lists the objects on its confirmation
    page instead of deleting (schedules.admin.access.TeamScopedAdmin)."""
    if guard not in _DELETE_GUARDS[model]:
        _DELETE_GUARDS[model].append(guard)
    pre_delete.connect(_refuse_guarded_delete, sender=model, dispatch_uid="delete-guard")


def delete_blockers(obj: models.Model) -> list[models.Model]:
    """What relies on `obj` so that it may not be deleted (register_delete_guard)."""
    return [blocker for guard in _DELETE_GUARDS[type(obj)] for blocker in guard(obj)]


def _refuse_guarded_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    if blockers := delete_blockers(instance):
        names = ", ".join(str(blocker) for blocker in blockers[:5])
        raise ProtectedError(f"{instance} is still used by: {names}.", set(blockers))


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
