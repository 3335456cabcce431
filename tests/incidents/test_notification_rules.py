"""The escalation engine pages people through their notification rules: each rule is a delivery
of its own, due its delay after the level pages the person, for the incident's urgency; an
acknowledgement cancels what is still waiting."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from escalation.models import ContactMethod, NotificationRule, RuleUrgency, Urgency
from incidents.audit import export_rows
from incidents.models import Incident, IncidentEvent, Notification, Severity
from incidents.services import (
    alert_ingest,
    incident_acknowledge,
    incident_escalate,
    incident_reassign,
    notification_deliver,
)
from incidents.services.actors import SYSTEM
from incidents.services.scheduling import NOTIFICATION_QUEUE
from incidents.urgency import urgency_of
from schedules.models import TeamMembership
from tests.conftest import Setup, trigger_event
from tests.factories import MembershipFactory, UserFactory

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


def method(user: Any, address: str, kind: str = "email") -> ContactMethod:
    return ContactMethod.objects.create(user=user, kind=kind, address=address)


def rule(
    contact: ContactMethod, delay_minutes: int = 0, urgency: str = RuleUrgency.ANY
) -> NotificationRule:
    return NotificationRule.objects.create(
        contact_method=contact, delay_minutes=delay_minutes, urgency=urgency
    )


def add_rule(
    user: Any, address: str, delay_minutes: int = 0, urgency: str = RuleUrgency.ANY
) -> NotificationRule:
    kind = "webhook" if address.startswith("https://") else "email"
    return rule(method(user, address, kind), delay_minutes, urgency)


def trigger(setup: Setup, severity: str = "critical") -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event(severity=severity)])
    return Incident.objects.get(pk=result[0].incident_id)


def queued(incident: Incident) -> list[tuple[str, str, str, datetime]]:
    rows = incident.notifications.order_by("next_attempt_at", "pk").values_list(
        "user__username", "channel", "address", "next_attempt_at"
    )
    return list(rows)


def test_each_rule_is_a_delivery_due_its_delay_after_the_level_pages(
    setup: Setup, clock: Any
) -> None:
    add_rule(setup.alice, "alice@pager.example", 0)
    add_rule(setup.alice, "https://hooks.example.com/alice", 5)

    incident = trigger(setup)

    assert queued(incident) == [
        ("alice", "email", "alice@pager.example", START),
        ("alice", "webhook", "https://hooks.example.com/alice", START + timedelta(minutes=5)),
    ]
    escalated = incident.events.get(kind=IncidentEvent.Kind.ESCALATED)
    assert escalated.message == "Escalated to level 1: paging alice."


def test_a_delayed_rule_is_scheduled_for_its_due_time(
    setup: Setup, clock: Any, redis_conn: Any, django_capture_on_commit_callbacks: Any
) -> None:
    add_rule(setup.alice, "alice@example.com", 0)
    add_rule(setup.alice, "alice@example.com", 10)

    with django_capture_on_commit_callbacks(execute=True):
        incident = trigger(setup)

    later = incident.notifications.get(next_attempt_at__gt=START)
    registry = ScheduledJobRegistry(NOTIFICATION_QUEUE, connection=redis_conn)
    [job_id] = registry.get_job_ids()
    assert registry.get_scheduled_time(job_id) == START + timedelta(minutes=10)
    assert Job.fetch(job_id, connection=redis_conn).args == (later.pk,)


def test_two_rules_to_the_same_address_are_two_deliveries(setup: Setup, clock: Any) -> None:
    contact = method(setup.alice, "alice@example.com")
    first, again = rule(contact, 0), rule(contact, 10)

    incident = trigger(setup)

    keys = list(incident.notifications.order_by("pk").values_list("idempotency_key", flat=True))
    assert keys == [
        f"i{incident.pk}-p1-l0-u{setup.alice.pk}-r{first.pk}-email",
        f"i{incident.pk}-p1-l0-u{setup.alice.pk}-r{again.pk}-email",
    ]


def test_a_person_without_rules_is_paged_at_their_account_email_at_once(
    setup: Setup, clock: Any
) -> None:
    incident = trigger(setup)

    notification = incident.notifications.get()
    assert (notification.address, notification.next_attempt_at) == ("alice@example.com", START)
    assert notification.idempotency_key == f"i{incident.pk}-p1-l0-u{setup.alice.pk}-email"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", ["any@example.com", "high@example.com"]),
        ("warning", ["any@example.com", "low@example.com"]),
    ],
)
def test_rules_follow_the_incidents_urgency(
    setup: Setup, clock: Any, severity: str, expected: list[str]
) -> None:
    add_rule(setup.alice, "any@example.com", 0, RuleUrgency.ANY)
    add_rule(setup.alice, "high@example.com", 1, RuleUrgency.HIGH)
    add_rule(setup.alice, "low@example.com", 2, RuleUrgency.LOW)

    incident = trigger(setup, severity=severity)

    assert [address for _, _, address, _ in queued(incident)] == expected


def test_someone_with_no_rule_for_this_urgency_is_unreachable_and_the_next_level_is_paged(
    setup: Setup, clock: Any
) -> None:
    add_rule(setup.alice, "alice@example.com", 0, RuleUrgency.HIGH)

    incident = trigger(setup, severity="info")

    assert [user for user, *_ in queued(incident)] == ["bob"]
    incident.refresh_from_db()
    assert incident.current_level == 2
    nobody = incident.events.get(kind=IncidentEvent.Kind.NOBODY_TO_PAGE)
    assert nobody.data["unreachable"] == ["alice"]


def test_acknowledging_cancels_the_rules_still_waiting(setup: Setup, clock: Any) -> None:
    add_rule(setup.alice, "alice@example.com", 0)
    add_rule(setup.alice, "https://hooks.example.com/alice", 5)
    incident = trigger(setup)
    first = incident.notifications.get(channel="email")
    assert notification_deliver(notification_id=first.pk) == "sent"

    incident_acknowledge(incident_id=incident.pk, actor=SYSTEM)
    clock.shift(timedelta(minutes=5))

    delayed = incident.notifications.get(channel="webhook")
    assert delayed.status == Notification.Status.CANCELLED
    assert notification_deliver(notification_id=delayed.pk) == "skipped"


def test_a_delayed_delivery_woken_early_waits_for_its_time(setup: Setup, clock: Any) -> None:
    add_rule(setup.alice, "alice@example.com", 5)
    incident = trigger(setup)
    notification = incident.notifications.get()

    assert notification_deliver(notification_id=notification.pk) == "early"
    assert mail.outbox == []
    clock.shift(timedelta(minutes=5))
    assert notification_deliver(notification_id=notification.pk) == "sent"
    assert mail.outbox[0].to == ["alice@example.com"]


def test_a_level_repeat_pages_each_rule_again(setup: Setup, clock: Any) -> None:
    alice = add_rule(setup.alice, "alice@example.com", 0)
    policy = setup.service.escalation_policy
    policy.repeat = 1
    policy.save()
    incident = trigger(setup)

    for _ in range(2):
        incident.refresh_from_db()
        clock.move_to(incident.next_escalation_at)
        incident_escalate(incident_id=incident.pk, token=incident.active_job_id)

    keys = set(incident.notifications.filter(user=setup.alice).values_list("idempotency_key"))
    assert keys == {
        (f"i{incident.pk}-p1-l{loop}-u{setup.alice.pk}-r{alice.pk}-email",) for loop in (0, 1)
    }


def test_a_reassignment_pages_the_assignee_through_their_rules(setup: Setup, clock: Any) -> None:
    contact = method(setup.bob, "bob@pager.example")
    rule(contact, 0)
    rule(contact, 10)  # the same address twice: two deliveries, not a clash of keys
    incident = trigger(setup)

    incident_reassign(incident_id=incident.pk, actor=SYSTEM, to_user=setup.bob)

    bobs = incident.notifications.filter(user=setup.bob).order_by("next_attempt_at")
    assert list(bobs.values_list("address", "next_attempt_at")) == [
        ("bob@pager.example", START),
        ("bob@pager.example", START + timedelta(minutes=10)),
    ]


# --- Managers told that a level had nobody to page ------------------------------------------


@pytest.fixture
def manager(setup: Setup) -> Any:
    person = UserFactory(username="mia")
    MembershipFactory(team=setup.service.team, user=person, role=TeamMembership.Role.MANAGER)
    return person


def test_managers_are_told_at_once_through_every_address_of_their_rules(
    setup: Setup, clock: Any, manager: Any
) -> None:
    setup.alice.email = ""
    setup.alice.save()
    email = method(manager, "mia@example.com")
    rule(email, 0)
    rule(email, 15)  # the same address again, later
    add_rule(manager, "https://hooks.example.com/mia", 10)

    incident = trigger(setup)

    notices = incident.notifications.filter(purpose=Notification.Purpose.NOBODY_ON_CALL)
    assert sorted(notices.values_list("address", "next_attempt_at")) == [
        ("https://hooks.example.com/mia", START),
        ("mia@example.com", START),
    ]
    assert {notice.detail for notice in notices} == {"No contact method for alice."}


def test_managers_rules_for_another_urgency_are_not_used_for_the_notice(
    setup: Setup, clock: Any, manager: Any
) -> None:
    setup.alice.email = ""
    setup.alice.save()
    add_rule(manager, "mia@example.com", 0, RuleUrgency.HIGH)
    add_rule(manager, "mia-low@example.com", 0, RuleUrgency.LOW)

    incident = trigger(setup, severity="warning")

    notice = incident.notifications.get(purpose=Notification.Purpose.NOBODY_ON_CALL)
    assert notice.address == "mia-low@example.com"


# --- Urgency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [
        (Severity.CRITICAL, Urgency.HIGH),
        (Severity.ERROR, Urgency.HIGH),
        (Severity.WARNING, Urgency.LOW),
        (Severity.INFO, Urgency.LOW),
    ],
)
def test_urgency_follows_severity(severity: str, urgency: str) -> None:
    assert urgency_of(severity) == urgency


def test_the_incident_export_uses_the_same_urgency() -> None:
    # One mapping for the exports and the notification rules: they can never disagree.
    assert export_rows.urgency_of is urgency_of
