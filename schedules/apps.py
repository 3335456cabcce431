from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Teams and schedules"

    def ready(self) -> None:
        from schedules import access
        from schedules.models import Team

        access.register_team_scoped(Team, team_of=lambda team: team, manager=("view", "change"))
