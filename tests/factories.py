from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model

from escalation.models import EscalationLevel, EscalationPolicy
from incidents.models import Integration, Service
from schedules.models import Team, TeamMembership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EscalationPolicy

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Policy {n}")
    repeat = 0


def add_level(
    policy: EscalationPolicy, users: list[Any], delay: timedelta, position: int | None = None
) -> EscalationLevel:
    if position is None:
        position = policy.levels.count() + 1
    level = EscalationLevel.objects.create(policy=policy, position=position, delay=delay)
    level.users.set(users)
    return level


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Service {n}")
    escalation_policy = factory.SubFactory(PolicyFactory, team=factory.SelfAttribute("..team"))


def make_integration(
    service: Service, kind: str = Integration.Kind.ALERTMANAGER, name: str = "Integration"
) -> tuple[Integration, str]:
    """An active integration and its key, which only exists in clear at creation."""
    integration = Integration(service=service, kind=kind, name=name)
    key = integration.issue_key()
    integration.save()
    return integration, key
