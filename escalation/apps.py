from typing import Any

from django.apps import AppConfig
from django.contrib.auth import get_user_model


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = "Escalation"

    def ready(self) -> None:
        from escalation.models import EscalationPolicy
        from schedules.access import (
            register_delete_guard,
            register_move_guard,
            register_team_scoped,
        )
        from schedules.models import Schedule

        register_team_scoped(EscalationPolicy, team_of=lambda policy: policy.team)
        # Who a level pages must be the policy's team's: its people, and its schedules.
        register_move_guard(Schedule, _schedule_paged_from_elsewhere)
        register_move_guard(EscalationPolicy, _policy_pages_outsiders)
        # And a schedule a level pages through stays until the level lets it go.
        register_delete_guard(Schedule, _levels_paging_through)


def _schedule_paged_from_elsewhere(schedule: Any, team: Any) -> str | None:
    """A schedule that levels of policies outside the new team page through stays: its new
    team would decide who those policies' incidents page."""
    from escalation.models import EscalationPolicy

    policies = (
        EscalationPolicy.objects.filter(levels__schedules=schedule)
        .exclude(team=team)
        .select_related("team")
        .distinct()
    )
    if names := sorted(f"{policy} ({policy.team})" for policy in policies):
        return (
            f"Escalation policies outside {team} page whoever is on call in it: "
            f"{', '.join(names)}. Take it off their levels first."
        )
    return None


def _levels_paging_through(schedule: Any) -> list[Any]:
    from escalation.models import EscalationLevel

    levels = EscalationLevel.objects.filter(schedules=schedule).select_related("policy")
    return list(levels.order_by("policy__name", "position"))


def _policy_pages_outsiders(policy: Any, team: Any) -> str | None:
    """A policy moves only with whom its levels page: members of the new team and its
    schedules."""
    from schedules.models import Schedule

    members = team.memberships.values("user")
    people = (
        get_user_model()
        .objects.filter(escalation_levels__policy=policy)
        .exclude(pk__in=members)
        .distinct()
    )
    schedules = (
        Schedule.objects.filter(escalation_levels__policy=policy).exclude(team=team).distinct()
    )
    reasons = []
    if names := sorted(str(user) for user in people):
        reasons.append(f"Its levels page {', '.join(names)}, who are not in {team}.")
    if names := sorted(str(schedule) for schedule in schedules):
        reasons.append(f"Its levels page through schedules of other teams: {', '.join(names)}.")
    if reasons:
        return " ".join([*reasons, "Change its levels first."])
    return None
