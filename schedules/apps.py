from typing import Any

from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Teams and schedules"

    def ready(self) -> None:
        from schedules import access
        from schedules.models import Schedule, Team

        access.register_team_scoped(Team, team_of=lambda team: team, manager=("view", "change"))
        # Rotations and overrides have no permissions of their own: they are the schedule's.
        access.register_team_scoped(Schedule, team_of=lambda schedule: schedule.team)
        access.register_move_guard(Schedule, _people_outside)


def _people_outside(schedule: Any, team: Any) -> str | None:
    """A schedule moves only with its people: anyone its layers or upcoming overrides name
    who is not an active member of the new team would be on call for a team they are not in."""
    from schedules.models import Override, RotationParticipant

    participants = RotationParticipant.objects.filter(rotation__schedule=schedule)
    overrides = Override.objects.filter(schedule=schedule, end__gt=timezone.now())
    members = team.memberships.filter(user__is_active=True).values("user")
    outsiders = (
        get_user_model()
        .objects.filter(Q(pk__in=participants.values("user")) | Q(pk__in=overrides.values("user")))
        .exclude(pk__in=members)
    )
    if names := sorted(str(user) for user in outsiders):
        return (
            f"{', '.join(names)} would be on call for {team} without being in it: "
            "take them off this schedule first."
        )
    return None
