from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.audit.actors import audit_actor_system
from incidents.audit.prune import PruneRefused, prune_audit_log


class Command(BaseCommand):
    help = (
        "Delete audit entries older than the retention period (AUDIT_RETENTION_DAYS or --days),"
        " keeping a signed checkpoint so the rest of the chain still verifies. Seals and"
        " verifies first; refuses to prune a broken chain. The pruning is itself audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="Keep this many days (default: setting).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say how many entries would go."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.AUDIT_RETENTION_DAYS
        if days == 0 and options["days"] is None:
            self.stdout.write("Retention is off (AUDIT_RETENTION_DAYS=0): nothing pruned.")
            return
        if days < 1:
            raise CommandError("--days must be at least 1.")
        try:
            with audit_actor_system("prune_audit_log"):
                report = prune_audit_log(days=days, dry_run=options["dry_run"])
        except PruneRefused as exc:
            raise CommandError(str(exc)) from exc
        before = f"{report.cutoff:%Y-%m-%d %H:%M:%S} UTC"
        if report.dry_run:
            self.stdout.write(f"Would prune {report.entries} audit entries before {before}.")
        elif report.checkpoint is None:
            self.stdout.write(f"No sealed audit entries before {before}: nothing pruned.")
        else:
            self.stdout.write(
                f"Pruned {report.entries} audit entries before {before};"
                f" checkpoint at seq {report.checkpoint.seq}."
            )
