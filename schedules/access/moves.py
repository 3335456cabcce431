"""An object's team-derived permissions, and its dependants', moved to its current team."""

from collections import defaultdict
from typing import Any

from auditlog.context import disable_auditlog
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import QuerySet

from schedules.access.announcements import GRANT, REVOKE, _announce
from schedules.access.grants import _role_grants, ensure_team_groups, group_permission_model
from schedules.access.registry import _REGISTRY
from schedules.models import Team


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
