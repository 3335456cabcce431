import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.audit.chain import VerifyReport, verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and report it intact or name the first broken link"
        " (exit status 1). With --export and --manifest, verify an exported file against its"
        " manifest instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export", metavar="FILE", help="An exported CSV/JSONL file.")
        parser.add_argument("--manifest", metavar="FILE", help="The export's manifest.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export"] or options["manifest"]:
            self.verify_export(options["export"], options["manifest"])
        else:
            self.verify_log()

    def verify_log(self) -> None:
        report = verify_chain()
        if report.broken is not None:
            broken = report.broken
            entry = broken.entry_id if broken.entry_id is not None else "unknown"
            self.fail(f"Audit chain BROKEN at seq {broken.seq} (entry {entry}): {broken.reason}")
        self.stdout.write(self.intact(report))
        if report.unsealed:
            self.stdout.write(
                f"Warning: {report.unsealed} entries older than"
                f" {settings.AUDIT_SEAL_SETTLE_SECONDS} s are not sealed yet"
                " (is a worker running? `seal_audit_log --full` seals them now)."
            )

    @staticmethod
    def intact(report: VerifyReport) -> str:
        head = report.head
        where = f"head seq {head.seq} digest {head.digest}" if head else "empty chain"
        since = f" (since checkpoint seq {report.checkpoint.seq})" if report.checkpoint else ""
        return f"Audit chain intact: {report.checked} entries{since}, {where}"

    def verify_export(self, export_path: str | None, manifest_path: str | None) -> None:
        if not export_path or not manifest_path:
            raise CommandError("--export and --manifest go together.")
        # Imported here: the export module is heavier and not needed to verify the chain.
        from incidents.audit.exports import verify_export

        result = verify_export(export_path, manifest_path)
        if not result.ok:
            self.fail(result.message)
        self.stdout.write(result.message)

    def fail(self, message: str) -> None:
        self.stderr.write(message)
        sys.exit(1)
