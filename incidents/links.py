"""One-click acknowledge and resolve links, carried in every page.

A link is a signed, expiring token naming one notification and one action, so it acts as the
person who was paged, on that incident only. Opening it (GET) only shows a confirmation page:
mail scanners and link previews fetch every URL in a message, and must not acknowledge
anything. The button on that page POSTs, and the change goes through the same service as an
acknowledgement in the admin or the API, plus an audit entry that says it came from a link.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from incidents.models import Notification

ACTIONS = ("acknowledge", "resolve")
_SALT = "watchstander.incident-link"


class BadLink(Exception):
    """The token is malformed, tampered with or expired."""


@dataclass(frozen=True)
class ActionLink:
    notification_id: int
    action: str


def action_link_url(notification: Notification, action: str) -> str:
    token = signing.dumps({"n": notification.pk, "a": action}, salt=_SALT, compress=True)
    return settings.SITE_URL + reverse("incident-link", args=[token])


def read_action_link(token: str) -> ActionLink:
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.ACTION_LINK_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise BadLink("This link has expired.") from exc
    except signing.BadSignature as exc:
        raise BadLink("This link is not valid.") from exc
    if not isinstance(data, dict) or data.get("a") not in ACTIONS or type(data.get("n")) is not int:
        raise BadLink("This link is not valid.")
    return ActionLink(notification_id=data["n"], action=data["a"])
