"""Who and where, for every audit entry.

django-auditlog keeps the current actor in a context variable (`auditlog_value`) and stamps
each entry from it in a `pre_save` receiver it connects per scope; any key of that dict that
names an entry attribute (e.g. `actor_label`) is copied onto the entry. Two auditlog habits
shape this module:

- `set_actor()` does not restore the outer value when it exits, so a scope opened inside
  another one leaves the outer receiver connected forever (a leak per request) and drops the
  request's address. Inside a live scope we therefore *mutate* its dict and restore the keys
  we touched; only with no live scope do we open one, and we close it properly.
- Its middleware trusts `X-Forwarded-For` from anyone. `AuditMiddleware` replaces it and
  believes forwarded headers only from AUDIT_TRUSTED_PROXIES.
"""

import contextlib
import ipaddress
import uuid
from collections.abc import Callable, Iterator
from functools import partial, wraps
from typing import Any

from auditlog.context import _set_extra_data, auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db.models import Model
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse

from incidents.audit.models import AuditEntry

SYSTEM_LABEL = "system"
_MAX_REPR = 255


# --- Where: the client address --------------------------------------------------------------


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address. `X-Forwarded-For` is believed only when the connection comes
    from a trusted proxy; then the right-most address that is not itself a trusted proxy is
    the client (the left-most entries are whatever the client chose to send)."""
    if request is None:
        return None
    peer = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None or not _is_trusted_proxy(peer):
        return peer
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in forwarded if hop]):
        address = _valid_ip(_strip_port(hop))
        if address is None:
            return peer  # a garbled chain: fall back to what we know for sure
        if not _is_trusted_proxy(address):
            return address
    return peer


def client_port(request: HttpRequest | None) -> int | None:
    if request is None:
        return None
    peer = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    raw = (
        request.META.get("HTTP_X_FORWARDED_PORT", "")
        if peer is not None and _is_trusted_proxy(peer)
        else request.META.get("REMOTE_PORT", "")
    )
    return int(raw) if str(raw).isdigit() and 0 < int(raw) < 65536 else None


def _is_trusted_proxy(address: str) -> bool:
    return address in _trusted_proxies()


def _trusted_proxies() -> set[str]:
    # Normalised, so "::1" in the setting matches however the server spells it.
    return {ip for ip in map(_valid_ip, settings.AUDIT_TRUSTED_PROXIES) if ip is not None}


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _strip_port(hop: str) -> str:
    if hop.startswith("["):  # [2001:db8::1]:443
        return hop[1:].split("]")[0]
    if hop.count(":") == 1:  # 203.0.113.7:443
        return hop.split(":")[0]
    return hop


class AuditMiddleware(AuditlogMiddleware):
    """auditlog's middleware with a trustworthy address, and no scope left behind.

    Replaces `auditlog.middleware.AuditlogMiddleware` in MIDDLEWARE (same place: after
    AuthenticationMiddleware)."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        if getattr(settings, "AUDITLOG_DISABLE_REMOTE_ADDR", False):
            return None
        return client_address(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        return client_port(request)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # auditlog leaves its scope's dict in the context variable after the request; restore
        # the previous value so nothing later on this thread mistakes it for a live scope.
        token = auditlog_value.set({})
        try:
            response: HttpResponse = super().__call__(request)
            return response
        finally:
            auditlog_value.reset(token)


# --- Who: actor scopes ----------------------------------------------------------------------


def live_scope() -> dict[str, Any] | None:
    """The dict of the audit scope that is open in this context, if any.

    A dict without its receiver connected is a leftover of a closed auditlog scope: writing to
    it would stamp nothing."""
    try:
        values = auditlog_value.get()
    except LookupError:
        return None
    duid = values.get("signal_duid") if isinstance(values, dict) else None
    if duid is None:
        return None
    with pre_save.lock:
        live = any(lookup_key[0] == duid for lookup_key, *_ in pre_save.receivers)
    return values if live else None


@contextlib.contextmanager
def audit_scope(**values: Any) -> Iterator[dict[str, Any]]:
    """Stamp `values` (entry attributes: actor, actor_label, remote_addr, ...) on every audit
    entry written inside the block.

    Inside a live scope (a request) the keys are set on it and restored on exit; otherwise a
    new scope is opened and closed."""
    scope = live_scope()
    if scope is None:
        with _open_scope(values) as opened:
            yield opened
        return
    missing = object()
    saved = {key: scope.get(key, missing) for key in values}
    scope.update(values)
    try:
        yield scope
    finally:
        for key, value in saved.items():
            if value is missing:
                scope.pop(key, None)
            else:
                scope[key] = value


@contextlib.contextmanager
def _open_scope(values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # A unique dispatch uid (auditlog uses the wall clock, which two threads can share).
    duid = ("watchstander-audit", uuid.uuid4().hex)
    scope = {**values, "signal_duid": duid}
    token = auditlog_value.set(scope)
    receiver: Callable[..., None] = partial(_set_extra_data, signal_duid=duid)
    pre_save.connect(receiver, sender=AuditEntry, dispatch_uid=duid, weak=False)
    try:
        yield scope
    finally:
        pre_save.disconnect(sender=AuditEntry, dispatch_uid=duid)
        auditlog_value.reset(token)


def system_label(reason: str | None = None) -> str:
    return f"{SYSTEM_LABEL}: {reason}" if reason else SYSTEM_LABEL


def audit_actor_system(reason: str | None = None) -> contextlib.AbstractContextManager[Any]:
    """Attribute entries to the system: "system" for RQ jobs, "system: <command>" for
    management commands."""
    return audit_scope(actor_label=system_label(reason))


# The scope key for a label that applies only to entries nobody else claims: entries of a
# command run carry the command's name unless a person acted (an export made `--user`) or the
# entry names its actor itself. Not an entry attribute, so auditlog's receiver never copies it.
FALLBACK_LABEL_KEY = "fallback_actor_label"
_COMMANDS_ATTRIBUTED = "_watchstander_audited"


def command_name(command: BaseCommand) -> str:
    """The name a command is run by: Django finds commands by module name."""
    return type(command).__module__.rsplit(".", 1)[-1]


def attribute_commands_to_system() -> None:
    """Attribute what every management command changes to "system: <command name>", whether
    it runs from manage.py or through call_command (installed once, from
    IncidentsConfig.ready()).

    Django has no signal for a command's start, and the commands are Django's, third
    parties' and ours, so BaseCommand.execute itself is wrapped: it is the one path all of
    them take. Commands that name an actor of their own (seal, prune) still do."""
    if getattr(BaseCommand.execute, _COMMANDS_ATTRIBUTED, False):
        return
    execute = BaseCommand.execute

    @wraps(execute)
    def audited_execute(self: BaseCommand, *args: Any, **options: Any) -> Any:
        with audit_scope(**{FALLBACK_LABEL_KEY: system_label(command_name(self))}):
            return execute(self, *args, **options)

    setattr(audited_execute, _COMMANDS_ATTRIBUTED, True)
    BaseCommand.execute = audited_execute  # type: ignore[method-assign]


def audit_actor_label(label: str) -> contextlib.AbstractContextManager[Any]:
    """Attribute entries to a non-user actor by name, such as an integration."""
    return audit_scope(actor_label=label[:_MAX_REPR])


def user_label(user: Any) -> str:
    """How a person appears in the audit log: their username."""
    return str(user.get_username()) if user is not None else ""


# --- Events that are not model changes ------------------------------------------------------


def record_event(
    event: str,
    obj: Model | None = None,
    *,
    message: str,
    data: dict[str, Any] | None = None,
    actor: Any = None,
    actor_label: str = "",
    remote_addr: str | None = None,
) -> AuditEntry:
    """Write an audit entry for something that is not a plain model edit (a login, an
    export, a permission grant, a pruning): action ACCESS, `additional_data["event"]`, and
    `message` as the entry's readable description.

    Always written, even under auditlog's `disable_auditlog()`: these are security events.
    Inside a scope (a request, a job) the scope's actor and address apply as for any entry."""
    from auditlog.cid import get_cid

    content_type = ContentType.objects.get_for_model(obj if obj is not None else AuditEntry)
    pk = obj.pk if obj is not None else None
    return AuditEntry.objects.create(
        content_type=content_type,
        object_pk="" if pk is None else str(pk),
        object_id=pk if isinstance(pk, int) else None,
        object_repr=message,
        action=AuditEntry.Action.ACCESS,
        additional_data={**(data or {}), "event": event},
        actor=actor if actor is not None and actor.pk is not None else None,
        actor_label=actor_label or (user_label(actor) if actor is not None else ""),
        remote_addr=remote_addr,
        cid=get_cid(),
    )
