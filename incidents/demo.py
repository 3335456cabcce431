"""The demo installation `seed_demo` creates: idempotent, and printable as JSON.

Two teams, each with a manager, responders, a two-level policy, a service and integrations,
plus an auditor and a superuser, so every role can be tried at once. Demo passwords and
integration keys are derived from SECRET_KEY: every run prints working credentials without
storing them in clear, and another installation's demo credentials are not guessable.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from escalation.models import EscalationLevel, EscalationPolicy
from incidents.models import Integration, Service, hash_integration_key
from schedules.access import AUDITORS_GROUP, role_group
from schedules.feeds import schedule_feed_url
from schedules.models import Rotation, RotationParticipant, Schedule, Team, TeamMembership
from schedules.oncall import to_utc, zone

DEMO_LEVEL_DELAY = timedelta(minutes=2)
Role = TeamMembership.Role


@dataclass(frozen=True)
class DemoTeam:
    name: str
    description: str
    manager: str
    levels: tuple[str, ...]  # one responder per level, in order
    service: str
    integrations: tuple[tuple[str, str], ...]  # (kind, name)
    time_zone: str  # of the team's schedule: a weekly rotation of its responders


TEAMS = [
    DemoTeam(
        "Platform",
        "Runs the checkout platform (demo team).",
        "maria",
        ("alice", "bob"),
        "Checkout API",
        (
            (Integration.Kind.ALERTMANAGER, "Prometheus Alertmanager"),
            (Integration.Kind.EVENTS_API_V2, "PagerDuty Events API"),
        ),
        "Europe/Berlin",
    ),
    DemoTeam(
        "Security",
        "Owns the edge and the WAF (demo team).",
        "sam",
        ("rita", "omar"),
        "Edge WAF",
        ((Integration.Kind.EVENTS_API_V2, "PagerDuty Events API"),),
        "America/Chicago",
    ),
]


@dataclass
class Demo:
    users: list[dict[str, Any]] = field(default_factory=list)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)


def derived_secret(purpose: str, length: int = 32) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256)
    return digest.hexdigest()[:length]


@transaction.atomic
def seed_demo() -> Demo:
    demo = Demo()
    _user(demo, "admin", "superuser", superuser=True)
    auditor = _user(demo, "audrey", "auditor (read-only, exports)")
    auditor.groups.add(role_group(AUDITORS_GROUP))
    for spec in TEAMS:
        _team(demo, spec)
    return demo


def _team(demo: Demo, spec: DemoTeam) -> None:
    team, _ = Team.objects.get_or_create(name=spec.name, defaults={"description": spec.description})
    manager = _user(demo, spec.manager, f"manager of {spec.name}", team=spec.name)
    TeamMembership.objects.get_or_create(team=team, user=manager, defaults={"role": Role.MANAGER})
    responders = []
    for level, username in enumerate(spec.levels, start=1):
        user = _user(demo, username, f"responder in {spec.name} (level {level})", team=spec.name)
        TeamMembership.objects.get_or_create(team=team, user=user)
        responders.append(user)
    policy = _policy(team, responders)
    service, _ = Service.objects.get_or_create(
        team=team, name=spec.service, defaults={"escalation_policy": policy}
    )
    demo.services.append(
        {"id": service.pk, "name": service.name, "team": team.name, "policy": policy.name}
    )
    for kind, name in spec.integrations:
        demo.integrations.append(_integration(service, kind, name))
    demo.schedules.append(_schedule(team, spec.time_zone, responders))


def _user(
    demo: Demo, username: str, role: str, *, superuser: bool = False, team: str | None = None
) -> Any:
    user, _ = get_user_model().objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.com", "first_name": username.title()},
    )
    password = derived_secret(f"demo-password:{username}", 16)
    user.set_password(password)
    user.is_staff = True
    user.is_superuser = superuser
    user.save()
    token, _ = Token.objects.get_or_create(user=user)
    demo.users.append(
        {
            "username": username,
            "password": password,
            "role": role,
            "team": team,
            "email": user.email,
            "api_token": token.key,
        }
    )
    return user


def _policy(team: Team, responders: list[Any]) -> EscalationPolicy:
    policy, created = EscalationPolicy.objects.get_or_create(
        team=team, name=f"{team.name} on-call", defaults={"repeat": 1}
    )
    if created:
        for position, user in enumerate(responders, start=1):
            level = EscalationLevel.objects.create(
                policy=policy, position=position, delay=DEMO_LEVEL_DELAY
            )
            level.users.add(user)
    return policy


def _schedule(team: Team, time_zone: str, responders: list[Any]) -> dict[str, Any]:
    """A weekly rotation of the team's responders handing off on Mondays at 09:00 local time,
    from this week's Monday. Not targeted by the demo policy, whose levels page people
    directly, so the printed curl always pages the first responder."""
    schedule, created = Schedule.objects.get_or_create(
        team=team, name=f"{team.name} primary", defaults={"time_zone": time_zone}
    )
    if created:
        tz = zone(time_zone)
        today = timezone.now().astimezone(tz).date()
        monday = datetime.combine(today - timedelta(days=today.weekday()), time(9))
        rotation = Rotation.objects.create(
            schedule=schedule, name="Weekly", start=to_utc(monday, tz), turn_unit="weeks"
        )
        for position, user in enumerate(responders):
            RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "team": team.name,
        "time_zone": schedule.time_zone,
        "ical_url": schedule_feed_url(schedule),
    }


def _integration(service: Service, kind: str, name: str) -> dict[str, Any]:
    key = derived_secret(f"demo-integration:{service.pk}:{kind}")
    integration, _ = Integration.objects.get_or_create(
        service=service,
        kind=kind,
        name=name,
        defaults={"key_hash": hash_integration_key(key), "key_prefix": key[:6]},
    )
    if integration.key_hash != hash_integration_key(key):
        integration.key_hash, integration.key_prefix = hash_integration_key(key), key[:6]
        integration.save()
    url = (
        f"{settings.SITE_URL}/v2/enqueue"
        if kind == Integration.Kind.EVENTS_API_V2
        else settings.SITE_URL + integration.webhook_path(key)
    )
    return {
        "kind": kind,
        "name": name,
        "service": service.name,
        "team": service.team.name,
        "url": url,
        "key": key,
    }
