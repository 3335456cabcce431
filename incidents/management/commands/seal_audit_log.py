from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from incidents.audit.actors import audit_actor_system
from incidents.audit.chain import chain_head, seal_pending


class Command(BaseCommand):
    help = (
        "Seal audit entries into the hash chain now (the reconciler does this every ~30 s)."
        " Prints how many were sealed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="Search the whole log for unsealed entries, not only recent ones.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_actor_system("seal_audit_log"):
            sealed = seal_pending(full=options["full"])
        head = chain_head()
        where = f"; head seq {head.seq} digest {head.digest}" if head else ""
        self.stdout.write(f"Sealed {sealed} audit entries{where}")
