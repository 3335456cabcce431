from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from incidents.audit import signals
        from incidents.models import Incident, Integration, Service
        from schedules.access import register_team_scoped

        register_team_scoped(Service, team_of=lambda service: service.team)
        register_team_scoped(Integration, team_of=lambda integration: integration.service.team)
        register_team_scoped(
            Incident,
            team_of=lambda incident: incident.service.team,
            responder=("view", "change"),
            manager=("view", "change"),
        )
        # Audit receivers: actor labels on entries, logins/logouts/failed logins as entries.
        signals.connect()
        # incidents is the last of our apps: by its post_migrate every permission exists.
        post_migrate.connect(_ensure_role_groups, sender=self, dispatch_uid="role-groups")


def _ensure_role_groups(**kwargs: Any) -> None:
    from escalation.models import EscalationPolicy
    from incidents.models import Integration, Service
    from schedules.access import ensure_role_groups, forget_cached_permissions
    from schedules.models import Schedule

    forget_cached_permissions()
    readable = [
        model
        for label in ("schedules", "escalation", "incidents")
        for model in apps.get_app_config(label).get_models()
    ] + [apps.get_model("auth", "User"), apps.get_model("auth", "Group")]
    ensure_role_groups(
        view_models=readable,
        manager_add_models=[Service, Integration, EscalationPolicy, Schedule],
        extra_auditor_perms=["incidents.export_auditentry"],
    )
