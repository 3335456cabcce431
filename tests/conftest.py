import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incidents.models import Integration, Service
from tests.factories import (
    MembershipFactory,
    PolicyFactory,
    ServiceFactory,
    UserFactory,
    add_level,
    make_integration,
)

# Copies of the team's real-format payload corpus (shared/samples/payloads), kept in the
# repository so the suite runs from a bare clone.
SAMPLES = Path(__file__).parent / "samples"


def load_sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


# Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM calls
# from a thread with a running loop unless told it is safe (it is: the loop is Playwright's,
# not ours). Tests only; see shared/STACK.md, section 6.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium (no Playwright browser download), headless, with its calls home off:
    the sandboxed network refuses them."""
    return {
        **browser_type_launch_args,
        "executable_path": shutil.which("chromium"),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Setup:
    """A team with two responders on a two-level policy, a service and its integrations."""

    service: Service
    alice: Any
    bob: Any
    outsider: Any
    alertmanager: Integration
    alertmanager_key: str
    events_api: Integration
    events_api_key: str


@pytest.fixture
def make_setup(db: None) -> Callable[..., Setup]:
    def build(level_delay: timedelta = timedelta(minutes=5), repeat: int = 0) -> Setup:
        alice = UserFactory(username="alice")
        bob = UserFactory(username="bob")
        outsider = UserFactory(username="outsider")
        policy = PolicyFactory(repeat=repeat)
        add_level(policy, [alice], level_delay)
        add_level(policy, [bob], level_delay)
        service = ServiceFactory(team=policy.team, escalation_policy=policy)
        for user in (alice, bob):
            MembershipFactory(team=policy.team, user=user)
        MembershipFactory(user=outsider)  # a member of another team
        alertmanager, am_key = make_integration(service, Integration.Kind.ALERTMANAGER, "AM")
        events_api, pd_key = make_integration(service, Integration.Kind.EVENTS_API_V2, "PD")
        return Setup(service, alice, bob, outsider, alertmanager, am_key, events_api, pd_key)

    return build


@pytest.fixture
def setup(make_setup: Callable[..., Setup]) -> Setup:
    return make_setup()


@pytest.fixture
def redis_conn() -> Any:
    """The test Redis database, emptied. Refuses database 0, which `make run` uses."""
    import django_rq
    from django.conf import settings

    connection = django_rq.get_connection("escalation")
    if connection.connection_pool.connection_kwargs.get("db", 0) == 0:
        pytest.fail(
            f"Refusing to flush Redis database 0 ({settings.REDIS_URL}); run `make test`"
            " or point REDIS_URL at a scratch database such as redis://127.0.0.1:6379/15"
        )
    connection.flushdb()
    yield connection
    connection.flushdb()


def trigger_event(
    dedup_key: str = "disk-full", severity: str = "critical", summary: str = "Disk full on db-1"
) -> Any:
    from incidents.intake.events import AlertEvent

    return AlertEvent(
        action="trigger", dedup_key=dedup_key, summary=summary, severity=severity, source="db-1"
    )
