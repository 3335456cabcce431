"""The demo installation `seed_demo` creates: idempotent, and printable as JSON.

Demo passwords and integration keys are derived from SECRET_KEY, so every run prints working
credentials without storing them in clear, and another installation's demo is not guessable.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

from escalation.models import EscalationLevel, EscalationPolicy
from incidents.models import Integration, Service, hash_integration_key
from schedules.models import Team, TeamMembership

DEMO_LEVEL_DELAY = timedelta(minutes=2)
RESPONDER_PERMISSIONS = [
    "view_incident",
    "change_incident",
    "view_alert",
    "view_incidentevent",
    "view_notification",
    "view_service",
    "view_integration",
]


@dataclass
class DemoUser:
    username: str
    role: str
    email: str
    first_name: str


DEMO_USERS = [
    DemoUser("admin", "superuser", "admin@example.com", "Ada"),
    DemoUser("alice", "responder (level 1)", "alice@example.com", "Alice"),
    DemoUser("bob", "responder (level 2)", "bob@example.com", "Bob"),
]


@dataclass
class Demo:
    users: list[dict[str, Any]] = field(default_factory=list)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)


def derived_secret(purpose: str, length: int = 32) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256)
    return digest.hexdigest()[:length]


@transaction.atomic
def seed_demo() -> Demo:
    demo = Demo()
    users = {spec.username: _user(spec, demo) for spec in DEMO_USERS}
    team, _ = Team.objects.get_or_create(
        name="Platform", defaults={"description": "Runs the checkout platform (demo team)."}
    )
    for name in ("alice", "bob"):
        TeamMembership.objects.get_or_create(team=team, user=users[name])
    policy = _policy(team, [users["alice"], users["bob"]])
    service, _ = Service.objects.get_or_create(
        team=team, name="Checkout API", defaults={"escalation_policy": policy}
    )
    demo.services.append(
        {"id": service.pk, "name": service.name, "team": team.name, "policy": policy.name}
    )
    for kind, name in [
        (Integration.Kind.ALERTMANAGER, "Prometheus Alertmanager"),
        (Integration.Kind.EVENTS_API_V2, "PagerDuty Events API"),
    ]:
        demo.integrations.append(_integration(service, kind, name))
    return demo


def _user(spec: DemoUser, demo: Demo) -> Any:
    user, _ = get_user_model().objects.get_or_create(
        username=spec.username, defaults={"email": spec.email, "first_name": spec.first_name}
    )
    password = derived_secret(f"demo-password:{spec.username}", 16)
    user.set_password(password)
    user.is_staff = True
    user.is_superuser = spec.role == "superuser"
    user.save()
    if not user.is_superuser:
        user.groups.add(_responders_group())
    token, _ = Token.objects.get_or_create(user=user)
    demo.users.append(
        {
            "username": user.username,
            "password": password,
            "role": spec.role,
            "email": user.email,
            "api_token": token.key,
        }
    )
    return user


def _responders_group() -> Group:
    group, _ = Group.objects.get_or_create(name="Responders")
    group.permissions.set(Permission.objects.filter(codename__in=RESPONDER_PERMISSIONS))
    return group


def _policy(team: Team, levels: list[Any]) -> EscalationPolicy:
    policy, created = EscalationPolicy.objects.get_or_create(
        team=team, name="Platform on-call", defaults={"repeat": 1}
    )
    if created:
        for position, user in enumerate(levels, start=1):
            level = EscalationLevel.objects.create(
                policy=policy, position=position, delay=DEMO_LEVEL_DELAY
            )
            level.users.add(user)
    return policy


def _integration(service: Service, kind: str, name: str) -> dict[str, Any]:
    key = derived_secret(f"demo-integration:{service.pk}:{kind}")
    integration, _ = Integration.objects.get_or_create(
        service=service,
        kind=kind,
        name=name,
        defaults={"key_hash": hash_integration_key(key), "key_prefix": key[:6]},
    )
    integration.key_hash, integration.key_prefix = hash_integration_key(key), key[:6]
    integration.save()
    url = (
        f"{settings.SITE_URL}/v2/enqueue"
        if kind == Integration.Kind.EVENTS_API_V2
        else settings.SITE_URL + integration.webhook_path(key)
    )
    return {"kind": kind, "name": name, "service": service.name, "url": url, "key": key}
