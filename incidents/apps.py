from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from escalation.models import EscalationPolicy
        from incidents.audit import actors, signals
        from incidents.models import Incident, Integration, Service
        from schedules.access import register_move_guard, register_team_scoped

        register_team_scoped(
            Service,
            team_of=lambda service: service.team,
            # A service handed to another team takes its intake and its incidents along.
            dependants=lambda service: [service.integrations.all(), service.incidents.all()],
        )
        register_team_scoped(
            Integration, team_of=lambda integration: integration.service.team, via="service"
        )
        register_team_scoped(
            Incident,
            team_of=lambda incident: incident.service.team,
            via="service",
            responder=("view", "change"),
            manager=("view", "change"),
        )
        register_move_guard(EscalationPolicy, _policy_used_elsewhere)
        register_move_guard(Service, _service_has_open_incidents)
        _register_api_tokens()
        # Audit receivers: actor labels on entries, logins/logouts/failed logins and
        # permission grants as entries, API token keys kept out of the log.
        signals.connect()
        # Whatever a management command changes is the system's doing, named after it.
        actors.attribute_commands_to_system()
        # incidents is the last of our apps: by its post_migrate every permission exists.
        post_migrate.connect(_ensure_role_groups, sender=self, dispatch_uid="role-groups")


def _policy_used_elsewhere(policy: Any, team: Any) -> str | None:
    """A policy that services outside the new team escalate through stays: its new team
    would decide who their incidents page, and their own team could no longer see it."""
    services = policy.services.exclude(team=team).select_related("team")
    if names := sorted(f"{service} ({service.team})" for service in services):
        return (
            f"Services outside {team} escalate through it: {', '.join(names)}. "
            "Give them another escalation policy first."
        )
    return None


def _service_has_open_incidents(service: Any, team: Any) -> str | None:
    """Open incidents keep paging the people their escalation started with (the policy is
    frozen in each incident, and an assignee stays theirs): a service moves once they are
    resolved, so that nothing of it pages its old team after the move."""
    from incidents.models import Incident

    count = service.incidents.filter(status__in=Incident.OPEN_STATUSES).count()
    if count:
        incidents = "an open incident" if count == 1 else f"{count} open incidents"
        return (
            f"{service} has {incidents}, which keep paging its current team: "
            "resolve them before moving it."
        )
    return None


def _register_api_tokens() -> None:
    """API tokens are credentials: their creation and deletion are audited, never their key
    (which is also their primary key: incidents.audit.signals.redact_token_key replaces it in
    the entry). The admin edits them through DRF's proxy, which sends its own signals."""
    from auditlog.registry import auditlog
    from rest_framework.authtoken.models import Token, TokenProxy

    for model in (Token, TokenProxy):
        auditlog.register(model, exclude_fields=["key"])


def _ensure_role_groups(**kwargs: Any) -> None:
    from escalation.models import EscalationPolicy
    from incidents.audit.actors import audit_actor_system
    from incidents.models import Integration, Service
    from schedules.access import ensure_role_groups, forget_cached_permissions
    from schedules.models import Schedule

    forget_cached_permissions()
    readable = [
        model
        for label in ("schedules", "escalation", "incidents")
        for model in apps.get_app_config(label).get_models()
    ] + [apps.get_model("auth", "User"), apps.get_model("auth", "Group")]
    # post_migrate also follows `flush` and test database set-up, not only `manage.py migrate`.
    with audit_actor_system("role groups (post_migrate)"):
        ensure_role_groups(
            view_models=readable,
            manager_add_models=[Service, Integration, EscalationPolicy, Schedule],
            extra_auditor_perms=["incidents.export_auditentry"],
        )
