"""Webhook pages: an HTTP POST of the message as JSON to a URL the person chose.

The far end is anything that accepts JSON (a chat bot, an automation, a relay into another
pager). It gets the message's structured fields and an Idempotency-Key header that stays the
same across retries of one delivery, so it can drop the copy a retry may bring.

A page's body (incidents.services.messages builds it; other notices share "type", "summary"
and "person", and carry their own subject instead of the page's links):

    {"type": "page", "summary": "[Watchstander] #42 CRITICAL: Disk full on db-1",
     "person": "rita",
     "incident": {"id": 42, "title": "Disk full on db-1", "severity": "critical",
                  "urgency": "high", "status": "triggered",
                  "service": {"id": 3, "name": "Payments"},
                  "created_at": "2026-03-01T12:00:00+00:00", "url": "<admin page>"},
     "level": 1, "loop": 0,
     "acknowledge_link": "<signed one-click link>", "resolve_link": "<signed one-click link>",
     "acknowledge_api_url": "<POST with an API token>",
     "reassignment": null}

"reassignment" is set on the page of a reassignment: "Reassigned to you by alice: <note>". A
manager's "nobody on call" notice carries the incident, "reason", and "next_level" (the level
escalation moved on to, {"position": 2, "loop": 0}, or null after the policy's last).

Only the standard library is used (urllib): one POST per page needs no client library.

A webhook URL often carries a secret (Slack's /services/T.../B.../<token>, a relay's key in the
query): whoever has the URL can post to it as if they were Watchstander. So it is shown whole
only to its owner and to superusers (display_address gives everyone else scheme://host/… and
a fingerprint), it is never put into an error text, and a URL with a user name or password in
it is refused outright.
"""

import http.client
import io
import json
import re
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.message import Message as Headers
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.utils import timezone

from escalation.channels.base import (
    DeliveryError,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    address_digest,
)

SCHEMES = ("https", "http")
USER_AGENT = "Watchstander-Webhook/1"
# Seconds for the whole exchange: connecting, sending the page, and reading the answer's
# status and headers. Short: a page that hangs here holds a worker, and a timeout is retried
# with backoff anyway.
DEFAULT_TIMEOUT = 10.0
# What http.client refuses to put on a request line (http.client._contains_disallowed_url_pchar_re).
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error. urllib would follow a 301/302/303 with a GET and
    no body, and the 2xx of that GET would pass for a delivered page."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookChannel:
    kind = "webhook"
    label = "Webhook"
    needs_verification = False

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    def validate_address(self, address: str) -> None:
        """An http(s) URL that http.client can send as it is, with no credentials in it."""
        URLValidator(
            schemes=list(SCHEMES), message="Enter a URL that starts with https:// or http://."
        )(address)
        if not address.isascii() or _UNSENDABLE.search(address):
            raise ValidationError(
                "Enter the URL in ASCII, without spaces: percent-encode other characters, and "
                "give an international host name in its xn-- form."
            )
        parts = urlsplit(address)
        if parts.username is not None or parts.password is not None:
            # It would be sent as part of the host (urllib does not turn it into a header),
            # and would be shown wherever the address is.
            raise ValidationError(
                "A webhook URL cannot contain a user name or password: use a URL with a token "
                "in its path or query instead."
            )
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValidationError("Enter a port between 1 and 65535.")

    def display_address(self, address: str) -> str:
        """scheme://host/… and a fingerprint: the path and query are where a secret lives."""
        try:
            parts = urlsplit(address)
        except ValueError:
            return f"webhook #{address_digest(address)}"
        host = parts.netloc.rpartition("@")[2]  # never the user info, whatever the URL holds
        where = f"{parts.scheme}://{host}/…" if host else "webhook"
        return f"{where} #{address_digest(address)}"

    def send(self, message: Message) -> None:
        request = self._request(message)
        opener = _opener(_Deadline(self.timeout))
        try:
            with opener.open(request, timeout=self.timeout):
                return
        except urllib.error.HTTPError as exc:
            exc.close()  # the answer's body is not read (see http_error)
            raise http_error(exc.code, exc.headers) from exc
        except http.client.InvalidURL as exc:
            # Its text quotes the URL. validate_address refuses what http.client would.
            raise PermanentDeliveryError("webhook URL not usable") from exc
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = _scrubbed(_reason(exc), message.address)
            raise TransientDeliveryError(f"webhook not reached: {reason}") from exc

    def _request(self, message: Message) -> urllib.request.Request:
        # Checked again at send time: the row may have been queued (or the method saved)
        # before a check existed, e.g. with a password in the URL.
        try:
            self.validate_address(message.address)
        except ValidationError as exc:
            raise PermanentDeliveryError(
                f"webhook URL not usable: {' '.join(exc.messages)}"
            ) from exc
        payload = dict(message.data) or {"summary": message.subject, "text": message.body}
        return urllib.request.Request(  # noqa: S310 (scheme checked above)
            message.address,
            data=json.dumps(payload, cls=DjangoJSONEncoder).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.idempotency_key,
                "User-Agent": USER_AGENT,
            },
        )


