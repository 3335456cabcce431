"""django-rq's dashboard and queues in the admin, for operators (superusers) only."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django_rq.admin import QueueAdmin


class OperatorsQueueAdmin(QueueAdmin):
    """django-rq's dashboard checks only is_staff, so every team member would see (and could
    delete, requeue or empty) every team's jobs. It is an operator's tool: superusers only.

    Anonymous requests pass through untouched: the admin pages send them to the login page
    and the JSON stats view checks its own API token."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _operator(request)

    def get_urls(self) -> list[URLPattern]:
        return [
            URLPattern(url.pattern, _operators_only(url.callback), url.default_args, url.name)
            for url in super().get_urls()
        ]


def _operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _operators_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not _operator(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded
