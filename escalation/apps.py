from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = "Escalation"

    def ready(self) -> None:
        from escalation.models import EscalationPolicy
        from schedules.access import register_team_scoped

        register_team_scoped(EscalationPolicy, team_of=lambda policy: policy.team)
