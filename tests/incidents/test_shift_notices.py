"""Shift notices: "your shift starts soon" and "your shift has ended", written into the outbox
by the reconciler pass once their moment has come, each exactly once."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from incidents.models import Notification
from incidents.services import notification_deliver, shift_notices_queue
from schedules.models import (
    Override,
    PersonSettings,
    Rotation,
    RotationParticipant,
    Schedule,
)
from tests.factories import MembershipFactory, TeamFactory, UserFactory

# A weekly rotation of ann then ben, handing off on Mondays at 09:00 in Chicago (15:00 UTC in
# winter). The default lead time is 15 minutes.
START = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)
LEAD = timedelta(minutes=15)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    team = TeamFactory(name="Payments")
    schedule = Schedule.objects.create(
        team=team, name="Payments primary", time_zone="America/Chicago"
    )
    rotation = Rotation.objects.create(schedule=schedule, name="weekly", start=START)
    found: dict[str, Any] = {"schedule": schedule}
    for position, name in enumerate(["ann", "ben"]):
        user = UserFactory(username=name)
        MembershipFactory(team=team, user=user)
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
        found[name] = user
    return found


def wants(user: Any, *, start: bool = True, end: bool = True) -> None:
    PersonSettings.objects.update_or_create(
        user=user, defaults={"notify_shift_start": start, "notify_shift_end": end}
    )


def notices() -> list[tuple[str, str, datetime]]:
    rows = Notification.objects.order_by("pk").values_list("purpose", "user__username", "shift_at")
    return list(rows)


def test_nobody_who_did_not_ask_is_told_anything(people: dict[str, Any], time_machine: Any) -> None:
    time_machine.move_to(START + WEEK - LEAD / 3, tick=False)

    assert shift_notices_queue() == 0
    assert notices() == []


def test_a_start_notice_is_written_within_the_lead_time_and_only_once(
    people: dict[str, Any], time_machine: Any
) -> None:
    wants(people["ben"], end=False)
    time_machine.move_to(START + WEEK - LEAD - timedelta(minutes=1), tick=False)
    assert shift_notices_queue() == 0  # too early

    time_machine.move_to(START + WEEK - LEAD + timedelta(minutes=1), tick=False)
    assert shift_notices_queue() == 1
    assert shift_notices_queue() == 0  # the next pass finds it written

    assert notices() == [(Notification.Purpose.SHIFT_START, "ben", START + WEEK)]


def test_an_end_notice_is_written_once_the_shift_has_ended(
    people: dict[str, Any], time_machine: Any
) -> None:
    wants(people["ann"], start=False)
    time_machine.move_to(START + WEEK - timedelta(seconds=1), tick=False)
    assert shift_notices_queue() == 0  # still on call

    time_machine.move_to(START + WEEK + timedelta(seconds=30), tick=False)
    assert shift_notices_queue() == 1

    assert notices() == [(Notification.Purpose.SHIFT_END, "ann", START + WEEK)]


def test_an_end_long_past_is_stale_news_and_skipped(
    people: dict[str, Any], time_machine: Any
) -> None:
    wants(people["ann"])
    time_machine.move_to(START + WEEK + timedelta(hours=1), tick=False)

    assert shift_notices_queue() == 0


def test_an_override_is_reflected_in_the_notices(people: dict[str, Any], time_machine: Any) -> None:
    # ann covers ben's first hour: ann's stretch runs on, ben's starts an hour later.
    Override.objects.create(
        schedule=people["schedule"],
        user=people["ann"],
        start=START + WEEK,
        end=START + WEEK + timedelta(hours=1),
    )
    wants(people["ann"])
    wants(people["ben"])
    time_machine.move_to(START + WEEK - timedelta(minutes=5), tick=False)
    assert shift_notices_queue() == 0  # nobody's stretch starts or ends at the handoff

    time_machine.move_to(START + WEEK + timedelta(hours=1) - timedelta(minutes=5), tick=False)
    assert shift_notices_queue() == 1
    time_machine.move_to(START + WEEK + timedelta(hours=1, minutes=1), tick=False)
    assert shift_notices_queue() == 1

    assert notices() == [
        (Notification.Purpose.SHIFT_START, "ben", START + WEEK + timedelta(hours=1)),
        (Notification.Purpose.SHIFT_END, "ann", START + WEEK + timedelta(hours=1)),
    ]


def test_an_inactive_person_is_not_told(people: dict[str, Any], time_machine: Any) -> None:
    wants(people["ben"])
    people["ben"].is_active = False
    people["ben"].save()
    time_machine.move_to(START + WEEK - LEAD / 3, tick=False)

    assert shift_notices_queue() == 0


def test_the_start_notice_is_sent_in_the_schedules_local_time(
    people: dict[str, Any], time_machine: Any
) -> None:
    wants(people["ben"])
    time_machine.move_to(START + WEEK - LEAD / 3, tick=False)
    shift_notices_queue()
    notice = Notification.objects.get()

    assert notification_deliver(notification_id=notice.pk) == "sent"
    assert notification_deliver(notification_id=notice.pk) == "skipped"

    (email,) = mail.outbox
    assert email.to == ["ben@example.com"]
    assert email.subject == (
        "[Watchstander] Your on-call shift on Payments primary starts Mon 11 Jan 09:00"
        " (America/Chicago)"
    )
    assert "Monday 11 January 2027, 09:00 (America/Chicago), 2027-01-11 15:00 UTC" in email.body
    notice.refresh_from_db()
    assert notice.status == Notification.Status.SENT


def test_a_notice_tells_the_time_in_the_zone_of_the_persons_own_layer(
    people: dict[str, Any], time_machine: Any
) -> None:
    """Follow the sun: ben's layer keeps Sydney's hours, so his notice says Sydney's time
    first (the schedule's and UTC after it)."""
    Rotation.objects.filter(schedule=people["schedule"]).update(time_zone="Australia/Sydney")
    wants(people["ben"])
    # The handoffs stay at 15:00 UTC in January: 02:00 on Tuesdays in Sydney.
    time_machine.move_to(START + WEEK - LEAD / 3, tick=False)
    shift_notices_queue()
    time_machine.move_to(START + 2 * WEEK + LEAD / 3, tick=False)
    shift_notices_queue()
    for notice in Notification.objects.order_by("pk"):
        assert notification_deliver(notification_id=notice.pk) == "sent"

    start, end = mail.outbox
    assert start.subject == (
        "[Watchstander] Your on-call shift on Payments primary starts Tue 12 Jan 02:00"
        " (Australia/Sydney)"
    )
    assert (
        "Tuesday 12 January 2027, 02:00 (Australia/Sydney), Monday 11 January 2027, 09:00 "
        "(America/Chicago), 2027-01-11 15:00 UTC" in start.body
    )
    assert (
        "Tuesday 19 January 2027, 02:00 (Australia/Sydney), Monday 18 January 2027, 09:00 "
        "(America/Chicago), 2027-01-18 15:00 UTC" in end.body
    )


@pytest.mark.parametrize(
    "stored",
    [
        {"turn_length": 2_000_000_000},  # turns this long overflow the date arithmetic
        {"time_zone": "Mars/Olympus"},  # a zone that is not one
    ],
)
def test_a_schedule_that_cannot_be_computed_does_not_silence_the_others(
    people: dict[str, Any], time_machine: Any, stored: dict[str, Any]
) -> None:
    broken = Schedule.objects.create(team=people["schedule"].team, name="Broken")
    rotation = Rotation.objects.create(schedule=broken, name="huge", start=START)
    RotationParticipant.objects.create(rotation=rotation, user=people["ann"], position=0)
    # Ben takes turns in it too, so that his notices compute it.
    RotationParticipant.objects.create(rotation=rotation, user=people["ben"], position=1)
    # Written past validation, as an old row or a bad import could be.
    Rotation.objects.filter(pk=rotation.pk).update(**stored)
    wants(people["ben"], end=False)
    time_machine.move_to(START + WEEK - LEAD / 3, tick=False)

    assert shift_notices_queue() == 1
    assert notices() == [(Notification.Purpose.SHIFT_START, "ben", START + WEEK)]
