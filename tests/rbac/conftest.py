"""The world of the permission matrix: teams A and B with one of every kind of object, a team C,
and the personas (superuser, manager of A, responder of A, auditor, outsider).

Everything that belongs to team B carries the word "Bravo" in its name, title or summary, and
nothing else does, so a page or a response that mentions "bravo" has leaked team B's data.

The world is built once per test module inside a transaction that is rolled back at the end;
each test runs in a savepoint inside it (the `db` fixture), so what one test changes is gone
before the next.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from escalation.models import ContactMethod, EscalationLevel, EscalationPolicy, NotificationRule
from incidents.intake.events import AlertEvent
from incidents.models import (
    Alert,
    AuditEntry,
    AuditExport,
    Incident,
    IncidentEvent,
    Integration,
    Notification,
    Service,
)
from incidents.services import alert_ingest
from schedules.access import AUDITORS_GROUP, role_group
from schedules.models import (
    Override,
    PersonSettings,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from tests.factories import add_level, make_integration

User = get_user_model()
Role = TeamMembership.Role

MARKER = "bravo"  # in every name of team B's objects, and nowhere else
PERSONAS = ["superuser", "manager_a", "responder_a", "auditor", "outsider"]
# Everyone the matrix checks against team B: the superuser is the positive control.
NON_SUPERUSERS = ["manager_a", "responder_a", "auditor", "outsider"]
TEAM_MEMBERS_ELSEWHERE = ["manager_a", "responder_a", "outsider"]


def make_user(username: str, **extra: Any) -> Any:
    """A staff user with no usable password (tests log in with force_login or a token)."""
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", is_staff=True, **extra
    )


def join(team: Team, user: Any, role: str = Role.RESPONDER) -> TeamMembership:
    return TeamMembership.objects.create(team=team, user=user, role=role)


def open_incident(integration: Integration, label: str, dedup_key: str) -> Incident:
    """An incident the way the intake opens one: alert, timeline, notifications (the outbox)."""
    [result] = alert_ingest(
        integration=integration,
        events=[
            AlertEvent(
                action="trigger",
                dedup_key=dedup_key,
                summary=f"{label} disk full on db-9",
                severity="critical",
                source="db-9",
            )
        ],
    )
    return Incident.objects.get(pk=result.incident_id)


@dataclass
class TeamWorld:
    """One team and one of every kind of team-scoped object, plus spare objects that nothing
    references (so that deleting them would succeed: a refused delete is then meaningful)."""

    label: str
    team: Team
    manager: Any
    responder: Any
    policy: EscalationPolicy
    service: Service
    integration: Integration
    integration_key: str
    incident: Incident
    schedule: Schedule
    spares: dict[type[models.Model], models.Model] = field(default_factory=dict)

    @property
    def alert(self) -> Alert:
        return self.incident.alerts.get()

    @property
    def notification(self) -> Notification:
        return self.incident.notifications.order_by("pk").first()  # type: ignore[return-value]

    @property
    def names(self) -> list[str]:
        return [
            self.team.name,
            self.policy.name,
            self.service.name,
            self.integration.name,
            self.incident.title,
            self.schedule.name,
        ]

    def objects(self) -> dict[type[models.Model], models.Model]:
        """One object of every kind that belongs to the team."""
        return {
            Team: self.team,
            TeamMembership: self.team.memberships.get(user=self.responder),
            EscalationPolicy: self.policy,
            EscalationLevel: self.policy.levels.order_by("position").first(),  # type: ignore[dict-item]
            Service: self.service,
            Schedule: self.schedule,
            Rotation: self.schedule.rotations.get(),
            RotationParticipant: RotationParticipant.objects.filter(
                rotation__schedule=self.schedule
            ).earliest("pk"),
            Restriction: Restriction.objects.get(rotation__schedule=self.schedule),
            Override: self.schedule.overrides.get(),
            Integration: self.integration,
            Incident: self.incident,
            Alert: self.alert,
            IncidentEvent: self.incident.events.order_by("pk").first(),  # type: ignore[dict-item]
            Notification: self.notification,
            # Not team-scoped, but "theirs": the team's people and groups, an audit entry
            # about the team's service, the manager's API token and personal settings.
            User: self.manager,
            PersonSettings: PersonSettings.objects.get(user=self.manager),
            ContactMethod: ContactMethod.objects.get(user=self.responder),
            NotificationRule: NotificationRule.objects.get(user=self.responder),
            Group: Group.objects.get(pk=Team.objects.get(pk=self.team.pk).managers_group_id),
            AuditEntry: AuditEntry.objects.get_for_object(self.service).earliest("pk"),
            Token: Token.objects.get(user=self.manager),
            apps.get_model("authtoken", "TokenProxy"): apps.get_model(
                "authtoken", "TokenProxy"
            ).objects.get(user=self.manager),
        }


def build_team(label: str, manager: str, responder: str) -> TeamWorld:
    team = Team.objects.create(name=f"Team {label}", description=f"{label} team")
    people = {role: make_user(name) for role, name in [("m", manager), ("r", responder)]}
    join(team, people["m"], Role.MANAGER)
    join(team, people["r"])
    for user in people.values():
        Token.objects.create(user=user)
        PersonSettings.objects.create(user=user)  # with a personal calendar feed token
    policy = EscalationPolicy.objects.create(team=team, name=f"{label} escalation policy")
    add_level(policy, [people["r"]], timedelta(minutes=5))
    add_level(policy, [people["m"]], timedelta(minutes=10))
    service = Service.objects.create(
        team=team, name=f"{label} payments service", escalation_policy=policy
    )
    integration, key = make_integration(
        service, Integration.Kind.ALERTMANAGER, f"{label} alertmanager intake"
    )
    incident = open_incident(integration, label, f"{label.lower()}/db-9/disk")
    schedule = build_schedule(team, label, people["m"], people["r"])
    for user in people.values():  # a way of being paged, named for the team, and its rule
        pager = ContactMethod.objects.create(
            user=user, address=f"{user.username}.pager@example.com", label=f"{label} pager"
        )
        NotificationRule.objects.create(contact_method=pager)
    world = TeamWorld(
        label, team, people["m"], people["r"], policy, service, integration, key, incident, schedule
    )
    world.spares = build_spares(world)
    return world


def build_schedule(team: Team, label: str, manager: Any, responder: Any) -> Schedule:
    """A weekly rotation of the team's two people, weekdays only, and one override."""
    schedule = Schedule.objects.create(
        team=team, name=f"{label} primary on-call", time_zone="Europe/Berlin"
    )
    start = timezone.now().replace(microsecond=0) - timedelta(days=3)
    rotation = Rotation.objects.create(
        schedule=schedule, name=f"{label} weekly rotation", start=start, turn_unit="weeks"
    )
    for position, user in enumerate([responder, manager]):
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    Restriction.objects.create(
        rotation=rotation, start_day=0, start_time=time(0), end_day=5, end_time=time(0)
    )
    Override.objects.create(
        schedule=schedule,
        user=manager,
        start=start + timedelta(days=4),
        end=start + timedelta(days=5),
    )
    return schedule


