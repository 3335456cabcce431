"""Checks: what a user may do to an object, which objects they may see, which teams they
manage, and who is in those teams."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from schedules.access.grants import perm_name
from schedules.models import Team


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
