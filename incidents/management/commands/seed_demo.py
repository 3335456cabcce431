import json
import shlex
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from incidents.demo import Demo, seed_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo teams, people, services, integrations and schedules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print what exists as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        demo = seed_demo()
        report = {"admin_url": f"{settings.SITE_URL}/admin/", **asdict(demo)}
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(self.banner(report["admin_url"], demo))

    def banner(self, admin_url: str, demo: Demo) -> str:
        lines = [f"\nAdmin: {admin_url}", "Logins:"]
        lines += [
            f"  {user['username']:<6} password {user['password']}  {user['role']}; "
            f"API token {user['api_token']}"
            for user in demo.users
        ]
        lines.append("Integrations:")
        lines += [
            f"  {i['name']} of {i['service']} ({i['team']}): {i['url']}  (key {i['key']})"
            for i in demo.integrations
        ]
        lines.append("Schedules (iCal subscription URLs):")
        lines += [f"  {s['name']} ({s['time_zone']}): {s['ical_url']}" for s in demo.schedules]
        events_api = next(i for i in demo.integrations if i["kind"] == "events_api_v2")
        event = {
            "routing_key": events_api["key"],
            "event_action": "trigger",
            "dedup_key": "demo-disk-full",
            "payload": {
                "summary": "Disk 95% full on db-1",
                "source": "db-1",
                "severity": "critical",
            },
        }
        lines += [
            "Post a sample alert (it pages alice; bob 2 minutes later unless she acknowledges):",
            f"  curl -X POST {events_api['url']} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(event))}",
            f"Pages are e-mailed through {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]} e-mail"
            + (
                f" into {settings.EMAIL_FILE_PATH}" if "filebased" in settings.EMAIL_BACKEND else ""
            ),
            "",
        ]
        return "\n".join(lines)
