"""Registering a team-scoped model: its saves are watched, so that a new object's team groups
get their permissions on it and an object that changes team takes them along."""

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models.signals import post_save, pre_save

from schedules.access.grants import grant_team_permissions
from schedules.access.moves import move_team_permissions
from schedules.access.registry import _REGISTRY, Dependants, Role, TeamScoped
from schedules.models import Team

# What each role may do to each kind of team-scoped object (Django permission actions).
RESPONDER_CAN = ("view",)
MANAGER_CAN = ("view", "change", "delete")

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
