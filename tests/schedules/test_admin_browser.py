"""A team manager builds a schedule in a real browser (Playwright driving Debian's Chromium) and
reads it back from the rendered timeline. The screenshot is kept in test-artifacts/."""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from schedules.models import TeamMembership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
BERLIN = ZoneInfo("Europe/Berlin")
Role = TeamMembership.Role


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # The manager works in Berlin, like the schedule: the date pickers' "Now" agrees with it.
    return {**browser_context_args, "timezone_id": "Europe/Berlin"}


def first_day() -> date:
    """Today in Berlin, or tomorrow late in the evening: the page must not see a different
    'today' than the test did (the timeline starts at the start of the page's today)."""
    local = timezone.now().astimezone(BERLIN)
    return local.date() + timedelta(days=1 if local.hour >= 23 else 0)


def submit(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.click(f"input[name={button}]")


def fill_local(page: Any, field: str, day: date, clock: str) -> None:
    page.fill(f"#id_{field}_0", day.isoformat())
    page.fill(f"#id_{field}_1", clock)


@pytest.mark.django_db(transaction=True)
def test_a_manager_builds_a_weekly_rotation_with_an_override_and_reads_the_timeline(
    live_server: Any, page: Any
) -> None:
    team = TeamFactory(name="Platform")
    maria = UserFactory(username="maria", is_staff=True)  # a manager, not a superuser
    MembershipFactory(team=team, user=maria, role=Role.MANAGER)
    for name in ("alice", "bob", "carol"):
        MembershipFactory(team=team, user=UserFactory(username=name, is_staff=True))
    day = first_day()
    page.set_default_timeout(10_000)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")

    # All on the schedule's add page: the schedule, its weekly layer of three people starting
    # at 09:00 Berlin time on the first day, and Carol covering the third day.
    page.goto(f"{live_server.url}/admin/schedules/schedule/add/")
    page.select_option("#id_team", label="Platform")
    page.fill("#id_name", "Platform primary")
    page.select_option("#id_time_zone", "Europe/Berlin")
    page.get_by_role("button", name="Add another Rotation").click()
    page.fill("#id_rotations-0-name", "Weekly")
    fill_local(page, "rotations-0-start", day, "09:00:00")
    page.select_option("#id_rotations-0-turn_unit", "weeks")
    page.fill("#id_rotations-0-people", "alice, bob\ncarol")
    page.get_by_role("button", name="Add another Override").click()
    page.select_option("#id_overrides-0-user", label="carol")
    fill_local(page, "overrides-0-start", day + timedelta(days=2), "09:00:00")
    fill_local(page, "overrides-0-end", day + timedelta(days=3), "09:00:00")
    submit(page, "_continue")

    final_row = page.locator('[data-row="final"] .ws-segment text')
    names = [name for name in final_row.all_text_contents() if name != "gap"]
    assert page.input_value("#id_rotations-0-people") == "alice, bob, carol"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "schedule-timeline.png"), full_page=True)
    # Alice's week, interrupted by Carol's override on day 3, then Bob's week (the 14 days
    # end before Carol's turn).
    assert names == ["alice", "carol", "alice", "bob"]
    assert page.locator("[data-row] .ws-now").count() == 2  # a line in each row: layer, final
    handoff = datetime.combine(day, datetime.min.time()).replace(hour=9)
    title = page.locator('[data-row="final"] .ws-segment title').nth(1).text_content()
    assert title.startswith(f"alice, {handoff:%a} {handoff.day} {handoff:%b} 09:00")
