"""Levels that target schedules: resolved to whoever is on call when the level fires, and a
level that resolves to nobody tells the team's managers and hands over at once."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from incidents.models import Incident, IncidentEvent, Notification
from incidents.services import alert_ingest, incident_escalate, notification_deliver
from incidents.services.messages import render_message
from schedules.models import Rotation, RotationParticipant, Schedule, TeamMembership
from tests import follow_the_sun
from tests.conftest import Setup, trigger_event
from tests.factories import MembershipFactory, UserFactory

# Europe/Berlin springs forward on Sunday 2027-03-28: 02:00 CET becomes 03:00 CEST (01:00 UTC).
# A daily rotation handing off at 09:00 local started on Friday 09:00 CET (08:00 UTC):
#   Fri 26th 08:00 UTC carol, Sat 27th 08:00 UTC dave, Sun 28th 09:00 CEST = 07:00 UTC carol.
# A rotation that counted 24-hour turns would hand over at 08:00 UTC on the Sunday instead.
ROTATION_START = datetime(2027, 3, 26, 8, 0, tzinfo=UTC)
SUNDAY_HANDOFF = datetime(2027, 3, 28, 7, 0, tzinfo=UTC)


@pytest.fixture
def berlin_schedule(setup: Setup) -> Schedule:
    team = setup.service.team
    schedule = Schedule.objects.create(team=team, name="Berlin primary", time_zone="Europe/Berlin")
    rotation = Rotation.objects.create(
        schedule=schedule, name="daily", start=ROTATION_START, turn_unit=Rotation.Unit.DAYS
    )
    for position, name in enumerate(["carol", "dave"]):
        user = UserFactory(username=name)
        MembershipFactory(team=team, user=user)
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    return schedule


def target_schedule_at_level_one(setup: Setup, schedule: Schedule) -> None:
    level = setup.service.escalation_policy.levels.get(position=1)
    level.users.clear()
    level.schedules.set([schedule])


def trigger(setup: Setup) -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Incident.objects.get(pk=result.incident_id)


def paged(incident: Incident) -> list[tuple[str, str, int]]:
    rows = incident.notifications.order_by("pk").values_list(
        "purpose", "user__username", "level_position"
    )
    return list(rows)


@pytest.mark.parametrize(
    ("instant", "on_call"),
    [
        (SUNDAY_HANDOFF - timedelta(seconds=1), "dave"),
        (SUNDAY_HANDOFF, "carol"),
        (datetime(2027, 3, 28, 7, 30, tzinfo=UTC), "carol"),  # 24-hour turns would say dave
    ],
)
def test_a_schedule_level_pages_whoever_is_on_call_across_the_dst_change(
    setup: Setup, berlin_schedule: Schedule, time_machine: Any, instant: datetime, on_call: str
) -> None:
    target_schedule_at_level_one(setup, berlin_schedule)
    time_machine.move_to(instant, tick=False)

    incident = trigger(setup)

    assert paged(incident) == [(Notification.Purpose.PAGE, on_call, 1)]


def test_the_schedule_is_resolved_when_the_level_fires_not_when_the_incident_opens(
    setup: Setup, berlin_schedule: Schedule, time_machine: Any
) -> None:
    # Level 1 pages alice; level 2 targets the schedule and fires after the handoff.
    policy = setup.service.escalation_policy
    policy.levels.get(position=2).schedules.set([berlin_schedule])
    policy.levels.get(position=2).users.clear()
    time_machine.move_to(SUNDAY_HANDOFF - timedelta(minutes=2), tick=False)
    incident = trigger(setup)  # dave is on call now, but level 2 is five minutes away

    incident.refresh_from_db()
    time_machine.move_to(incident.next_escalation_at, tick=False)
    assert incident_escalate(incident_id=incident.pk, token=incident.active_job_id) == "escalated"
    assert paged(incident)[-1] == (Notification.Purpose.PAGE, "carol", 2)


@pytest.fixture
def follow_the_sun_schedule(setup: Setup) -> Schedule:
    team = setup.service.team
    return follow_the_sun.build(team, follow_the_sun.team_with_people(team))


# Either side of each region's change (tests.follow_the_sun says why each person).
AT_THE_CHANGES = [
    (at, who)
    for at, who in follow_the_sun.ON_CALL
    if at.date().isoformat() in {"2027-03-13", "2027-03-14", "2027-03-28", "2027-04-05"}
]


@pytest.mark.parametrize(("instant", "on_call"), AT_THE_CHANGES)
def test_a_level_targeting_a_follow_the_sun_schedule_pages_the_region_whose_hours_it_is(
    setup: Setup,
    follow_the_sun_schedule: Schedule,
    time_machine: Any,
    instant: datetime,
    on_call: str,
) -> None:
    target_schedule_at_level_one(setup, follow_the_sun_schedule)
    time_machine.move_to(instant, tick=False)

    incident = trigger(setup)

    assert paged(incident) == [(Notification.Purpose.PAGE, on_call, 1)]


@pytest.fixture
def gap_schedule(setup: Setup) -> Schedule:
    """A schedule whose only rotation starts next year: nobody is on call now."""
    schedule = Schedule.objects.create(team=setup.service.team, name="Empty nights")
    rotation = Rotation.objects.create(
        schedule=schedule, name="later", start=datetime(2030, 1, 1, tzinfo=UTC)
    )
    RotationParticipant.objects.create(rotation=rotation, user=setup.alice, position=0)
    return schedule


@pytest.fixture
def managers(setup: Setup) -> list[Any]:
    team = setup.service.team
    people = [UserFactory(username="mia"), UserFactory(username="max", email="")]
    for person in people:
        MembershipFactory(team=team, user=person, role=TeamMembership.Role.MANAGER)
    MembershipFactory(user=UserFactory(username="other-manager"), role="manager")
    return people


def test_a_level_with_nobody_on_call_tells_the_managers_and_moves_on_at_once(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    target_schedule_at_level_one(setup, gap_schedule)

    incident = trigger(setup)

    # mia (a manager with an address) is told; max has no address; the other team's manager
    # hears nothing; bob, on level 2, is paged at once rather than after level 1's delay.
    assert paged(incident) == [
        (Notification.Purpose.NOBODY_ON_CALL, "mia", 1),
        (Notification.Purpose.PAGE, "bob", 2),
    ]
    messages = list(incident.events.values_list("kind", "message"))
    assert (IncidentEvent.Kind.NOBODY_TO_PAGE, "Nobody on call in Empty nights for level 1.") in (
        messages
    )
    incident.refresh_from_db()
    assert incident.current_level == 2


def test_the_managers_notice_says_why_and_is_recorded_when_sent(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    target_schedule_at_level_one(setup, gap_schedule)
    incident = trigger(setup)
    notice = incident.notifications.get(purpose=Notification.Purpose.NOBODY_ON_CALL)

    assert notification_deliver(notification_id=notice.pk) == "sent"

    (email,) = mail.outbox
    assert email.to == ["mia@example.com"]
    assert "Nobody on call" in email.subject
    assert "Nobody on call in Empty nights for level 1." in email.body
    assert "acknowledge" not in email.body.lower()  # no one-click links: mia was not paged
    assert incident.events.filter(
        kind=IncidentEvent.Kind.NOTIFIED,
        message__startswith="Told manager mia by email at mia@example.com",
    ).exists()


def test_a_level_whose_people_cannot_be_reached_tells_the_managers_who_was_missing(
    setup: Setup, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    setup.alice.email = ""
    setup.alice.save()

    incident = trigger(setup)

    notice = incident.notifications.get(purpose=Notification.Purpose.NOBODY_ON_CALL)
    assert notice.detail == "No contact method for alice."


def test_a_level_that_pages_someone_bothers_no_manager(
    setup: Setup, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)

    incident = trigger(setup)

    assert paged(incident) == [(Notification.Purpose.PAGE, "alice", 1)]


# --- What the managers' notice says comes next -----------------------------------------------


def notice_after_level_two_ran_empty(setup: Setup, schedule: Schedule, time_machine: Any) -> Any:
    """Level 1 pages alice; level 2 targets `schedule`, which has nobody on call."""
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    level = setup.service.escalation_policy.levels.get(position=2)
    level.users.clear()
    level.schedules.set([schedule])
    incident = trigger(setup)
    incident.refresh_from_db()
    time_machine.move_to(incident.next_escalation_at, tick=False)
    incident_escalate(incident_id=incident.pk, token=incident.active_job_id)
    return incident.notifications.get(purpose=Notification.Purpose.NOBODY_ON_CALL)


def test_the_notice_says_which_level_escalation_moved_on_to(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    target_schedule_at_level_one(setup, gap_schedule)
    notice = trigger(setup).notifications.get(purpose=Notification.Purpose.NOBODY_ON_CALL)

    notification_deliver(notification_id=notice.pk)

    [email] = mail.outbox
    assert "Escalation has moved on at once to level 2." in email.body
    assert "last level" not in email.body
    assert render_message(notice).data["next_level"] == {"position": 2, "loop": 0}


def test_the_notice_of_the_last_level_says_nobody_else_is_paged(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    notice = notice_after_level_two_ran_empty(setup, gap_schedule, time_machine)

    notification_deliver(notification_id=notice.pk)

    [email] = mail.outbox
    assert "That was the last level of the policy: nobody else will be paged" in email.body
    assert "moved on" not in email.body
    assert render_message(notice).data["next_level"] is None


def test_with_repeats_left_the_notice_names_the_first_level_again(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    policy = setup.service.escalation_policy
    policy.repeat = 1
    policy.save()
    notice = notice_after_level_two_ran_empty(setup, gap_schedule, time_machine)

    notification_deliver(notification_id=notice.pk)

    [email] = mail.outbox
    assert "Escalation has moved on at once to level 1 (repeat 1)." in email.body
    assert render_message(notice).data["next_level"] == {"position": 1, "loop": 1}


def test_a_repeating_policy_with_every_level_empty_tells_each_manager_once_per_level(
    setup: Setup, gap_schedule: Schedule, managers: list[Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 1, 4, 12, 0, tzinfo=UTC), tick=False)
    policy = setup.service.escalation_policy
    policy.repeat = 2
    policy.save()
    for level in policy.levels.all():
        level.users.clear()
        level.schedules.set([gap_schedule])

    incident = trigger(setup)

    # Both levels and both repeats run empty in the same instant: one notice per hole.
    assert paged(incident) == [
        (Notification.Purpose.NOBODY_ON_CALL, "mia", 1),
        (Notification.Purpose.NOBODY_ON_CALL, "mia", 2),
    ]
    assert incident.events.filter(kind=IncidentEvent.Kind.EXHAUSTED).exists()
