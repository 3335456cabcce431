"""How to reach a person: the contact points a page is delivered to."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class ContactPoint:
    channel: str
    address: str


def contact_points(user: AbstractBaseUser) -> list[ContactPoint]:
    """Where to page `user`. For now every person is paged by e-mail at their account address."""
    email = getattr(user, "email", "")
    return [ContactPoint(channel="email", address=email)] if email else []
