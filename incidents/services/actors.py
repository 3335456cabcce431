"""Who caused a change: a person, an integration, or the system itself (jobs, commands)."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


@dataclass(frozen=True)
class Actor:
    label: str
    user: Any = None  # the acting user, when a person acted

    @classmethod
    def of_user(cls, user: AbstractBaseUser | AnonymousUser) -> "Actor":
        if not user.is_authenticated:
            raise ValueError("an anonymous user cannot act on incidents")
        return cls(label=user.get_username(), user=user)

    @classmethod
    def of_integration(cls, integration: Any) -> "Actor":
        return cls(label=f"integration {integration.name!r} ({integration.get_kind_display()})")


SYSTEM = Actor(label="system")
