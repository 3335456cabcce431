"""Moves that are refused: an object that other objects still rely on stays in its team."""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import models

from schedules.access.registry import _REGISTRY
from schedules.models import Team

# guard(obj, team): why obj (as stored) may not move to `team`, or None if nothing forbids it.
MoveGuard = Callable[[Any, Team], str | None]

_MOVE_GUARDS: dict[type[models.Model], list[MoveGuard]] = defaultdict(list)


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
