"""Bulk grants and revocations, announced (team_permissions_changed) for the audit trail."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.dispatch import Signal

GRANT = "grant"
REVOKE = "revoke"


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
# trail (incidents) records this instead; this package must not import it.
team_permissions_changed = Signal()


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
