"""The RQ worker class every Watchstander worker runs (`RQ["WORKER_CLASS"]`).

- Non-forking (SimpleWorker): ~4x the throughput of the forking worker, and jobs reuse the
  worker's database connection instead of opening one per fork.
- Tight maintenance (every 15 s instead of 600 s) so a crashed scheduler's jobs and abandoned
  jobs are recovered in about a minute, not 13 (see shared/STACK.md, section 2).
- Each maintenance pass also wakes the reconciler, which re-enqueues overdue escalation steps
  and deliveries from the database. That is the only recurring job, registered here and only
  here; a Redis lock keeps several workers from running it more often than configured.
"""

from typing import Any

from django.conf import settings
from django.db import close_old_connections
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker


class WatchstanderWorker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", settings.RQ_MAINTENANCE_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Jobs run in this long-lived process: drop connections that went stale between jobs
        # (database restart, CONN_MAX_AGE) the way Django does between requests.
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        from incidents.jobs import wake_reconciler

        wake_reconciler(self.connection)
