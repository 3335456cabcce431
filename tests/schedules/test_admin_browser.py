"""A team manager builds schedules in a real browser (Playwright driving Debian's Chromium) and
reads them back from the rendered timeline: a weekly rotation with an override, and a
follow-the-sun schedule across its regions' DST changes. The screenshots are kept in
test-artifacts/."""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from schedules.models import Schedule, TeamMembership
from schedules.timeline import DASH
from tests import follow_the_sun
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


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


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

    log_in(page, live_server, "maria")

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


def add_layer(page: Any, index: int, region: follow_the_sun.Region) -> None:
    """A row of the schedule page's layers, its first handoff typed in its region's zone."""
    page.get_by_role("button", name="Add another Rotation").click()
    prefix = f"rotations-{index}"
    page.fill(f"#id_{prefix}-name", region.name)
    page.fill(f"#id_{prefix}-priority", str(region.priority))
    page.fill(f"#id_{prefix}-start_0", region.first_day)
    page.fill(f"#id_{prefix}-start_1", f"{region.start_time:%H:%M:%S}")
    page.select_option(f"#id_{prefix}-turn_unit", "weeks")
    page.select_option(f"#id_{prefix}-time_zone", region.zone)  # "": the schedule's
    page.fill(f"#id_{prefix}-people", ", ".join(region.people))


@pytest.mark.django_db(transaction=True)
def test_a_manager_builds_a_follow_the_sun_schedule_and_sees_each_region_keep_its_hours(
    live_server: Any, page: Any
) -> None:
    """The schedule of tests.follow_the_sun, built by hand in the admin on Saturday 13 March
    2027, the day before Chicago's clocks change: the 7-day timeline shows the three regions
    tiling the UTC day, then, from Sunday evening, the backstop's hour that Chicago's change
    leaves (and the rows' titles say each region's UTC hours)."""
    team = TeamFactory(name="Global SRE")
    maria = UserFactory(username="maria", is_staff=True)
    MembershipFactory(team=team, user=maria, role=Role.MANAGER)
    follow_the_sun.team_with_people(team)
    page.set_default_timeout(10_000)

    with time_machine.travel(follow_the_sun.utc(2027, 3, 13, 0, 30), tick=True):
        log_in(page, live_server, "maria")
        page.goto(f"{live_server.url}/admin/schedules/schedule/add/")
        page.select_option("#id_team", label="Global SRE")
        page.fill("#id_name", follow_the_sun.NAME)
        page.select_option("#id_time_zone", "UTC")
        for index, region in enumerate(follow_the_sun.REGIONS):
            add_layer(page, index, region)
        submit(page, "_continue")
        schedule = Schedule.objects.get(name=follow_the_sun.NAME)
        starts = dict(schedule.rotations.values_list("name", "start"))
        assert starts == follow_the_sun.FIRST_HANDOFFS  # each typed in its own zone

        # Each region's hours, on its layer's page, in its zone.
        for region in follow_the_sun.REGIONS:
            if region.hours is None:
                continue
            layer = schedule.rotations.get(name=region.name)
            page.goto(f"{live_server.url}/admin/schedules/rotation/{layer.pk}/change/")
            assert f"in these windows, in {region.zone} (its own time zone" in page.content()
            page.get_by_role("button", name="Add another Restriction").click()
            page.fill("#id_restrictions-0-start_time", f"{region.hours[0]:%H:%M}")
            page.fill("#id_restrictions-0-end_time", f"{region.hours[1]:%H:%M}")
            submit(page, "_save")  # back to the schedule's page

        page.goto(f"{live_server.url}/admin/schedules/schedule/{schedule.pk}/change/?days=7")
        final = page.locator('[data-row="final"] .ws-segment')
        people = [final.nth(i).get_attribute("data-person") for i in range(12)]
        titles = final.locator("title").all_text_contents()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "follow-the-sun-timeline.png"), full_page=True)

    assert people == [
        *["sue", "lucy", "cara"],  # Saturday: Sydney 23-07, London 07-15, Chicago 15-23 UTC
        *["sue", "lucy", "cara", "bea"],  # Sunday: Chicago now 14-22 UTC; 22-23 the backstop's
        *["sam", "liam", "cole", "bea"],  # Monday, the week's new turns: the same hours
        "sam",
    ]
    assert titles[2].startswith(f"cara, Sat 13 Mar 15:00 {DASH} 23:00 UTC")
    assert titles[5].startswith(f"cara, Sun 14 Mar 15:00 {DASH} 22:00 UTC")
    assert titles[6].startswith(f"bea, Sun 14 Mar 22:00 {DASH} 23:00 UTC")
    assert titles[7].startswith(f"sam, Sun 14 Mar 23:00 {DASH} Mon 15 Mar 07:00 UTC")
