"""`manage.py bench_audit`: how the audit trail copes with a million entries on PostgreSQL.

Writes N realistic entries spread over a quarter, seals them into the hash chain, exports
the quarter as CSV and as JSON Lines (each in a fresh `export_audit_log` process, measuring
wall time and that process's peak RSS), verifies the chain (`verify_audit_log`) and one export
offline, and prints the figures against the targets. Everything it wrote is deleted at the end
(unless --keep).

Run it in a scratch database, never in production (it refuses a database that has services, unless
--force):

    createdb ws_bench
    python manage.py bench_audit --database-url postgres://postgres@127.0.0.1:5432/ws_bench

or, equivalently, `DATABASE_URL=... python manage.py migrate && DATABASE_URL=... python
manage.py bench_audit`.
"""

import os
import subprocess
import sys
import tempfile
import time
from argparse import ArgumentParser
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max

from incidents.audit.models import AuditEntry, AuditExport, AuditSeal
from incidents.models import Service

QUARTER_START = datetime(2025, 1, 1, tzinfo=UTC)
QUARTER_END = datetime(2025, 4, 1, tzinfo=UTC)
INSERT_BATCH = 100_000
BENCH_USERS = ["bench-alice", "bench-bob", "bench-carol", "bench-dave", "bench-erin"]
ENTRY_MODELS = [
    ("incidents", "incident"),
    ("incidents", "incidentevent"),
    ("incidents", "notification"),
    ("incidents", "alert"),
    ("incidents", "service"),
]
EXPORT_SECONDS, EXPORT_RSS_MB, VERIFY_SECONDS = 60, 150, 60

