"""Membership puts people in their teams' groups, kept in step with every membership change."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save

from schedules.access.grants import ensure_team_groups
from schedules.access.registry import Role
from schedules.access.role_groups import MANAGERS_GROUP, role_group
from schedules.models import TeamMembership


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
