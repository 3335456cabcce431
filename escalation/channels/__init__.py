"""Notification channels, one module each, looked up by kind.

A contact method's kind is a channel's kind, and the choices of kind come from this registry:
a channel added here (SMS, Slack, Teams...) is at once a kind of contact method people can add,
and no kind exists without a channel to deliver it.
"""

from django.core.exceptions import ValidationError

from escalation.channels.base import (
    Channel,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    address_digest,
)
from escalation.channels.email import EmailChannel
from escalation.channels.webhook import WebhookChannel

_ALL: list[Channel] = [EmailChannel(), WebhookChannel()]
CHANNELS: dict[str, Channel] = {channel.kind: channel for channel in _ALL}


def channel_for(kind: str) -> Channel:
    try:
        return CHANNELS[kind]
    except KeyError:
        raise PermanentDeliveryError(f"no channel for {kind!r}") from None


def channel_choices() -> list[tuple[str, str]]:
    """The kinds of contact method: one per channel. A callable, so that the model's choices
    (and its migrations) follow the registry rather than a copy of it."""
    return [(kind, channel.label) for kind, channel in CHANNELS.items()]


def display_address(kind: str, address: str) -> str:
    """`address` of a `kind` of contact method as shown to anyone but its owner: a webhook URL
    may carry its secret in the path (see Channel.display_address). The address of a kind no
    channel serves any more is shown only as its fingerprint."""
    channel = CHANNELS.get(kind)
    return channel.display_address(address) if channel else f"#{address_digest(address)}"


def mask_address(value: str) -> str:
    """The audit log's mask for address fields (django-auditlog's mask_callable). The log is
    append-only and read by auditors, so no secret may ever reach it. auditlog passes the value
    alone, without its kind: the first channel that accepts the value shows it its way, and
    what no channel accepts (an old or malformed URL) is shown only as its fingerprint."""
    if value in ("", "None"):  # no value at all: auditlog's rendering of a new row's "before"
        return value
    for channel in CHANNELS.values():
        try:
            channel.validate_address(value)
        except ValidationError:
            continue
        return channel.display_address(value)
    return f"#{address_digest(value)}"


__all__ = [
    "CHANNELS",
    "Channel",
    "DeliveryError",
    "Message",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "channel_choices",
    "channel_for",
    "display_address",
    "mask_address",
]