# One realistic entry per g: an incident, timeline event, page, alert or service change by
# one of five people or "system", from an internal address, with before/after changes.
INSERT_SQL = """
INSERT INTO incidents_auditentry (
    content_type_id, object_pk, object_id, object_repr, serialized_data, action,
    changes_text, changes, cid, remote_addr, remote_port, timestamp, additional_data,
    actor_email, actor_label, team_id, actor_id
)
SELECT
    (%(content_types)s::bigint[])[1 + g %% %(n_content_types)s],
    (g %% 50000)::text,
    g %% 50000,
    'Incident #' || (g %% 50000) || ': Disk full on db-' || (g %% 7),
    NULL,
    g %% 3,
    '',
    jsonb_build_object(
        'status', jsonb_build_array('triggered', 'acknowledged'),
        'level_index', jsonb_build_array(g %% 3, g %% 3 + 1),
        'acknowledged_at', jsonb_build_array(NULL, to_char(
            %(start)s::timestamptz + g * %(step_us)s * interval '1 microsecond',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    ),
    'bench-' || (g / 1000),
    CASE WHEN g %% 6 = 5 THEN NULL ELSE ('10.0.' || (g %% 250) || '.' || (1 + g %% 200))::inet END,
    CASE WHEN g %% 6 = 5 THEN NULL ELSE 1024 + g %% 60000 END,
    %(start)s::timestamptz + g * %(step_us)s * interval '1 microsecond',
    jsonb_build_object('team_id', 1 + g %% 4),
    (%(emails)s::text[])[1 + g %% 6],
    (%(labels)s::text[])[1 + g %% 6],
    1 + g %% 4,
    (%(actors)s::bigint[])[1 + g %% 6]
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""


@dataclass(frozen=True)
class Figure:
    step: str
    rows: int | None
    seconds: float
    rss_mb: float | None = None
    target: str = ""
    ok: bool | None = None


@dataclass(frozen=True)
class Baseline:
    """What the database held before the bench, so cleaning up removes exactly its rows."""

    max_entry_id: int
    max_seal_seq: int
    max_export_id: int


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Run a child process; its wall time (s), its own peak RSS (MB) and its stdout.

    os.wait4 returns the resource usage of that one child, where RUSAGE_CHILDREN would give
    the maximum over every child reaped so far. Output goes to files, not pipes, so nothing
    blocks while we wait (communicate() would reap the child and lose its usage)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr)  # noqa: S603
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise CommandError(f"{' '.join(argv[2:4])} failed:\n{stderr.read().decode()}")
        return elapsed, usage.ru_maxrss / 1024, stdout.read().decode()  # ru_maxrss: KiB on Linux


def manage(*args: str) -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--entries", type=int, default=1_000_000)
        parser.add_argument(
            "--database-url",
            help="run migrate and the bench against this database (a scratch one)",
        )
        parser.add_argument("--workdir", type=Path, default=Path("/tmp"))  # noqa: S108
        parser.add_argument("--keep", action="store_true", help="keep the rows and files")
        parser.add_argument(
            "--force", action="store_true", help="run even if the database has audit entries"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["database_url"]:
            self._rerun_against(options)
            return
        if connection.vendor != "postgresql":
            raise CommandError("bench_audit needs PostgreSQL (set DATABASE_URL or --database-url).")
        if Service.objects.exists() and not options["force"]:
            # A database with services is in use: its real audit activity would be timed with
            # (and, worse, could interleave with) the rows the bench deletes afterwards.
            raise CommandError(
                "This database is in use (it has services); run the bench in a scratch database "
                "(--database-url postgres://.../ws_bench) or pass --force."
            )
        self._bench(options["entries"], options["workdir"], keep=options["keep"])

    def _rerun_against(self, options: dict[str, Any]) -> None:
        """Settings are read once at start-up, so another database means another process."""
        env = {**os.environ, "DATABASE_URL": options["database_url"]}
        subprocess.run(manage("migrate", "--no-input", "-v", "0"), env=env, check=True)  # noqa: S603
        argv = manage("bench_audit", "--entries", str(options["entries"]))
        argv += ["--workdir", str(options["workdir"])]
        argv += ["--keep"] * options["keep"] + ["--force"] * options["force"]
        sys.exit(subprocess.run(argv, env=env, check=False).returncode)  # noqa: S603

    def _bench(self, entries: int, workdir: Path, *, keep: bool) -> None:
        try:
            from incidents.audit import chain
        except ModuleNotFoundError as exc:
            raise CommandError(
                "bench_audit needs the audit hash chain (incidents.audit.chain)."
            ) from exc

        chain.seal_pending(full=True)  # whatever was there before is not ours to time
        baseline = self._baseline()
        figures: list[Figure] = []
        try:
            figures.append(self._insert(entries))
            started = time.perf_counter()
            sealed = chain.seal_pending(full=True)
            figures.append(Figure("seal_pending", sealed, time.perf_counter() - started))
            figures.append(self._copy_reference())
            for export_format in ("csv", "jsonl"):
                figures.append(self._export(export_format, workdir))
            figures.append(self._verify_chain())
            figures.append(self._verify_export(workdir / "ws-bench-audit.csv"))
        finally:
            if not keep:
                self._clean_up(baseline, workdir)
        self._print(figures, entries)

    # --- Steps ----------------------------------------------------------------------------------

    def _baseline(self) -> Baseline:
        return Baseline(
            max_entry_id=AuditEntry.objects.aggregate(top=Max("pk"))["top"] or 0,
            max_seal_seq=AuditSeal.objects.aggregate(top=Max("seq"))["top"] or 0,
            max_export_id=AuditExport.objects.aggregate(top=Max("pk"))["top"] or 0,
        )

    def _insert(self, entries: int) -> Figure:
        params = self._insert_params(entries)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for first in range(0, entries, INSERT_BATCH):
                last = min(first + INSERT_BATCH, entries) - 1
                cursor.execute(INSERT_SQL, {**params, "first": first, "last": last})
                self.stdout.write(f"  inserted {last + 1:,} / {entries:,}", ending="\r")
                self.stdout.flush()
            cursor.execute("ANALYZE incidents_auditentry")
        self.stdout.write("")
        return Figure(
            "insert (INSERT ... SELECT generate_series)", entries, time.perf_counter() - started
        )

    def _insert_params(self, entries: int) -> dict[str, Any]:
        users = [self._bench_user(name) for name in BENCH_USERS]
        span_us = int((QUARTER_END - QUARTER_START).total_seconds() * 1_000_000)
        return {
            "content_types": [ContentType.objects.get_by_natural_key(*m).pk for m in ENTRY_MODELS],
            "n_content_types": len(ENTRY_MODELS),
            "start": QUARTER_START,
            "step_us": span_us // max(entries, 1),
            "actors": [user.pk for user in users] + [None],
            "labels": [user.username for user in users] + ["system"],
            "emails": [user.email for user in users] + [None],
        }

    def _bench_user(self, username: str) -> Any:
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        return user

    def _copy_reference(self) -> Figure:
        """The floor: PostgreSQL's own COPY of the same rows, read and thrown away. Absolute
        timings drift ±30% between runs on shared machines; the ratio to this one less so."""
        started = time.perf_counter()
        with connection.cursor() as cursor:
            sql = "COPY (SELECT * FROM incidents_auditentry ORDER BY id) TO STDOUT WITH CSV"
            with cursor.cursor.copy(sql) as copy:
                for _ in copy:
                    pass
        return Figure("reference: COPY ... TO STDOUT", None, time.perf_counter() - started)

    def _export(self, export_format: str, workdir: Path) -> Figure:
        output = workdir / f"ws-bench-audit.{export_format}"
        argv = manage(
            "export_audit_log",
            "--kind=audit_log",
            f"--format={export_format}",
            f"--start={QUARTER_START.date()}",
            f"--end={QUARTER_END.date()}",
            f"--output={output}",
        )
        seconds, rss, _ = run_measured(argv)
        rows = AuditExport.objects.order_by("-pk").values_list("row_count", flat=True).first()
        ok = seconds < EXPORT_SECONDS and rss < EXPORT_RSS_MB
        target = f"< {EXPORT_SECONDS} s, < {EXPORT_RSS_MB} MB"
        name = f"export_audit_log {export_format} ({output.stat().st_size / 2**20:,.0f} MB file)"
        return Figure(name, rows, seconds, rss, target, ok)

    def _verify_chain(self) -> Figure:
        seconds, rss, stdout = run_measured(manage("verify_audit_log"))
        checked = int(stdout.split("intact: ")[1].split(" ")[0]) if "intact: " in stdout else None
        ok = seconds < VERIFY_SECONDS and checked is not None
        return Figure(
            "verify_audit_log (chain)", checked, seconds, rss, f"< {VERIFY_SECONDS} s", ok
        )

    def _verify_export(self, export_path: Path) -> Figure:
        manifest = export_path.with_name(export_path.name + ".manifest.json")
        argv = manage("verify_audit_log", f"--export={export_path}", f"--manifest={manifest}")
        seconds, rss, _ = run_measured(argv)
        return Figure("verify_audit_log --export (csv)", None, seconds, rss)

    def _clean_up(self, baseline: Baseline, workdir: Path) -> None:
        """Delete exactly what the bench added. The append-only trigger allows it only inside
        a transaction that opted into maintenance."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL watchstander.audit_maintenance = 'on'")
            cursor.execute(
                "DELETE FROM incidents_auditseal WHERE seq > %s", [baseline.max_seal_seq]
            )
            cursor.execute(
                "DELETE FROM incidents_auditentry WHERE id > %s", [baseline.max_entry_id]
            )
            AuditExport.objects.filter(pk__gt=baseline.max_export_id).delete()
        # The five bench users stay (a rerun reuses them): deleting users is refused by design.
        for suffix in ("csv", "jsonl"):
            for path in workdir.glob(f"ws-bench-audit.{suffix}*"):
                path.unlink()

    # --- Report ---------------------------------------------------------------------------------

    def _print(self, figures: list[Figure], entries: int) -> None:
        self.stdout.write(
            f"\nbench_audit: {entries:,} audit entries, PostgreSQL {self._pg_version()}"
        )
        header = f"{'step':<48} {'rows':>10} {'time (s)':>9} {'peak RSS':>9}  {'target':<20} ok"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for figure in figures:
            rows = f"{figure.rows:,}" if figure.rows is not None else ""
            rss = f"{figure.rss_mb:.0f} MB" if figure.rss_mb is not None else ""
            ok = "" if figure.ok is None else ("yes" if figure.ok else "NO")
            seconds = f"{figure.seconds:.1f}"
            line = f"{figure.step:<48} {rows:>10} {seconds:>9} {rss:>9}  {figure.target:<20} {ok}"
            self.stdout.write(line)
        reference = next(f for f in figures if f.step.startswith("reference"))
        for figure in figures:
            if figure.step.startswith("export_audit_log"):
                ratio = figure.seconds / reference.seconds
                self.stdout.write(f"{figure.step}: {ratio:.1f}x the COPY reference")

    def _pg_version(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return str(cursor.fetchone()[0])
