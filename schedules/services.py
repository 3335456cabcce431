"""Changes to schedules that more than one entry point makes (the API and the admin)."""

from collections.abc import Callable, Sequence
from itertools import zip_longest
from typing import Any

from django.db import models, transaction

from schedules.models import Rotation, RotationParticipant


def sync_rows(
    existing: Sequence[models.Model],
    wanted: Sequence[dict[str, Any]],
    create: Callable[[dict[str, Any]], object],
) -> None:
    """Make the child rows `existing` equal `wanted`, in order, saving only the rows that
    differ: every save is an audit entry, and a change of one participant should read as
    that one change, not as a list rewritten."""
    for row, values in zip_longest(existing, wanted):
        if values is None:
            row.delete()
        elif row is None:
            create(values)
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.save()


@transaction.atomic
def rotation_set_participants(rotation: Rotation, users: Sequence[Any]) -> None:
    """Make `users` the rotation's participants, in turn order (a person may appear more than
    once), at positions 0, 1, 2... Places that already hold the right person at the right
    position are left alone. Whether the users may be on this schedule is the caller's
    question (the API's and the admin's validation)."""
    sync_rows(
        list(rotation.participants.order_by("position", "pk")),
        [{"user_id": user.pk, "position": position} for position, user in enumerate(users)],
        lambda values: RotationParticipant.objects.create(rotation=rotation, **values),
    )
