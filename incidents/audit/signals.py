"""Audit receivers, connected once from IncidentsConfig.ready().

- Every entry gets an `actor_label`: the username when a person acted (auditlog only stores
  the user and their e-mail), otherwise the label of the scope (system, integration).
- Logins, logouts and failed logins become audit entries (action ACCESS), with the client
  address resolved the same way as for every other entry.
"""

from typing import Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_save
from django.http import HttpRequest

from incidents.audit.actors import client_address, live_scope, record_event, user_label
from incidents.audit.models import AuditEntry

ANONYMOUS_LABEL = "anonymous"
_MAX_USERNAME = 150


def connect() -> None:
    # Connected at start-up, so this receiver runs before any scope's receiver (those are
    # connected per request or job): it sees the entry before the scope stamps it.
    pre_save.connect(stamp_actor_label, sender=AuditEntry, dispatch_uid="audit-actor-label")
    user_logged_in.connect(record_login, dispatch_uid="audit-login")
    user_logged_out.connect(record_logout, dispatch_uid="audit-logout")
    user_login_failed.connect(record_login_failed, dispatch_uid="audit-login-failed")


def stamp_actor_label(sender: Any, instance: AuditEntry, **kwargs: Any) -> None:
    """Label an entry with the acting user's username.

    The user may be on the entry already or only in the scope (auditlog's own receiver puts
    it on the entry after this one runs). A scope that carries its own label (a job, an
    integration) is left to stamp it."""
    if not instance._state.adding:
        return
    scope = live_scope()
    if scope is not None and scope.get("actor_label"):
        return
    user = instance.actor if instance.actor_id else _scope_user(scope)
    if user is not None:
        instance.actor_label = user_label(user)


def _scope_user(scope: dict[str, Any] | None) -> Any:
    user = scope.get("actor") if scope else None
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user
    return None


def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    username = user_label(user)
    record_event(
        "login",
        user,
        message=f"Login: {username}",
        data={"username": username},
        actor=user,
        remote_addr=client_address(request),
    )


def record_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None or not user.is_authenticated:
        return  # logging out without a session changes nothing
    username = user_label(user)
    record_event(
        "logout",
        user,
        message=f"Logout: {username}",
        data={"username": username},
        actor=user,
        remote_addr=client_address(request),
    )


def record_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Record the username that was tried and from where; never the password (Django has
    already masked it in `credentials`, and only the username is read here anyway)."""
    user_model = get_user_model()
    attempted = str(credentials.get(user_model.USERNAME_FIELD) or "")[:_MAX_USERNAME]
    account = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: attempted}).first()
    record_event(
        "login_failed",
        account,
        message=f"Failed login for {attempted!r}",
        data={"username": attempted, "account_exists": account is not None},
        actor_label=ANONYMOUS_LABEL,
        remote_addr=client_address(request),
    )
