"""Pages outside the admin and the API: the one-click acknowledge/resolve link."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from incidents import services
from incidents.audit.actors import audit_scope, client_address, record_event, user_label
from incidents.links import BadLink, read_action_link
from incidents.models import Incident, Notification
from schedules.access import can, perm_name

TEMPLATE = "incidents/links/action.html"
CHANGES = {"acknowledge": services.incident_acknowledge, "resolve": services.incident_resolve}


class IncidentLinkView(View):
    """GET shows what the link will do; POST does it, as the person who was paged."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self._find(request, token)
        if isinstance(found, HttpResponse):
            return found
        notification, incident, action = found
        return self._page(request, notification, incident, action, done=False)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self._find(request, token)
        if isinstance(found, HttpResponse):
            return found
        notification, incident, action = found
        user = notification.user
        change = (
            services.incident_acknowledge if action == "acknowledge" else services.incident_resolve
        )
        try:
            # The person acted, not whoever holds a session in this browser.
            with audit_scope(actor=user, actor_label=user_label(user)):
                change(incident_id=incident.pk, actor=services.Actor.of_user(user))
                record_event(
                    f"incident.{action}_by_link",
                    incident,
                    message=f"{action.capitalize()} incident #{incident.pk} by one-click link",
                    data={"notification": notification.pk, "action": action},
                    actor=user,
                    remote_addr=client_address(request),
                )
        except services.DomainError as exc:
            return self._refuse(request, str(exc), status=409)
        incident.refresh_from_db()
        return self._page(request, notification, incident, action, done=True)

    def _find(
        self, request: HttpRequest, token: str
    ) -> tuple[Notification, Incident, str] | HttpResponse:
        try:
            link = read_action_link(token)
        except BadLink as exc:
            return self._refuse(request, str(exc), status=400)
        notification = (
            Notification.objects.select_related("incident__service", "user")
            .filter(pk=link.notification_id)
            .first()
        )
        # Only pages carry links; a notice without an incident never had one.
        incident = notification.incident if notification else None
        if notification is None or incident is None:
            return self._refuse(request, "This link is not valid.", status=404)
        user = notification.user
        # Checked at click time: a person who left the team or was deactivated since the
        # page was sent can no longer act through it.
        if not (user.is_active and can(user, perm_name(Incident, "change"), incident)):
            return self._refuse(request, "You may no longer act on this incident.", status=403)
        return notification, incident, link.action

    def _page(
        self,
        request: HttpRequest,
        notification: Notification,
        incident: Incident,
        action: str,
        *,
        done: bool,
    ) -> HttpResponse:
        context: dict[str, Any] = {
            "incident": incident,
            "person": notification.user,
            "action": action,
            "done": done,
        }
        return render(request, TEMPLATE, context)

    def _refuse(self, request: HttpRequest, message: str, *, status: int) -> HttpResponse:
        return render(request, TEMPLATE, {"error": message}, status=status)
