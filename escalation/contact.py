"""How to reach a person: the contact points a page is delivered to, and when.

A person's notification rules say which of their contact methods to use, how long after a
level pages them, and for which urgency. Someone with no rules at all is paged by e-mail at
their account address, at once: a new person is reachable before they have set anything up.
Someone whose rules leave out an urgency (only high-urgency rules, say) is not paged for it:
that is their choice, and the level records them as unreachable.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Value

from escalation.channels import display_address
from escalation.models import NotificationRule


@dataclass(frozen=True)
class ContactPoint:
    channel: str
    address: str
    # After the level pages the person: the rule's delay (the fallback e-mail goes at once).
    delay: timedelta = timedelta(0)
    rule_id: int | None = None  # None: the account e-mail of someone with no rules

    @property
    def key(self) -> str:
        """Names the point within one page of one person: part of the outbox's idempotency
        key, so that two rules to the same address (now and again in 10 minutes) are two
        deliveries. The fallback keeps the bare channel, as before there were rules."""
        return self.channel if self.rule_id is None else f"r{self.rule_id}-{self.channel}"


def contact_points(user: AbstractBaseUser, urgency: str | None = None) -> list[ContactPoint]:
    """Where and when to page `user` for an incident of `urgency` (None: rules of any urgency),
    earliest first. Rules whose contact method may not be paged (unverified) are skipped."""
    rules = list(
        NotificationRule.objects.filter(user_id=user.pk)
        .select_related("contact_method")
        .order_by("delay_minutes", "pk")
    )
    if not rules:
        return _account_email(user)
    return [
        ContactPoint(
            channel=rule.contact_method.kind,
            address=rule.contact_method.address,
            delay=timedelta(minutes=rule.delay_minutes),
            rule_id=rule.pk,
        )
        for rule in rules
        if rule.applies_to(urgency) and rule.contact_method.usable
    ]


def notice_points(user: AbstractBaseUser, urgency: str | None = None) -> list[ContactPoint]:
    """Where to tell `user` something that is not a page (a manager told that a level had
    nobody on call): every address their rules for `urgency` use, each once, at once.

    Delays are for pages: they give a person time to acknowledge before the next method is
    tried. A notice asks for no acknowledgement, so waiting would only make it late."""
    seen: set[tuple[str, str]] = set()
    points = []
    for point in contact_points(user, urgency):
        if (point.channel, point.address) not in seen:
            seen.add((point.channel, point.address))
            points.append(ContactPoint(point.channel, point.address, rule_id=point.rule_id))
    return points


def _account_email(user: AbstractBaseUser) -> list[ContactPoint]:
    email = getattr(user, "email", "")
    return [ContactPoint(channel="email", address=email)] if email else []


# --- Who sees an address whole ---------------------------------------------------------------


def sees_whole_address(viewer: Any, owner_id: int | None) -> bool:
    """Whether `viewer` may see the whole of an address of `owner_id`'s: their own, or anyone's
    for a superuser. Teammates and auditors see it as its channel displays it: a webhook URL
    may carry the secret that lets anyone post to it."""
    return bool(viewer.is_active and (viewer.is_superuser or viewer.pk == owner_id))


def address_seen_by(viewer: Any, *, owner_id: int | None, kind: str, address: str) -> str:
    """`address`, of `kind` and `owner_id`'s, as `viewer` may see it."""
    return address if sees_whole_address(viewer, owner_id) else display_address(kind, address)


def with_whole_address(queryset: QuerySet[Any], viewer: Any) -> QuerySet[Any]:
    """`queryset` (of rows with a `user` and an `address`) with `whole_address` on each row:
    whether `viewer` may see its address whole (sees_whole_address, as a condition)."""
    whole: Any = Value(bool(viewer.is_active and viewer.is_superuser))
    if viewer.is_active and not viewer.is_superuser:
        whole = ExpressionWrapper(Q(user_id=viewer.pk), output_field=BooleanField())
    return queryset.annotate(whole_address=whole)


def row_address(row: Any, kind: str) -> str:
    """The address of a row of with_whole_address(), as its viewer may see it."""
    if getattr(row, "whole_address", False):
        return str(row.address)
    return display_address(kind, row.address)
