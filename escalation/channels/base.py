"""The interface every notification channel implements."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.crypto import salted_hmac


@dataclass(frozen=True)
class Message:
    """One page (or notice) to one address, rendered and ready to send."""

    address: str
    subject: str
    body: str
    # Stable for the lifetime of the delivery: channels pass it on where the far end can use it
    # to drop duplicates (e-mail Message-ID, HTTP Idempotency-Key).
    idempotency_key: str
    # The same message as JSON-ready fields, for channels that post structured data (webhooks)
    # rather than text; "type" says which kind of message it is.
    data: Mapping[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """Base class of the errors a channel raises."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later; `retry_after` (seconds) when the far end said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (bad address, rejected by the far end)."""


class Channel(Protocol):
    """One way of reaching people. `kind` is also the kind of contact method it serves."""

    kind: str
    label: str
    # Whether an address must be proven before it is paged (a code sent by SMS, say). E-mail
    # addresses and webhooks are taken at the word of whoever enters them: a wrong one shows
    # up as failed deliveries on the incident's timeline, and costs nobody else anything.
    needs_verification: bool

    def validate_address(self, address: str) -> None:
        """Raise django.core.exceptions.ValidationError unless this channel can use `address`."""

    def display_address(self, address: str) -> str:
        """`address` as shown to anyone but its owner (teammates, auditors, the timeline, the
        audit log): enough to tell it apart, nothing it may carry as a secret."""

    def send(self, message: Message) -> None:
        """Deliver `message` or raise a DeliveryError."""


def address_digest(address: str) -> str:
    """A short fingerprint of `address`: its owner can match it to one of their methods, and
    nobody can work back from it. Keyed (SECRET_KEY), so a guessable secret in a URL cannot be
    found by hashing guesses."""
    return salted_hmac("escalation.channels.address", address, algorithm="sha256").hexdigest()[:8]
