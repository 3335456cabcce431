"""The database is the clock: when Redis forgets its jobs or a worker dies with its scheduler,
the reconciler (woken by every worker's maintenance) finds the overdue rows and the page still
goes out, late but never lost and never early."""

import os
import signal
import subprocess
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from incidents.models import Incident, Notification
from incidents.services import alert_ingest
from tests.conftest import Setup, trigger_event
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEVEL_DELAY = timedelta(seconds=3)
# Maintenance (and so the reconciler) every second instead of every 15 s, and idle workers
# waking from their blocking pop every 5 s (worker TTL 20 - 15), so the tests take seconds.
FAST_RECOVERY = {
    "RQ_MAINTENANCE_INTERVAL_SECONDS": "1",
    "RECONCILE_INTERVAL_SECONDS": "1",
    "RECONCILE_GRACE_SECONDS": "1",
}


def sent(incident: Incident) -> list[str]:
    return list(
        incident.notifications.filter(status=Notification.Status.SENT)
        .order_by("created_at")
        .values_list("user__username", flat=True)
    )


def trigger_and_wait_for_level_one(setup: Setup) -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    incident = Incident.objects.get(pk=result.incident_id)
    wait_for(lambda: sent(incident) == ["alice"], 20, "level 1 to be paged")
    return incident


def assert_level_two_paged_on_time_or_late(incident: Incident) -> None:
    wait_for(lambda: sent(incident) == ["alice", "bob"], 30, "level 2 to be paged")
    alice, bob = incident.notifications.order_by("created_at")
    assert bob.created_at - alice.created_at >= LEVEL_DELAY


def test_a_flushed_redis_delays_the_next_level_but_never_loses_it(
    make_setup: Callable[..., Setup], start_worker: Callable[..., Any], redis_conn: Any
) -> None:
    setup = make_setup(level_delay=LEVEL_DELAY)
    start_worker(worker_ttl=20, **FAST_RECOVERY)
    incident = trigger_and_wait_for_level_one(setup)

    redis_conn.flushdb()  # the scheduled level-2 step is gone

    assert_level_two_paged_on_time_or_late(incident)


def test_a_killed_worker_and_scheduler_delay_the_next_level_but_never_lose_it(
    make_setup: Callable[..., Setup], start_worker: Callable[..., Any]
) -> None:
    setup = make_setup(level_delay=LEVEL_DELAY)
    first: subprocess.Popen[bytes] = start_worker(worker_ttl=20, **FAST_RECOVERY)
    incident = trigger_and_wait_for_level_one(setup)

    # What a container or systemd kill does: the worker and its scheduler, at once. The dead
    # scheduler's Redis lock outlives it by a minute, so the replacement cannot run the
    # scheduled step; the reconciler must.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    start_worker(worker_ttl=20, **FAST_RECOVERY)

    assert_level_two_paged_on_time_or_late(incident)
