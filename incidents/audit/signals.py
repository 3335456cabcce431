"""Audit receivers, connected once from IncidentsConfig.ready().

- Every entry gets an `actor_label`: the username when a person acted (auditlog only stores
  the user and their e-mail), otherwise the label of the scope (system, integration), and
  failing both the fallback of a management command's scope ("system: <command>").
- Logins, logouts and failed logins become audit entries (action ACCESS), with the client
  address resolved the same way as for every other entry.
- Team permissions granted or revoked in bulk (schedules.access) become one entry per change.
- Entries about API tokens never carry the key, which is also the token's primary key.
"""

import hashlib
from typing import Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import pre_save
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from incidents.audit.actors import (
    FALLBACK_LABEL_KEY,
    client_address,
    live_scope,
    record_event,
    user_label,
)
from incidents.audit.models import AuditEntry
from schedules.access import GRANT, PermissionChange, team_permissions_changed

ANONYMOUS_LABEL = "anonymous"
PERMISSIONS_GRANTED = "permissions_granted"
PERMISSIONS_REVOKED = "permissions_revoked"
_MAX_USERNAME = 150


def connect() -> None:
    # Connected at start-up, so this receiver runs before any scope's receiver (those are
    # connected per request or job): it sees the entry before the scope stamps it.
    pre_save.connect(stamp_actor_label, sender=AuditEntry, dispatch_uid="audit-actor-label")
    pre_save.connect(redact_token_key, sender=AuditEntry, dispatch_uid="audit-token-key")
    user_logged_in.connect(record_login, dispatch_uid="audit-login")
    user_logged_out.connect(record_logout, dispatch_uid="audit-logout")
    user_login_failed.connect(record_login_failed, dispatch_uid="audit-login-failed")
    team_permissions_changed.connect(record_permission_change, dispatch_uid="audit-team-perms")


def stamp_actor_label(sender: Any, instance: AuditEntry, **kwargs: Any) -> None:
    """Label an entry with the acting user's username.

    The user may be on the entry already or only in the scope (auditlog's own receiver puts
    it on the entry after this one runs). A scope that carries its own label (a job, an
    integration) is left to stamp it; a scope's fallback label (a management command) applies
    only to entries that name no actor at all."""
    if not instance._state.adding:
        return
    scope = live_scope()
    if scope is not None and scope.get("actor_label"):
        return
    user = instance.actor if instance.actor_id else _scope_user(scope)
    if user is not None:
        instance.actor_label = user_label(user)
    elif not instance.actor_label and scope is not None:
        instance.actor_label = scope.get(FALLBACK_LABEL_KEY, "")


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


# --- Team permissions -----------------------------------------------------------------------


def record_permission_change(sender: Any, change: PermissionChange, **kwargs: Any) -> None:
    """One entry per bulk grant or revocation, on the object whose creation or move caused
    it, naming the groups and their permissions (and, for dependants, which objects)."""
    granted = change.operation == GRANT
    event = PERMISSIONS_GRANTED if granted else PERMISSIONS_REVOKED
    holders = "; ".join(
        f"{group}: {', '.join(codenames)}" for group, codenames in change.permissions.items()
    )
    record_event(
        event,
        change.subject,
        message=(
            f"Permissions {'granted' if granted else 'revoked'} on {_target(change)} ({holders})"
        ),
        data={
            "team_id": change.team_id,
            "model": change.model._meta.label_lower,
            "object_ids": [pk if isinstance(pk, int) else str(pk) for pk in change.object_ids],
            "permissions": {
                group: list(codenames) for group, codenames in change.permissions.items()
            },
        },
    )


def _target(change: PermissionChange) -> str:
    subject = change.subject
    subject_name = f"{subject._meta.verbose_name} {subject}"
    if change.model is type(subject) and change.object_ids == (subject.pk,):
        return subject_name
    count = len(change.object_ids)
    meta = change.model._meta
    return (
        f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural} of {subject_name}"
    )


# --- API tokens -----------------------------------------------------------------------------


def token_reference(key: str) -> str:
    """How the audit log names an API token: a digest of its key, so whoever holds a token
    can find its history and nobody can read the token back out of the log."""
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def redact_token_key(sender: Any, instance: AuditEntry, **kwargs: Any) -> None:
    """auditlog names an entry's object by its primary key and its str(), and a DRF token's
    are both its key: replace them with the key's digest and the owner's name. (The key field
    itself is excluded from the changes when Token is registered.)"""
    if not instance._state.adding or instance.content_type_id != _token_content_type_id():
        return
    key = instance.object_pk
    owner = _token_owner(key, instance.changes)
    instance.object_pk = token_reference(key)
    instance.object_id = None
    instance.object_repr = f"API token of {owner}" if owner else "API token"


def _token_content_type_id() -> int:
    return ContentType.objects.get_for_model(Token).pk  # cached after the first call


def _token_owner(key: str, changes: Any) -> str:
    """The token owner's username: from the entry's own changes (a creation or a deletion
    records the user) or, for an update, from the token itself."""
    user_id = None
    if isinstance(changes, dict) and isinstance(changes.get("user"), list | tuple):
        user_id = next((value for value in changes["user"] if value not in (None, "None")), None)
    if user_id is None:
        user_id = Token.objects.filter(key=key).values_list("user_id", flat=True).first()
    if user_id is None:
        return ""
    user_model = get_user_model()
    name = user_model._default_manager.filter(pk=user_id).values_list(
        user_model.USERNAME_FIELD, flat=True
    )
    return str(name.first() or f"user {user_id}")
