"""The team-scoped models, as registered (schedules.access.registration): what each role may do
on them, how an object finds its team, and which key moves it to another."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import QuerySet

from schedules.models import Team, TeamMembership

Role = TeamMembership.Role

Dependants = Callable[[Any], Iterable[QuerySet[Any]]]


@dataclass(frozen=True)
class TeamScoped:
    model: type[models.Model]
    team_of: Callable[[Any], Team | None]
    actions: dict[str, tuple[str, ...]]  # role -> actions
    link: "models.ForeignKey[Any, Any] | None"  # its change may move the object to another team
    dependants: Dependants | None


_REGISTRY: dict[type[models.Model], TeamScoped] = {}


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