# --- One deadline for the whole exchange ---------------------------------------------------
#
# A socket timeout counts per read: a far end that sends its status line and then one header
# every few seconds never trips it, and would hold the worker for as long as it likes. Every
# read of the answer is therefore given only what is left of one deadline; connecting (and a
# TLS handshake, which CPython bounds as a whole by the socket timeout) gets what is left when
# it starts. Name resolution is the system resolver's and has no timeout of ours: the RQ job
# timeout is the backstop for it.


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; TimeoutError once there are none."""
        left = self._at - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> TimeoutError:
        return TimeoutError(f"no complete answer within {self.seconds:g} s")


class _ReaderWithDeadline(io.RawIOBase):
    """The answer's bytes, each read bounded by what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # counts as a user of the socket
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._deadline.remaining())
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            # The socket timed out because the deadline came: say which limit it was.
            raise self._deadline.expired() from None

    def close(self) -> None:
        self._raw.close()
        super().close()


class _SocketWithDeadline:
    """A connected socket as http.client uses it (sendall, makefile for the answer, close),
    with the deadline applied to sending and to every read."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: Any) -> None:
        self._sock.settimeout(self._deadline.remaining())
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_ReaderWithDeadline(self._sock, self._deadline))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        self.timeout = self.deadline.remaining()
        super().connect()
        self.sock = _SocketWithDeadline(self.sock, self.deadline)  # type: ignore[assignment]


class _DeadlineSecureConnection(_DeadlineConnection, http.client.HTTPSConnection):
    # MRO: _DeadlineConnection.connect wraps the socket HTTPSConnection.connect made and
    # secured, so the deadline applies to what is read through TLS.
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_DeadlineConnection, deadline=self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # No context given: http.client's default one (certificates verified, ALPN http/1.1).
        connection = partial(_DeadlineSecureConnection, deadline=self._deadline)
        return self.do_open(connection, req)


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """An opener for one send: its handlers carry that send's deadline."""
    return urllib.request.build_opener(
        _RefuseRedirects(), _HTTPHandler(deadline), _HTTPSHandler(deadline)
    )


def http_error(status: int, headers: Headers | None) -> DeliveryError:
    """What a non-2xx answer means. 408, 429 and 5xx are worth retrying (after Retry-After,
    when given); any other answer, a redirect included, will not change by retrying it."""
    # The answer's body is not kept: it is the far end's to say, and may be large or private.
    if status in {408, 429} or status >= 500:
        retry_after = retry_after_seconds(headers.get("Retry-After") if headers else None)
        return TransientDeliveryError(f"webhook answered HTTP {status}", retry_after=retry_after)
    return PermanentDeliveryError(f"webhook refused the page: HTTP {status}")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds from now: either delay-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the usual backoff applies
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or timezone.now())).total_seconds())


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


def _scrubbed(text: str, address: str) -> str:
    """`text` without the URL or its path and query (where the secret is): error texts are
    shown on the incident's timeline to the whole team. Ours never quote the URL; this keeps
    the standard library's from doing so either."""
    parts = urlsplit(address)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    for part in (address, secret if len(secret) > 1 else ""):
        if part:
            text = text.replace(part, "…")
    return text
