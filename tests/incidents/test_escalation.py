"""The escalation engine, driven through the services with the clock under control."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rq.registry import ScheduledJobRegistry

from escalation.models import EscalationLevel
from incidents.models import Incident, IncidentEvent, Notification
from incidents.services import (
    SYSTEM,
    alert_ingest,
    incident_acknowledge,
    incident_escalate,
)
from tests.conftest import Setup, trigger_event
from tests.factories import UserFactory

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DELAY = timedelta(minutes=5)


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


def trigger(setup: Setup) -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Incident.objects.get(pk=result.incident_id)


def paged(incident: Incident) -> list[tuple[str, int, int]]:
    rows = incident.notifications.order_by("pk").values_list(
        "user__username", "level_position", "loop"
    )
    return list(rows)


def step_when_due(incident: Incident, clock: Any) -> str:
    incident.refresh_from_db()
    clock.move_to(incident.next_escalation_at)
    return incident_escalate(incident_id=incident.pk, token=incident.active_job_id)


def test_trigger_pages_level_one_at_once_and_arms_the_next_step(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)

    assert paged(incident) == [("alice", 1, 0)]
    assert incident.current_level == 1
    assert incident.next_escalation_at == START + DELAY
    assert incident.active_job_id.startswith(f"esc-{incident.pk}-")
    notification = incident.notifications.get()
    assert (notification.channel, notification.address) == ("email", "alice@example.com")
    assert notification.status == Notification.Status.PENDING
    kinds = list(incident.events.values_list("kind", flat=True))
    assert kinds == [IncidentEvent.Kind.TRIGGERED, IncidentEvent.Kind.ESCALATED]


def test_unacknowledged_level_hands_over_to_the_next_after_its_delay(
    setup: Setup, clock: Any
) -> None:
    incident = trigger(setup)

    assert step_when_due(incident, clock) == "escalated"

    incident.refresh_from_db()
    assert paged(incident) == [("alice", 1, 0), ("bob", 2, 0)]
    assert incident.current_level == 2
    assert incident.next_escalation_at == START + 2 * DELAY


def test_a_step_that_wakes_early_does_nothing_and_rearms(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)
    clock.move_to(START + DELAY - timedelta(milliseconds=300))

    assert incident_escalate(incident_id=incident.pk, token=incident.active_job_id) == "early"
    assert paged(incident) == [("alice", 1, 0)]


def test_a_stale_token_is_fenced_out(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)
    old_token = incident.active_job_id
    step_when_due(incident, clock)
    clock.shift(DELAY)

    assert incident_escalate(incident_id=incident.pk, token=old_token) == "stale"
    assert incident_escalate(incident_id=incident.pk, token="esc-made-up") == "stale"
    assert len(paged(incident)) == 2


def test_duplicate_delivery_of_the_same_step_pages_once(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)
    token = incident.active_job_id
    clock.move_to(incident.next_escalation_at)

    outcomes = [incident_escalate(incident_id=incident.pk, token=token) for _ in range(3)]

    assert outcomes == ["escalated", "stale", "stale"]
    assert paged(incident) == [("alice", 1, 0), ("bob", 2, 0)]


def test_policy_is_exhausted_after_the_last_level_with_a_timeline_entry(
    setup: Setup, clock: Any
) -> None:
    incident = trigger(setup)
    step_when_due(incident, clock)

    assert step_when_due(incident, clock) == "escalated"

    incident.refresh_from_db()
    assert paged(incident) == [("alice", 1, 0), ("bob", 2, 0)]
    assert incident.next_escalation_at is None
    assert incident.active_job_id == ""
    assert incident.status == Incident.Status.TRIGGERED
    assert incident.events.last().kind == IncidentEvent.Kind.EXHAUSTED


def test_repeat_runs_the_policy_again_before_stopping(make_setup: Any, clock: Any) -> None:
    setup = make_setup(level_delay=DELAY, repeat=1)
    incident = trigger(setup)
    for _ in range(4):
        step_when_due(incident, clock)

    incident.refresh_from_db()
    assert paged(incident) == [("alice", 1, 0), ("bob", 2, 0), ("alice", 1, 1), ("bob", 2, 1)]
    assert incident.next_escalation_at is None
    assert incident.events.filter(kind=IncidentEvent.Kind.EXHAUSTED).count() == 1


def test_acknowledge_stops_the_next_level(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)
    token = incident.active_job_id
    clock.shift(timedelta(minutes=1))
    incident_acknowledge(incident_id=incident.pk, actor=SYSTEM)
    clock.move_to(START + DELAY)

    assert incident_escalate(incident_id=incident.pk, token=token) == "not-triggered"
    incident.refresh_from_db()
    assert paged(incident) == [("alice", 1, 0)]
    assert (incident.next_escalation_at, incident.active_job_id) == (None, "")


def test_level_that_reaches_nobody_moves_on_at_once(setup: Setup, clock: Any) -> None:
    level_one = EscalationLevel.objects.get(policy=setup.service.escalation_policy, position=1)
    level_one.users.set([UserFactory(username="no-email", email="")])

    incident = trigger(setup)

    assert paged(incident) == [("bob", 2, 0)]
    assert incident.next_escalation_at == START + DELAY
    nobody = incident.events.get(kind=IncidentEvent.Kind.NOBODY_TO_PAGE)
    assert "level 1" in nobody.message


def test_inactive_users_are_not_paged(setup: Setup, clock: Any) -> None:
    get_user_model().objects.filter(pk=setup.alice.pk).update(is_active=False)

    assert paged(trigger(setup)) == [("bob", 2, 0)]


def test_editing_the_policy_does_not_disturb_a_running_escalation(setup: Setup, clock: Any) -> None:
    incident = trigger(setup)
    policy = setup.service.escalation_policy
    policy.levels.get(position=2).users.set([setup.outsider])
    policy.levels.get(position=2).delete()

    step_when_due(incident, clock)

    assert paged(incident) == [("alice", 1, 0), ("bob", 2, 0)]


def test_steps_are_enqueued_on_commit_at_the_due_time(
    setup: Setup, clock: Any, redis_conn: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        incident = trigger(setup)

    registry = ScheduledJobRegistry("escalation", connection=redis_conn)
    assert registry.get_job_ids() == [incident.active_job_id]
    scheduled_for = registry.get_scheduled_time(incident.active_job_id)
    assert scheduled_for == (START + DELAY).replace(tzinfo=UTC)


def test_acknowledge_cancels_the_scheduled_step(
    setup: Setup, clock: Any, redis_conn: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        incident = trigger(setup)
    with django_capture_on_commit_callbacks(execute=True):
        incident_acknowledge(incident_id=incident.pk, actor=SYSTEM)

    registry = ScheduledJobRegistry("escalation", connection=redis_conn)
    assert registry.get_job_ids() == []
