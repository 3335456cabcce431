"""The interface every notification channel implements."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One page to one address, rendered and ready to send."""

    address: str
    subject: str
    body: str
    # Stable for the lifetime of the delivery: channels pass it on where the far end can use it
    # to drop duplicates (e-mail Message-ID, HTTP Idempotency-Key).
    idempotency_key: str


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
    kind: str

    def send(self, message: Message) -> None:
        """Deliver `message` or raise a DeliveryError."""
