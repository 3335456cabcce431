"""`manage.py export_audit_log`: write an export and its manifest to files."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from incidents.audit.exports import (
    ExportParameterError,
    can_export,
    command_line_label,
    export_begin,
    export_request_from_params,
    export_stream,
    manifest_json,
)
from incidents.audit.models import AuditExport


class Command(BaseCommand):
    help = (
        "Export the audit log, incident records or response times for the period [start, end) "
        "as CSV or JSON Lines, streamed to --output, with its manifest next to it in "
        "OUTPUT.manifest.json (row count, SHA-256, filters, audit chain head). Prints the "
        "manifest's path. With --user, the export is made as (and checked against the export "
        "permission of) that person; without it, it is logged as made from the command line."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--kind", required=True, choices=AuditExport.Kind.values)
        parser.add_argument("--format", required=True, choices=AuditExport.Format.values)
        parser.add_argument("--start", required=True, help="YYYY-MM-DD or ISO 8601 (inclusive)")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD or ISO 8601 (exclusive)")
        parser.add_argument("--team", help="team name or id")
        parser.add_argument("--model", help="app_label.model, audit_log only")
        parser.add_argument("--actor", help="username or actor label")
        parser.add_argument("--user", help="make the export as this user (needs the permission)")
        parser.add_argument("--output", required=True, type=Path, help="file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            request = export_request_from_params(options)
        except ExportParameterError as exc:
            raise CommandError(str(exc)) from exc
        user = self._user(options["user"])
        output: Path = options["output"]
        manifest_path = output.with_name(output.name + ".manifest.json")
        export = export_begin(request, requested_by=user, actor_label=command_line_label())
        with open(output, "wb") as file:
            for chunk in export_stream(export):
                file.write(chunk)
        export.refresh_from_db()
        manifest_path.write_text(manifest_json(export), encoding="utf-8")
        self.stdout.write(str(manifest_path))

    def _user(self, username: str | None) -> Any:
        # Whoever can run manage.py holds the database credentials, so without --user there
        # is nothing to check; with it, the export is refused as it would be in the admin.
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"user: there is no user {username!r}.")
        if not can_export(user):
            raise CommandError(f"user: {username} may not export the audit log.")
        return user
