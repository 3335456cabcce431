from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Teams and schedules"

    def ready(self) -> None:
        from schedules import access
        from schedules.models import Schedule, Team

        access.register_team_scoped(Team, team_of=lambda team: team, manager=("view", "change"))
        # Rotations and overrides have no permissions of their own: they are the schedule's.
        access.register_team_scoped(Schedule, team_of=lambda schedule: schedule.team)
