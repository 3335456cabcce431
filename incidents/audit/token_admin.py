"""DRF's token admin, without writing keys into Django's own admin log.

An API token's text is its key (it is also its primary key), and the admin names every object it
adds, changes or deletes in `django_admin_log` by its text: as DRF registers it, that table kept
every key a superuser ever issued from the admin. The audit trail names tokens by their person
(incidents.audit.signals), and so does the admin log here.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy


class _NamedByPerson:
    """A token as the admin log names it; everything else the log reads is the token's own."""

    def __init__(self, token: Any) -> None:
        self._token = token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._token, name)

    def __str__(self) -> str:
        return f"API token of {self._token.user}"


class KeylessLogTokenAdmin(TokenAdmin):
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return super().log_addition(request, _NamedByPerson(obj), message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return super().log_change(request, _NamedByPerson(obj), message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # LogEntry.objects.log_actions reads any iterable of objects, as a queryset's.
        named = [_NamedByPerson(token) for token in queryset]
        return super().log_deletions(request, named)  # type: ignore[arg-type]


def register(site: admin.AdminSite) -> None:
    if site.is_registered(TokenProxy):
        site.unregister(TokenProxy)
    site.register(TokenProxy, KeylessLogTokenAdmin)