def build_spares(world: TeamWorld) -> dict[type[models.Model], models.Model]:
    label = world.label
    spare_policy = EscalationPolicy.objects.create(team=world.team, name=f"{label} spare policy")
    add_level(spare_policy, [world.responder], timedelta(minutes=5))
    spare_integration, _ = make_integration(
        world.service, Integration.Kind.EVENTS_API_V2, f"{label} spare intake"
    )
    spare_team = Team.objects.create(name=f"Team {label} spare")
    join(spare_team, world.manager, Role.MANAGER)
    return {
        Team: spare_team,
        EscalationPolicy: spare_policy,
        Service: Service.objects.create(
            team=world.team, name=f"{label} spare service", escalation_policy=world.policy
        ),
        Integration: spare_integration,
        Schedule: Schedule.objects.create(team=world.team, name=f"{label} spare schedule"),
        Incident: Incident.objects.create(
            service=world.service, title=f"{label} spare incident", dedup_key=f"{label}/spare"
        ),
    }


@dataclass
class World:
    a: TeamWorld
    b: TeamWorld
    c: Team
    users: dict[str, Any]
    tokens: dict[str, str]
    b_export: AuditExport

    def persona(self, name: str) -> Any:
        return User.objects.get(pk=self.users[name].pk)

    def b_objects(self) -> dict[type[models.Model], models.Model]:
        return {**self.b.objects(), AuditExport: self.b_export}


def build_world() -> World:
    a = build_team("Alpha", manager="maria", responder="alice")
    b = build_team("Bravo", manager="sam", responder="rita")
    c = Team.objects.create(name="Team Charlie")
    outsider = make_user("otto")
    join(c, outsider)
    auditor = make_user("audrey")
    auditor.groups.add(role_group(AUDITORS_GROUP))
    users = {
        "superuser": make_user("root", is_superuser=True),
        "manager_a": a.manager,
        "responder_a": a.responder,
        "auditor": auditor,
        "outsider": outsider,
    }
    tokens = {name: Token.objects.get_or_create(user=user)[0].key for name, user in users.items()}
    now = timezone.now()
    b_export = AuditExport.objects.create(
        kind=AuditExport.Kind.INCIDENTS,
        format=AuditExport.Format.CSV,
        period_start=now - timedelta(days=90),
        period_end=now,
        filters={"team": b.team.pk},
        requested_by=auditor,
        finished_at=now,
        row_count=1,
        sha256="0" * 64,
    )
    return World(a, b, c, users, tokens, b_export)


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


@pytest.fixture(scope="module")
def module_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    with django_db_blocker.unblock(), rolled_back():
        yield build_world()


@pytest.fixture
def world(module_world: World, db: None) -> World:
    """The module's world; the test's own changes are rolled back (a savepoint) after it."""
    return module_world


# --- What "nothing changed" means -----------------------------------------------------------

# The audit trail records attempts (logins, refused exports...) by design; sessions and the
# admin's own action log are bookkeeping. Everything else must be untouched by a refusal.
NOT_STATE = {"incidents.auditentry", "incidents.auditseal", "incidents.auditcheckpoint"}
STATE_APPS = {"auth", "authtoken", "guardian", "schedules", "escalation", "incidents"}
VOLATILE_FIELDS = {"last_login"}


def state_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in STATE_APPS
        and model._meta.label_lower not in NOT_STATE
        and not model._meta.proxy
        and model._meta.label_lower != "auth.permission"
    ]


def db_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that holds permissions, people or team configuration."""
    state = {}
    for model in state_models():
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        state[model._meta.label] = list(model._default_manager.order_by("pk").values_list(*names))
    return state


def changed_tables(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return sorted(label for label in before if before[label] != after[label])


def mentions_team_b(content: bytes | str) -> bool:
    text = content.decode(errors="replace") if isinstance(content, bytes) else content
    return MARKER in text.lower()
