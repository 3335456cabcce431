"""Deletions that are refused: an object that other objects still rely on stays."""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models import ProtectedError
from django.db.models.signals import pre_delete

DeleteGuard = Callable[[Any], list[models.Model]]

_DELETE_GUARDS: dict[type[models.Model], list[DeleteGuard]] = defaultdict(list)


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
