"""Shift notices: telling people their on-call shift is about to start, and that it has ended.

Notices are not planned ahead. Each reconciler pass (every RECONCILE_INTERVAL_SECONDS) computes
the schedules around now and writes a notice into the outbox once its moment has come: a shift
starting within SHIFT_NOTICE_LEAD_MINUTES, or a shift that has just ended. An override or a
rotation edit made before that moment is therefore always reflected, and nothing stored ahead
can go stale. The idempotency key (person, schedule, kind, instant) makes the repeated passes
write each notice once; the outbox then delivers it like a page (retries, never twice).

A person's back-to-back shifts in one schedule are one stretch of being on call (a layer's turn
followed by an override for the same person): one notice when it starts, one when it ends.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from escalation.contact import notice_points
from incidents.models import Notification
from incidents.services.scheduling import schedule_delivery
from schedules.models import PersonSettings
from schedules.oncall import UNCOMPUTABLE, final_shifts
from schedules.selectors import schedule_rules, schedules_of
from schedules.stretches import stretches

logger = logging.getLogger(__name__)

# Past this, "your shift has ended" is stale news: after a long worker outage it is skipped.
END_NOTICE_GRACE = timedelta(minutes=10)

Purpose = Notification.Purpose


@dataclass(frozen=True)
class ShiftNotice:
    purpose: str  # Purpose.SHIFT_START or Purpose.SHIFT_END
    schedule_id: int
    user_id: int
    at: datetime  # the shift's start or end

    @property
    def key(self) -> str:
        return f"{self.purpose}-s{self.schedule_id}-u{self.user_id}-{int(self.at.timestamp())}"


def shift_notices_queue(now: datetime | None = None) -> int:
    """Write the shift notices that are due now into the outbox. Returns how many were new."""
    now = now or timezone.now()
    wanted = _wanted_by_user()
    if not wanted:
        return 0
    notices = due_shift_notices(wanted, now)
    return _queue(notices, now)


def _wanted_by_user() -> dict[int, tuple[bool, bool]]:
    """Who asked for notices: user id -> (at shift start, at shift end)."""
    rows = PersonSettings.objects.filter(
        Q(notify_shift_start=True) | Q(notify_shift_end=True), user__is_active=True
    ).values_list("user_id", "notify_shift_start", "notify_shift_end")
    return {user_id: (start, end) for user_id, start, end in rows}


def _lead() -> timedelta:
    return timedelta(minutes=settings.SHIFT_NOTICE_LEAD_MINUTES)


def due_shift_notices(wanted: dict[int, tuple[bool, bool]], now: datetime) -> list[ShiftNotice]:
    """The notices due at `now` for the people in `wanted`, across every schedule they are in.

    The window [now - grace, now + lead) is computed once per schedule. Inside it a stretch's
    start after `now` and its end at or before `now` are real edges, not the window's: a
    neighbouring shift of the same person would lie inside the window and have been joined.
    """
    lead = _lead()
    window = (now - END_NOTICE_GRACE, now + lead)
    rules = schedule_rules(schedules_of(wanted, window), window=window)
    notices = []
    for schedule_id, rule in rules.items():
        try:
            shifts = final_shifts(rule, *window)
        except UNCOMPUTABLE:
            # One schedule whose rules cannot be computed must not silence everyone else's
            # notices (nor the rest of the reconciler pass this runs in).
            logger.exception("Shift notices skipped for schedule %s", schedule_id)
            continue
        for stretch in stretches(shifts):
            at_start, at_end = wanted.get(stretch.user_id, (False, False))
            if at_start and now < stretch.start:
                notices.append(
                    ShiftNotice(Purpose.SHIFT_START, schedule_id, stretch.user_id, stretch.start)
                )
            if at_end and stretch.end <= now:
                notices.append(
                    ShiftNotice(Purpose.SHIFT_END, schedule_id, stretch.user_id, stretch.end)
                )
    return notices


def _queue(notices: list[ShiftNotice], now: datetime) -> int:
    users = get_user_model().objects.in_bulk({notice.user_id for notice in notices})
    rows = [
        (notice, users[notice.user_id], point)
        for notice in notices
        for point in notice_points(users[notice.user_id])
    ]
    keys = [f"{notice.key}-{point.key}" for notice, _, point in rows]
    existing = set(
        Notification.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    created = 0
    for (notice, user, point), key in zip(rows, keys, strict=True):
        if key not in existing:
            created += _create(notice, user, point.channel, point.address, key, now)
    return created


def _create(
    notice: ShiftNotice, user: Any, channel: str, address: str, key: str, now: datetime
) -> int:
    try:
        # A savepoint: a concurrent pass that wrote the same key first is not an error.
        with transaction.atomic():
            notification = Notification.objects.create(
                purpose=notice.purpose,
                schedule_id=notice.schedule_id,
                shift_at=notice.at,
                user=user,
                channel=channel,
                address=address,
                next_attempt_at=now,
                idempotency_key=key,
            )
            schedule_delivery(notification.pk)
    except IntegrityError:
        return 0
    return 1
