"""Notification channels, one module each, looked up by kind."""

from escalation.channels.base import (
    Channel,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from escalation.channels.email import EmailChannel

CHANNELS: dict[str, Channel] = {channel.kind: channel for channel in [EmailChannel()]}


def channel_for(kind: str) -> Channel:
    try:
        return CHANNELS[kind]
    except KeyError:
        raise PermanentDeliveryError(f"no channel for {kind!r}") from None


__all__ = [
    "CHANNELS",
    "Channel",
    "DeliveryError",
    "Message",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "channel_for",
]
