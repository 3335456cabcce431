"""Who may see and change contact methods and notification rules: each belongs to one person.

Django's model-level permissions mean "on every row". Superusers hold them all, and auditors
hold view on every model (the Auditors group, incidents.apps); nobody else is given them, since
that would show every responder everyone's addresses and webhook URLs. A person's own rows need
no permission: every member of a team (everyone who can be paged) manages their own. Anyone
else (an auditor, a staff user in no team) changes none; the admin and the API both ask here.
"""

from typing import Any

from django.db.models import Model, QuerySet

from schedules.access import perm_name
from schedules.models import TeamMembership

ACTIONS = ("view", "add", "change", "delete")


def can_be_paged(user: Any) -> bool:
    """Members of a team are who escalation pages, so they are who manage their own ways of
    being reached."""
    return bool(user.is_active and TeamMembership.objects.filter(user_id=user.pk).exists())


def on_everyones(user: Any, model: type[Model], action: str) -> bool:
    """Whether `user` may `action` every person's rows of `model` (a model-level permission;
    changing them includes seeing them)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    actions = ["view", "change"] if action == "view" else [action]
    return bool(user.is_active) and any(user.has_perm(perm_name(model, a)) for a in actions)


def own_rows(user: Any, queryset: QuerySet[Any], action: str = "view") -> QuerySet[Any]:
    """The rows of `queryset` `user` may `action`: everyone's, or their own."""
    if on_everyones(user, queryset.model, action):
        return queryset
    return queryset.filter(user_id=user.pk)


def may(user: Any, model: type[Model], action: str, obj: Any = None, *, member: bool) -> bool:
    """Whether `user` may `action` `obj` (None: rows of `model` in general, or a new one).
    `member` is can_be_paged(user), which callers cache for the request."""
    if on_everyones(user, model, action):
        return True
    return member and (obj is None or obj.user_id == user.pk)
