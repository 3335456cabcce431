"""The schedule pages of the admin, as a manager, a responder and other teams' people use them:
the timeline, the forms (times in the schedule's zone, people from the schedule's team),
"take this shift", the warnings about gaps, the on-call column, and personal settings."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalation.models import EscalationPolicy
from incidents.models import AuditEntry
from schedules.admin.forms import OverrideForm
from schedules.admin.schedules import OVERRIDES_LISTED
from schedules.feeds import person_feed_url, schedule_feed_url
from schedules.models import (
    Override,
    PersonSettings,
    Restriction,
    Rotation,
    RotationParticipant,
    Schedule,
    Team,
    TeamMembership,
)
from schedules.timeline import DASH, GAP
from tests.factories import MembershipFactory, TeamFactory, UserFactory, add_level

pytestmark = pytest.mark.django_db

Role = TeamMembership.Role
BERLIN = "Europe/Berlin"
# Monday 7 January 2030, 10:00 in Berlin (UTC+1 in winter).
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
FIRST_HANDOFF = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 local
# The schedule page's queries, whatever it shows: the page, its permissions, its inlines, the
# timeline's rules (measured: 42; ~95 before permissions were answered once per request).
QUERIES_ON_THE_SCHEDULE_PAGE = 45


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@dataclass
class People:
    team: Team
    other_team: Team
    maria: Any  # manages team
    alice: Any
    bob: Any
    ivan: Any  # a member who has left the company (inactive)
    sam: Any  # manages other_team
    rita: Any  # responder of other_team
    schedule: Schedule
    rotation: Rotation


def member(team: Team, username: str, role: str = Role.RESPONDER, **extra: Any) -> Any:
    user = UserFactory(username=username, is_staff=True, **extra)
    MembershipFactory(team=team, user=user, role=role)
    return user


def weekly_rotation(schedule: Schedule, people: list[Any], start: datetime) -> Rotation:
    rotation = Rotation.objects.create(
        schedule=schedule, name="Primary", start=start, turn_unit=Rotation.Unit.WEEKS
    )
    for position, user in enumerate(people):
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    return rotation


@pytest.fixture
def people() -> People:
    team, other_team = TeamFactory(name="Platform"), TeamFactory(name="Security")
    maria = member(team, "maria", Role.MANAGER)
    alice, bob = member(team, "alice"), member(team, "bob")
    ivan = member(team, "ivan", is_active=False)
    sam, rita = member(other_team, "sam", Role.MANAGER), member(other_team, "rita")
    schedule = Schedule.objects.create(team=team, name="Platform primary", time_zone=BERLIN)
    rotation = weekly_rotation(schedule, [alice, bob], FIRST_HANDOFF)
    return People(team, other_team, maria, alice, bob, ivan, sam, rita, schedule, rotation)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:schedules_{name}", args=args)


class FormData(HTMLParser):
    """A page's main form, as a browser would submit it untouched (and each select's options)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.data: dict[str, Any] = {}
        self.options: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or not (a.get("name") or tag == "option"):
            return
        if tag == "input" and a.get("type") not in {"submit", "button", "checkbox"}:
            self.data[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.data[a["name"]] = "on"
        elif tag == "select":
            self._select = a["name"]
            self.options[a["name"]] = []
            self.data.setdefault(a["name"], "")
        elif tag == "option" and self._select:
            self.options[self._select].append(a.get("value", ""))
            if "selected" in a:
                self.data[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data[a["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def scrape(client: Client, page: str, form_id: str) -> FormData:
    response = client.get(page)
    assert response.status_code == 200, page
    parser = FormData(form_id)
    parser.feed(response.content.decode())
    return parser


def add_row(data: dict[str, Any], prefix: str, **fields: Any) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    data.update({f"{prefix}-{index}-{key}": value for key, value in fields.items()})


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def final_people(response: Any) -> list[str]:
    return [segment.label for segment in response.context["timeline"].final.segments]


# --- The timeline on the schedule page ------------------------------------------------------


def test_the_schedule_page_shows_the_timeline_to_its_manager(people: People) -> None:
    response = client_for(people.maria).get(url("schedule_change", people.schedule.pk))

    assert response.status_code == 200
    timeline = response.context["timeline"]
    assert (timeline.days, timeline.time_zone) == (14, BERLIN)
    assert [row.label for row in timeline.rows] == ["Primary", "Final schedule"]
    # From Monday 00:00 local: nobody until the first handoff at 09:00, then weekly turns.
    assert final_people(response) == [GAP, "alice", "bob"]
    html = response.content.decode()
    assert 'id="schedule-timeline"' in html
    assert f"<title>alice, Mon 7 Jan 09:00 {DASH} Mon 14 Jan 09:00 CET" in html
    assert "Timeline: the next 14 days, times in Europe/Berlin" in html


@pytest.mark.parametrize("days", [7, 28])
def test_the_timeline_switches_to_7_or_28_days(people: People, days: int) -> None:
    page = url("schedule_change", people.schedule.pk)

    response = client_for(people.maria).get(page, {"days": days})

    assert response.context["timeline"].days == days
    assert len(response.context["timeline"].ticks) == days
    others = sorted({7, 14, 28} - {days})
    assert all(f'href="?days={other}"' in response.content.decode() for other in others)


def test_final_segments_link_to_the_prefilled_override_form(people: People) -> None:
    response = client_for(people.maria).get(url("schedule_change", people.schedule.pk))

    alice = response.context["timeline"].final.segments[1]
    link = urlsplit(alice.link)
    assert link.path == url("override_add")
    assert parse_qs(link.query) == {
        "schedule": [str(people.schedule.pk)],
        "start": ["2030-01-07T09:00:00Z"],  # now: the part of alice's turn still ahead
        "end": ["2030-01-14T08:00:00Z"],
        "user": [str(people.maria.pk)],
    }
    assert alice.link.replace("&", "&amp;") in response.content.decode()


def test_a_responder_sees_the_timeline_and_may_take_shifts_for_themselves(
    people: People,
) -> None:
    response = client_for(people.alice).get(url("schedule_change", people.schedule.pk))

    assert response.status_code == 200
    assert final_people(response) == [GAP, "alice", "bob"]
    final = response.context["timeline"].final.segments
    links = [urlsplit(segment.link) for segment in final if segment.link]
    assert len(links) == 2  # alice's turn and bob's, from now on: the gap is over
    assert all(parse_qs(link.query)["user"] == [str(people.alice.pk)] for link in links)
    assert 'class="ws-take"' in response.content.decode()


def test_a_reader_outside_the_team_gets_no_take_links(people: People) -> None:
    reader = UserFactory(username="audrey", is_staff=True)  # reads every schedule, in no team
    reader.user_permissions.add(Permission.objects.get(codename="view_schedule"))

    response = client_for(reader).get(url("schedule_change", people.schedule.pk))

    assert response.status_code == 200
    assert final_people(response) == [GAP, "alice", "bob"]
    assert all(not s.link for s in response.context["timeline"].final.segments)


def test_another_teams_manager_cannot_open_the_schedule(people: People) -> None:
    response = client_for(people.sam).get(url("schedule_change", people.schedule.pk))

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("admin:index")


# --- Forms: times in the schedule's zone, people from its team -------------------------------


def schedule_form(team: Team, **fields: Any) -> dict[str, Any]:
    data = {"team": team.pk, "name": "Follow the sun", "time_zone": BERLIN, "description": ""}
    for prefix in ("rotations", "overrides"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | fields


def test_a_manager_adds_a_schedule_whose_times_are_typed_in_its_zone(people: People) -> None:
    data = schedule_form(people.team)
    add_row(
        data,
        "rotations",
        name="Day shift",
        priority="1",
        start_0="2030-07-01",
        start_1="09:00:00",  # summer time in Berlin: UTC+2
        turn_length="1",
        turn_unit="weeks",
        people="alice",
    )

    response = client_for(people.maria).post(url("schedule_add"), data)

    assert response.status_code == 302
    schedule = Schedule.objects.get(name="Follow the sun")
    assert schedule.team == people.team
    assert schedule.rotations.get().start == utc(2030, 7, 1, 7)


def test_the_datetime_inputs_say_which_zone_they_are_in(people: People) -> None:
    response = client_for(people.maria).get(url("rotation_change", people.rotation.pk))

    assert "The first handoff. Local time in Europe/Berlin, the schedule's time zone." in (
        response.content.decode()
    )
    form = scrape(
        client_for(people.maria), url("rotation_change", people.rotation.pk), "rotation_form"
    )
    assert (form.data["start_0"], form.data["start_1"]) == ("2030-01-07", "09:00:00")


def test_a_manager_cannot_add_a_schedule_to_another_team(people: People) -> None:
    response = client_for(people.maria).post(url("schedule_add"), schedule_form(people.other_team))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Schedule.objects.filter(name="Follow the sun").exists()


def test_a_schedule_moves_to_another_team_only_with_its_people(people: People) -> None:
    third = TeamFactory(name="Databases")
    MembershipFactory(team=third, user=people.maria, role=Role.MANAGER)
    MembershipFactory(team=third, user=people.alice)
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data | {"team": str(third.pk)}

    refused = client.post(page, data)
    MembershipFactory(team=third, user=people.bob)
    moved = client.post(page, data)

    assert "bob would be on call for Databases without being in it" in refused.content.decode()
    assert moved.status_code == 302
    people.schedule.refresh_from_db()
    assert people.schedule.team == third


def test_a_schedule_escalation_levels_page_through_stays_with_its_team(people: People) -> None:
    """Moved, it would let the other team's managers decide whom the policy's incidents page."""
    third = TeamFactory(name="Databases")
    MembershipFactory(team=third, user=people.maria, role=Role.MANAGER)
    for user in (people.alice, people.bob):  # the schedule's people are in it too
        MembershipFactory(team=third, user=user)
    policy = EscalationPolicy.objects.create(team=people.team, name="Platform paging")
    add_level(policy, [], timedelta(minutes=5)).schedules.add(people.schedule)
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data | {"team": str(third.pk)}

    refused = client.post(page, data)

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["team"] == [
        "Escalation policies outside Databases page whoever is on call in it: "
        "Platform paging (Platform). Take it off their levels first."
    ]
    people.schedule.refresh_from_db()
    assert people.schedule.team == people.team


def test_a_schedule_a_level_pages_through_is_not_deleted_and_the_page_names_the_level(
    people: People,
) -> None:
    """Deleted, it would silently leave the level paging nobody."""
    policy = EscalationPolicy.objects.create(team=people.team, name="Platform paging")
    level = add_level(policy, [], timedelta(minutes=5))
    level.schedules.add(people.schedule)
    client = client_for(people.maria)
    page = url("schedule_delete", people.schedule.pk)

    shown = client.get(page).content.decode()
    refused = client.post(page, {"post": "yes"})
    selected = {"action": "delete_selected", "_selected_action": [people.schedule.pk]}
    action = client.post(url("schedule_changelist"), selected | {"post": "yes"})

    assert "would require deleting the following protected related objects" in shown
    assert "Escalation level: Platform paging level 1" in shown
    assert (refused.status_code, action.status_code) == (200, 200)
    assert "Platform paging level 1" in action.content.decode()
    assert Schedule.objects.filter(pk=people.schedule.pk).exists()
    assert list(level.schedules.all()) == [people.schedule]
    level.schedules.clear()  # let go of it: now it may go
    assert client.post(page, {"post": "yes"}).status_code == 302
    assert not Schedule.objects.filter(pk=people.schedule.pk).exists()


def test_participants_are_offered_from_the_schedules_team_only(people: People) -> None:
    form = scrape(
        client_for(people.maria), url("rotation_change", people.rotation.pk), "rotation_form"
    )

    offered = set(form.options["participants-0-user"]) - {""}
    assert offered == {str(u.pk) for u in (people.maria, people.alice, people.bob)}
    assert "schedule" not in form.options  # shown, not editable: the layer keeps its schedule


def test_a_manager_orders_participants_and_may_repeat_a_person(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    # The two existing rows swap places, and alice takes a third place.
    data["participants-0-position"], data["participants-1-position"] = "2", "1"
    data["participants-2-user"], data["participants-2-position"] = str(people.alice.pk), "3"

    response = client.post(page, data)

    assert response.status_code == 302
    assert response.headers["Location"] == url("schedule_change", people.schedule.pk)
    order = people.rotation.participants.order_by("position").values_list("user", flat=True)
    assert list(order) == [people.bob.pk, people.alice.pk, people.alice.pk]


@pytest.mark.parametrize("who", ["rita", "ivan"])
def test_a_forged_participant_outside_the_team_is_refused(people: People, who: str) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data["participants-2-user"] = str(getattr(people, who).pk)
    data["participants-2-position"] = "5"

    response = client.post(page, data)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert people.rotation.participants.count() == 2


def databases(people: People, *members: Any) -> Schedule:
    """Another team maria manages, with a schedule of its own."""
    third = TeamFactory(name="Databases")
    for user in (people.maria, *members):
        role = Role.MANAGER if user == people.maria else Role.RESPONDER
        MembershipFactory(team=third, user=user, role=role)
    return Schedule.objects.create(team=third, name="DB primary", time_zone=BERLIN)


@pytest.mark.parametrize("whose", ["another team's", "another managed team's"])
def test_a_rotation_stays_on_its_schedule(people: People, whose: str) -> None:
    if whose == "another team's":
        target = Schedule.objects.create(team=people.other_team, name="Security primary")
    else:
        target = databases(people)  # alice and bob are not in it
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data | {"schedule": str(target.pk)}

    response = client.post(page, data)

    assert response.status_code == 302  # saved, without the schedule it cannot change
    people.rotation.refresh_from_db()
    assert people.rotation.schedule == people.schedule
    assert f'href="{url("schedule_change", people.schedule.pk)}"' in (
        client.get(page).content.decode()  # shown as a link to it
    )


def test_an_override_stays_on_its_schedule(people: People) -> None:
    target = databases(people, people.alice)
    override = Override.objects.create(
        schedule=people.schedule, user=people.alice, start=NOW, end=NOW + timedelta(hours=3)
    )
    client = client_for(people.maria)
    page = url("override_change", override.pk)
    form = scrape(client, page, "override_form")
    assert "schedule" not in form.options

    response = client.post(page, form.data | {"schedule": str(target.pk)})

    assert response.status_code == 302
    override.refresh_from_db()
    assert override.schedule == people.schedule


def test_new_rotations_and_overrides_still_choose_their_schedule(people: People) -> None:
    client = client_for(people.maria)

    for name in ("rotation_add", "override_add"):
        form = scrape(client, url(name), f"{name.split('_')[0]}_form")
        assert set(form.options["schedule"]) - {""} == {str(people.schedule.pk)}


def test_another_teams_manager_can_neither_see_nor_change_the_rotation(people: People) -> None:
    client = client_for(people.sam)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client_for(people.maria), page, "rotation_form").data | {"name": "Hijacked"}

    assert client.get(page).status_code == 302
    assert client.post(page, data).status_code in {302, 403}
    assert client.get(url("rotation_changelist")).context["cl"].result_count == 0
    people.rotation.refresh_from_db()
    assert people.rotation.name == "Primary"


def test_a_responder_sees_the_rotation_but_cannot_change_it(people: People) -> None:
    client = client_for(people.alice)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client_for(people.maria), page, "rotation_form").data | {"name": "Mine"}

    assert client.get(page).status_code == 200
    assert client.post(page, data).status_code == 403
    people.rotation.refresh_from_db()
    assert people.rotation.name == "Primary"


def test_a_restriction_is_added_on_the_rotation_page(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    add_row(data, "restrictions", start_day="0", start_time="09:00", end_day="4", end_time="17:00")

    assert client.post(page, data).status_code == 302

    restriction = Restriction.objects.get(rotation=people.rotation)
    assert (restriction.start_day, restriction.end_time) == (0, time(17))


def test_the_rotation_page_keeps_at_least_one_participant(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    for index in range(int(data["participants-INITIAL_FORMS"])):
        data[f"participants-{index}-DELETE"] = "on"

    response = client.post(page, data)

    assert response.status_code == 200
    [participants, _restrictions] = response.context["inline_admin_formsets"]
    assert participants.formset.non_form_errors() == ["A rotation needs at least one participant."]
    assert turn_order(people.rotation) == ["alice", "bob"]


def test_a_priority_past_a_small_integer_is_refused_on_every_database(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data["priority"] = "70000"

    response = client.post(page, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["priority"] == [
        "Ensure this value is less than or equal to 32767."
    ]
    assert Rotation.objects.get(pk=people.rotation.pk).priority == 1


# --- A layer's people, on the schedule's page --------------------------------------------------


def schedule_page(client: Client, people: People) -> tuple[str, dict[str, Any]]:
    page = url("schedule_change", people.schedule.pk)
    return page, scrape(client, page, "schedule_form").data


def turn_order(rotation: Rotation) -> list[str]:
    places = rotation.participants.order_by("position", "pk")
    return list(places.values_list("user__username", flat=True))


def audit_entries(model: type[Any]) -> Any:
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(model))


def test_the_schedule_page_lists_each_layers_people_in_turn_order(people: People) -> None:
    RotationParticipant.objects.create(rotation=people.rotation, user=people.alice, position=7)
    client = client_for(people.maria)

    page, data = schedule_page(client, people)

    assert data["rotations-0-people"] == "alice, bob, alice"
    html = client.get(page).content.decode()
    assert "Participants, in turn order" in html
    assert "Active members of the schedule&#x27;s team: alice, bob, maria." in html


def test_a_manager_adds_a_layer_and_its_people_on_the_schedules_add_page(people: People) -> None:
    data = schedule_form(people.team)
    add_row(
        data,
        "rotations",
        name="Weekly",
        priority="1",
        start_0="2030-01-07",
        start_1="09:00:00",
        turn_length="1",
        turn_unit="weeks",
        people="alice,\r\nbob  maria, alice",  # commas, new lines, spaces; alice twice
    )

    response = client_for(people.maria).post(url("schedule_add"), data)

    assert response.status_code == 302
    rotation = Rotation.objects.get(schedule__name="Follow the sun")
    assert turn_order(rotation) == ["alice", "bob", "maria", "alice"]
    assert sorted(rotation.participants.values_list("position", flat=True)) == [0, 1, 2, 3]


def test_changing_the_people_saves_only_the_places_that_change(people: People) -> None:
    client = client_for(people.maria)
    page, data = schedule_page(client, people)
    before = audit_entries(RotationParticipant).count()

    untouched = client.post(page, data | {"rotations-0-people": "alice,bob"})  # same list
    grown = client.post(page, data | {"rotations-0-people": "alice, bob, alice"})

    assert (untouched.status_code, grown.status_code) == (302, 302)
    assert turn_order(people.rotation) == ["alice", "bob", "alice"]
    entries = audit_entries(RotationParticipant).order_by("pk")[before:]
    assert [(entry.action, entry.actor) for entry in entries] == [
        (AuditEntry.Action.CREATE, people.maria)  # the new third place, nothing rewritten
    ]


def test_people_outside_the_team_are_refused_by_name(people: People) -> None:
    client = client_for(people.maria)
    page, data = schedule_page(client, people)

    response = client.post(page, data | {"rotations-0-people": "alice, rita, zed, ivan, rita"})

    assert response.status_code == 200
    assert "Not active members of Platform: rita, zed, ivan." in response.content.decode()
    assert turn_order(people.rotation) == ["alice", "bob"]


def test_a_layer_made_on_the_schedule_page_needs_people(people: People) -> None:
    client = client_for(people.maria)
    page, data = schedule_page(client, people)
    cleared = client.post(page, data | {"rotations-0-people": " , "})
    new = schedule_form(people.team)
    add_row(new, "rotations", name="Empty", priority="1", start_0="2030-01-07", start_1="09:00")

    added = client.post(url("schedule_add"), new)

    for response in (cleared, added):
        assert response.status_code == 200
        assert "Give at least one person" in response.content.decode()
    assert turn_order(people.rotation) == ["alice", "bob"]
    assert not Schedule.objects.filter(name="Follow the sun").exists()


def test_a_responder_reads_the_people_but_gets_no_field(people: People) -> None:
    html = client_for(people.alice).get(url("schedule_change", people.schedule.pk)).content

    assert "alice → bob" in html.decode()
    assert b'name="rotations-0-people"' not in html


def test_a_team_change_checks_the_people_added_in_the_same_post_against_the_new_team(
    people: People,
) -> None:
    new_team = databases(people, people.alice, people.bob).team
    carol = member(people.team, "carol")
    member(new_team, "dave")  # in Databases only
    client = client_for(people.maria)
    page, data = schedule_page(client, people)
    moved = data | {"team": str(new_team.pk)}
    with_override = dict(moved)
    add_row(
        with_override,
        "overrides",
        user=str(carol.pk),  # offered: the page was drawn for Platform
        start_0="2030-01-08",
        start_1="09:00:00",
        end_0="2030-01-09",
        end_1="09:00:00",
    )

    layer = client.post(page, moved | {"rotations-0-people": "alice, carol"})
    override = client.post(page, with_override)
    people.schedule.refresh_from_db()
    assert people.schedule.team == people.team  # both refused
    accepted = client.post(page, moved | {"rotations-0-people": "alice, dave"})

    assert "Not active members of Databases: carol." in layer.content.decode()
    assert "carol is not an active member of Databases." in override.content.decode()
    assert accepted.status_code == 302
    people.schedule.refresh_from_db()
    assert people.schedule.team == new_team
    assert turn_order(people.rotation) == ["alice", "dave"]
    assert not Override.objects.exists()


# --- Changing a schedule's time zone -----------------------------------------------------------


def test_changing_the_time_zone_keeps_every_instant(people: People) -> None:
    upcoming = Override.objects.create(
        schedule=people.schedule,
        user=people.alice,
        start=NOW + timedelta(days=2),
        end=NOW + timedelta(days=3),
    )
    client = client_for(people.maria)
    page, data = schedule_page(client, people)
    assert (data["rotations-0-start_0"], data["rotations-0-start_1"]) == ("2030-01-07", "09:00:00")

    response = client.post(page, data | {"time_zone": "America/Chicago"})

    assert response.status_code == 302
    people.schedule.refresh_from_db()
    people.rotation.refresh_from_db()
    upcoming.refresh_from_db()
    assert people.schedule.time_zone == "America/Chicago"
    assert people.rotation.start == FIRST_HANDOFF  # 09:00 in Berlin, 02:00 in Chicago
    assert (upcoming.start, upcoming.end) == (NOW + timedelta(days=2), NOW + timedelta(days=3))
    shown = scrape(client, page, "schedule_form").data
    assert (shown["rotations-0-start_0"], shown["rotations-0-start_1"]) == (
        "2030-01-07",
        "02:00:00",
    )
    assert any(m.startswith("The time zone is now America/Chicago") for m in messages_of(response))


def test_the_time_zone_field_says_that_instants_are_kept(people: People) -> None:
    html = client_for(people.maria).get(url("schedule_change", people.schedule.pk)).content

    assert b"Changing it keeps every handoff, end and override at the same instant" in html


# --- A layer in a zone of its own (follow the sun) ----------------------------------------------

SYDNEY = "Australia/Sydney"  # UTC+11 in January (summer time there)


def test_a_new_layer_is_typed_in_the_zone_its_row_names(people: People) -> None:
    data = schedule_form(people.team)  # a Berlin schedule
    add_row(
        data,
        "rotations",
        name="Sydney",
        priority="2",
        start_0="2030-01-08",
        start_1="09:00:00",  # Sydney's, not Berlin's
        turn_length="1",
        turn_unit="days",
        time_zone=SYDNEY,
        people="alice",
    )

    response = client_for(people.maria).post(url("schedule_add"), data)

    assert response.status_code == 302
    layer = Rotation.objects.get(schedule__name="Follow the sun")
    assert (layer.time_zone, layer.start) == (SYDNEY, utc(2030, 1, 7, 22))


def test_a_layers_own_zone_is_how_the_schedule_page_shows_and_keeps_its_start(
    people: People,
) -> None:
    people.rotation.time_zone = SYDNEY
    people.rotation.save()
    client = client_for(people.maria)
    page, data = schedule_page(client, people)
    assert (data["rotations-0-start_0"], data["rotations-0-start_1"]) == ("2030-01-07", "19:00:00")
    assert data["rotations-0-time_zone"] == SYDNEY

    untouched = client.post(page, data)
    back_to_the_schedules = client.post(page, data | {"rotations-0-time_zone": ""})

    assert (untouched.status_code, back_to_the_schedules.status_code) == (302, 302)
    people.rotation.refresh_from_db()
    assert (people.rotation.time_zone, people.rotation.start) == ("", FIRST_HANDOFF)
    shown = scrape(client, page, "schedule_form").data  # now in Berlin's
    assert (shown["rotations-0-start_0"], shown["rotations-0-start_1"]) == (
        "2030-01-07",
        "09:00:00",
    )


def test_a_layer_zone_must_be_an_iana_name(people: People) -> None:
    client = client_for(people.maria)
    page, data = schedule_page(client, people)

    response = client.post(page, data | {"rotations-0-time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 200
    assert "Select a valid choice. Mars/Olympus_Mons is not one" in response.content.decode()
    people.rotation.refresh_from_db()
    assert people.rotation.time_zone == ""


def test_a_layer_stored_with_a_zone_that_is_not_one_can_be_repaired(people: People) -> None:
    Rotation.objects.filter(pk=people.rotation.pk).update(time_zone="Mars/Olympus_Mons")
    client = client_for(people.maria)

    for page in (
        url("schedule_change", people.schedule.pk),
        url("rotation_change", people.rotation.pk),
    ):
        assert client.get(page).status_code == 200
    note = client.get(url("schedule_change", people.schedule.pk)).content.decode()
    assert "This schedule&#x27;s rules cannot be computed" in note
    page, data = schedule_page(client, people)
    assert data["rotations-0-time_zone"] == ""  # offered: the schedule's
    assert client.post(page, data).status_code == 302

    people.rotation.refresh_from_db()
    assert (people.rotation.time_zone, people.rotation.start) == ("", FIRST_HANDOFF)


def test_a_schedule_stored_with_a_zone_that_is_not_one_must_be_given_one(people: People) -> None:
    Schedule.objects.filter(pk=people.schedule.pk).update(time_zone="Mars/Olympus_Mons")
    client = client_for(people.maria)

    page, data = schedule_page(client, people)  # it opens, in the server's zone
    untouched = client.post(page, data)
    chosen = client.post(page, data | {"time_zone": BERLIN})

    assert data["time_zone"] == ""  # not silently the first zone of the list
    assert untouched.status_code == 200
    assert "This field is required." in untouched.content.decode()
    assert chosen.status_code == 302
    people.schedule.refresh_from_db()
    assert people.schedule.time_zone == BERLIN


def test_the_layers_page_is_in_its_own_zone_and_says_so(people: People) -> None:
    people.rotation.time_zone = SYDNEY
    people.rotation.save()
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)

    html = client.get(page).content.decode()
    data = scrape(client, page, "rotation_form").data
    add_row(data, "restrictions", start_time="09:00", end_time="17:00")
    saved = client.post(page, data)

    assert "The first handoff. Local time in Australia/Sydney, the layer's time zone." in html
    assert "in these windows, in Australia/Sydney (its own time zone" in html
    # The date widgets' "Now" goes by the page's zone: Sydney's +11:00 in January.
    assert 'data-admin-utc-offset="39600"' in html
    assert (data["start_0"], data["start_1"]) == ("2030-01-07", "19:00:00")
    assert saved.status_code == 302
    people.rotation.refresh_from_db()
    assert people.rotation.start == FIRST_HANDOFF  # untouched by the save
    listed = client.get(url("rotation_changelist")).content.decode()
    assert "Mon 7 Jan 19:00" in listed
    assert SYDNEY in listed


def test_the_timeline_follows_each_layer_in_its_own_zone(people: People) -> None:
    """Alice's Berlin week, with Bob's Sydney office hours over it: 09:00-17:00 in Sydney is
    23:00-07:00 in Berlin."""
    sydney = Rotation.objects.create(
        schedule=people.schedule,
        name="Sydney",
        priority=5,
        start=utc(2030, 1, 6, 22),  # Monday 09:00 in Sydney
        turn_unit=Rotation.Unit.WEEKS,
        time_zone=SYDNEY,
    )
    RotationParticipant.objects.create(rotation=sydney, user=people.bob, position=0)
    Restriction.objects.create(rotation=sydney, start_time=time(9), end_time=time(17))

    response = client_for(people.maria).get(url("schedule_change", people.schedule.pk))

    timeline = response.context["timeline"]
    assert [row.label for row in timeline.rows] == [
        f"Sydney ({SYDNEY})",
        "Primary",
        "Final schedule",
    ]
    html = response.content.decode()
    # The layer's row gives its own local times too; the final row, the schedule's.
    assert (
        f"<title>bob, Mon 7 Jan 23:00 {DASH} Tue 8 Jan 07:00 CET; "
        f"Tue 8 Jan 09:00 {DASH} 17:00 AEDT in Australia/Sydney</title>"
    ) in html
    assert f"<title>bob, Mon 7 Jan 23:00 {DASH} Tue 8 Jan 07:00 CET (click" in html
    assert f"<title>alice, Tue 8 Jan 07:00 {DASH} 23:00 CET" in html


# --- The schedule's calendar feed ----------------------------------------------------------------


def test_the_schedule_page_shows_its_calendar_url_to_those_who_may_change_it(
    people: People,
) -> None:
    page = url("schedule_change", people.schedule.pk)
    feed = schedule_feed_url(people.schedule)

    managers = client_for(people.maria).get(page).content.decode()
    responders = client_for(people.alice).get(page).content.decode()

    assert feed.startswith(f"{settings.SITE_URL}/")
    assert f"<code>{feed}</code>" in managers
    assert 'name="new_calendar_url"' in managers
    assert people.schedule.feed_token not in responders
    assert 'name="new_calendar_url"' not in responders


def test_a_manager_replaces_the_schedules_calendar_url(people: People) -> None:
    old = people.schedule.feed_token
    client = client_for(people.maria)
    page, data = schedule_page(client, people)

    untouched = client.post(page, data)
    assert Schedule.objects.get(pk=people.schedule.pk).feed_token == old
    response = client.post(page, data | {"new_calendar_url": "on"})

    assert (untouched.status_code, response.status_code) == (302, 302)
    people.schedule.refresh_from_db()
    new = people.schedule.feed_token
    assert new != old
    assert Client().get(reverse("schedule-feed", kwargs={"token": old})).status_code == 404
    assert Client().get(reverse("schedule-feed", kwargs={"token": new})).status_code == 200
    [entry] = audit_entries(Schedule).filter(object_pk=str(people.schedule.pk), action=1)
    assert (entry.actor, list(entry.changes)) == (people.maria, ["feed_token"])
    assert new not in str(entry.changes)
    assert old not in str(entry.changes)
    assert "A new calendar URL was issued" in " ".join(messages_of(response))


# --- Take this shift ------------------------------------------------------------------------


def take_link(response: Any, index: int) -> str:
    link: str = response.context["timeline"].final.segments[index].link
    return link


def test_take_this_shift_opens_the_override_form_filled_in_local_time(people: People) -> None:
    client = client_for(people.maria)
    schedule_page = client.get(url("schedule_change", people.schedule.pk))
    bob = take_link(schedule_page, 2)  # Mon 14 Jan 09:00 - Mon 21 Jan 00:00 local

    form = scrape(client, bob, "override_form")

    assert form.data["schedule"] == str(people.schedule.pk)
    assert form.data["user"] == str(people.maria.pk)
    assert (form.data["start_0"], form.data["start_1"]) == ("2030-01-14", "09:00:00")
    assert (form.data["end_0"], form.data["end_1"]) == ("2030-01-21", "00:00:00")


def test_saving_the_taken_shift_overrides_it_and_returns_to_the_timeline(people: People) -> None:
    client = client_for(people.maria)
    bob = take_link(client.get(url("schedule_change", people.schedule.pk)), 2)
    data = scrape(client, bob, "override_form").data

    response = client.post(bob, data, follow=True)

    override = Override.objects.get()
    assert (override.user, override.start) == (people.maria, utc(2030, 1, 14, 8))
    assert response.redirect_chain[-1][0] == url("schedule_change", people.schedule.pk)
    assert final_people(response) == [GAP, "alice", "maria"]


def test_take_this_shift_on_another_teams_schedule_fills_in_nothing(people: People) -> None:
    client = client_for(people.maria)
    link = take_link(client.get(url("schedule_change", people.schedule.pk)), 1)
    Schedule.objects.create(team=people.other_team, name="Security primary")

    form = scrape(client_for(people.sam), link, "override_form")

    assert form.data["schedule"] == ""
    assert str(people.schedule.pk) not in form.options["schedule"]
    assert str(people.maria.pk) not in form.options["user"]


def test_a_forged_override_for_another_teams_person_is_refused(people: People) -> None:
    data = {
        "schedule": people.schedule.pk,
        "user": people.rita.pk,
        "start_0": "2030-01-08",
        "start_1": "09:00",
        "end_0": "2030-01-09",
        "end_1": "09:00",
    }

    response = client_for(people.maria).post(url("override_add"), data)

    assert response.status_code == 200
    assert not Override.objects.exists()


def test_a_responder_takes_a_shift_for_themselves(people: People) -> None:
    client = client_for(people.alice)
    bob = take_link(client.get(url("schedule_change", people.schedule.pk)), 2)

    form = scrape(client, bob, "override_form")

    assert set(form.options["schedule"]) - {""} == {str(people.schedule.pk)}
    assert set(form.options["user"]) - {""} == {str(people.alice.pk)}  # only themselves
    assert form.data["user"] == str(people.alice.pk)
    assert (form.data["start_0"], form.data["start_1"]) == ("2030-01-14", "09:00:00")  # Berlin
    response = client.post(bob, form.data, follow=True)

    override = Override.objects.get()
    assert (override.user, override.start) == (people.alice, utc(2030, 1, 14, 8))
    assert response.redirect_chain[-1][0] == url("schedule_change", people.schedule.pk)
    assert final_people(response) == [GAP, "alice", "alice"]  # her turn, then bob's taken


def test_a_responder_takes_the_current_shift_from_now_but_not_the_past(people: People) -> None:
    """The link of the shift under way starts at the current minute; a start typed further
    back than an hour is refused (the past is the managers' to change)."""
    client = client_for(people.alice)
    current = take_link(client.get(url("schedule_change", people.schedule.pk)), 1)  # alice
    form = scrape(client, current, "override_form")
    assert (form.data["start_0"], form.data["start_1"]) == ("2030-01-07", "10:00:00")  # now

    backdated = {**form.data, "start_1": "08:59:00"}  # 07:59 UTC: an hour and a minute ago
    refused = client.post(current, backdated)
    taken = client.post(current, form.data)

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["start"] == [
        "You may take a shift from now on; only the team's managers change who was on call "
        "in the past."
    ]
    assert taken.status_code == 302
    assert Override.objects.get().start == NOW


def test_a_responder_cannot_put_someone_else_on_call_nor_cover_another_team(
    people: People,
) -> None:
    theirs = Schedule.objects.create(team=people.other_team, name="Security primary")
    shift = {"start_0": "2030-01-08", "start_1": "09:00", "end_0": "2030-01-09", "end_1": "09:00"}
    client = client_for(people.alice)

    for schedule, user in [(people.schedule, people.bob), (theirs, people.alice)]:
        response = client.post(
            url("override_add"), shift | {"schedule": schedule.pk, "user": user.pk}
        )
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not Override.objects.exists()


def test_the_override_form_refuses_someone_else_from_a_member_who_only_views(
    people: People,
) -> None:
    # Behind the dropdown, which offers such a member nobody but themselves.
    data = {
        "schedule": people.schedule.pk,
        "user": people.bob.pk,
        "start": "2030-01-08 09:00",
        "end": "2030-01-09 09:00",
    }

    def form_of(editor: Any) -> OverrideForm:
        return type("Form", (OverrideForm,), {"editor": editor})(data=data)

    responders, managers = form_of(people.alice), form_of(people.maria)

    assert not responders.is_valid()
    assert responders.errors["user"] == [
        "You may take a shift yourself; only the team's managers may put someone else on call."
    ]
    assert managers.is_valid(), managers.errors


def test_a_responder_may_not_change_or_delete_overrides(people: People) -> None:
    override = Override.objects.create(
        schedule=people.schedule, user=people.alice, start=NOW, end=NOW + timedelta(hours=3)
    )
    page = url("override_change", override.pk)
    data = scrape(client_for(people.maria), page, "override_form").data
    client = client_for(people.alice)

    assert client.get(page).status_code == 200  # shown
    assert client.post(page, data | {"end_1": "13:00:00"}).status_code == 403
    assert client.post(url("override_delete", override.pk), {"post": "yes"}).status_code == 403
    override.refresh_from_db()
    assert override.end == NOW + timedelta(hours=3)


def test_someone_in_no_team_cannot_add_overrides(people: People) -> None:
    outsider = UserFactory(username="otto", is_staff=True)

    assert client_for(outsider).get(url("override_add")).status_code == 403


def test_a_local_time_the_clocks_skip_means_the_first_instant_after_it(people: People) -> None:
    # 02:30 does not exist in Berlin on 31 March 2030: the clocks go from 02:00 to 03:00.
    data = {
        "schedule": people.schedule.pk,
        "user": people.bob.pk,
        "start_0": "2030-03-31",
        "start_1": "02:30",
        "end_0": "2030-03-31",
        "end_1": "12:00",
    }

    response = client_for(people.maria).post(url("override_add"), data)

    assert response.status_code == 302
    override = Override.objects.get()
    assert override.start == utc(2030, 3, 31, 1)  # 03:00 CEST, the moment of the change
    assert override.end == utc(2030, 3, 31, 10)


def test_a_page_showing_an_ambiguous_local_time_saves_untouched(people: People) -> None:
    # 02:30 happens twice in Berlin on 27 October 2030; this override starts at the second.
    second = utc(2030, 10, 27, 1, 30)
    Override.objects.create(
        schedule=people.schedule, user=people.bob, start=second, end=second + timedelta(hours=5)
    )
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data
    assert (data["overrides-0-start_0"], data["overrides-0-start_1"]) == ("2030-10-27", "02:30:00")

    response = client.post(page, data)

    assert response.status_code == 302
    assert Override.objects.get().start == second


def test_a_row_changed_elsewhere_keeps_the_ambiguous_instants_it_shows(people: People) -> None:
    """Changing the person of an override that starts in the second 02:30 (and ends in the
    second 02:45) keeps both instants: the wall-clock text would read the first ones, an
    hour earlier, and the end before the start."""
    second = utc(2030, 10, 27, 1, 30)  # 02:30 CET, the second time round
    Override.objects.create(
        schedule=people.schedule, user=people.bob, start=second, end=second + timedelta(minutes=15)
    )
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data
    data["overrides-0-user"] = str(people.alice.pk)

    response = client.post(page, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    override = Override.objects.get()
    assert (override.user, override.start, override.end) == (
        people.alice,
        second,
        second + timedelta(minutes=15),
    )


def test_a_schedule_holding_an_override_that_ends_in_the_repeated_hour_saves(
    people: People,
) -> None:
    """02:45 CEST to 02:30 CET: read as wall-clock times, its end comes before its start."""
    Override.objects.create(
        schedule=people.schedule,
        user=people.alice,
        start=utc(2030, 10, 27, 0, 45),
        end=utc(2030, 10, 27, 1, 30),
    )
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data
    data["description"] = "Now with a description"

    response = client.post(page, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert Schedule.objects.get(pk=people.schedule.pk).description == "Now with a description"
    assert Override.objects.get().end == utc(2030, 10, 27, 1, 30)


def test_an_older_override_longer_than_a_year_does_not_block_the_schedule_page(
    people: People,
) -> None:
    Override.objects.create(
        schedule=people.schedule, user=people.bob, start=NOW, end=NOW + timedelta(days=400)
    )
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    data = scrape(client, page, "schedule_form").data
    data["description"] = "Still saves"

    saved = client.post(page, data)
    data["overrides-0-end_0"] = "2031-03-01"  # longer still: refused
    grown = client.post(page, data)

    assert saved.status_code == 302, saved.context and saved.context["errors"]
    assert grown.status_code == 200
    [_layers, overrides] = grown.context["inline_admin_formsets"]
    assert overrides.formset.forms[0].errors["end"] == ["An override may last at most 366 days."]
    assert Override.objects.get().end == NOW + timedelta(days=400)


def test_renaming_a_layer_keeps_a_first_handoff_in_the_repeated_hour(people: People) -> None:
    people.rotation.start = utc(2030, 10, 27, 1, 30)  # 02:30 CET, the second time round
    people.rotation.save()
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data["name"] = "Renamed"

    response = client.post(page, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    rotation = Rotation.objects.get(pk=people.rotation.pk)
    assert (rotation.name, rotation.start) == ("Renamed", utc(2030, 10, 27, 1, 30))


def test_a_first_handoff_at_a_local_time_the_clocks_skip_is_refused(people: People) -> None:
    """A layer hands off at its first handoff's local time: one typed as 02:30 on the night
    Berlin skips it would be stored as 03:00, and every later handoff made at 03:00."""
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data.update({"start_0": "2030-03-31", "start_1": "02:30"})

    response = client.post(page, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["start"] == [
        "There is no 02:30 on 31 March 2030 in Europe/Berlin: the clocks go from 02:00 "
        "straight to 03:00. A layer hands off at its first handoff's local time every day "
        "or week, so start it on another day (the handoff on a day that skips it is made at "
        "the change)."
    ]
    assert Rotation.objects.get(pk=people.rotation.pk).start == FIRST_HANDOFF


def test_an_override_row_says_its_times_are_utc(people: People) -> None:
    Override.objects.create(
        schedule=people.schedule,
        user=people.bob,
        start=NOW + timedelta(hours=1),
        end=NOW + timedelta(hours=3),
    )

    response = client_for(people.maria).get(url("schedule_change", people.schedule.pk))

    # Above the row's fields, which read 11:00 and 13:00 in Berlin.
    assert "bob, 2030-01-07 10:00 - 2030-01-07 12:00 UTC" in response.content.decode()


def test_the_schedule_page_lists_the_current_and_next_overrides_only(people: People) -> None:
    day = timedelta(days=1)
    Override.objects.create(
        schedule=people.schedule, user=people.bob, start=NOW - 3 * day, end=NOW - 2 * day
    )
    for n in range(OVERRIDES_LISTED + 5):  # one a day, from today on
        start = NOW + n * day - timedelta(hours=1)
        Override.objects.create(
            schedule=people.schedule, user=people.bob, start=start, end=start + timedelta(hours=2)
        )

    response = client_for(people.maria).get(url("schedule_change", people.schedule.pk))

    [_layers, overrides] = response.context["inline_admin_formsets"]
    starts = [form.instance.start for form in overrides.formset.forms]
    assert starts == [NOW + n * day - timedelta(hours=1) for n in range(OVERRIDES_LISTED)]


# --- Warnings about gaps ---------------------------------------------------------------------


def office_hours(rotation: Rotation) -> None:
    Restriction.objects.create(
        rotation=rotation, start_day=None, start_time=time(9), end_day=None, end_time=time(17)
    )


def test_saving_a_schedule_with_gaps_lists_the_first_ones_in_local_time(people: People) -> None:
    office_hours(people.rotation)  # nobody from 17:00 to 09:00
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)

    response = client.post(page, scrape(client, page, "schedule_form").data)

    [warning] = [m for m in messages_of(response) if m.startswith("Nobody is on call")]
    assert warning == (
        "Nobody is on call for “Platform primary” at these times in the next 28 days "
        f"(Europe/Berlin): Mon 7 Jan 17:00 {DASH} Tue 8 Jan 09:00 CET; "
        f"Tue 8 Jan 17:00 {DASH} Wed 9 Jan 09:00 CET; "
        f"Wed 9 Jan 17:00 {DASH} Thu 10 Jan 09:00 CET; and 25 more."
    )


def test_saving_a_rotation_warns_about_gaps_too(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    data = scrape(client, page, "rotation_form").data
    data["end_0"], data["end_1"] = "2030-01-10", "09:00:00"  # the layer stops Thursday

    response = client.post(page, data)

    assert messages_of(response)[0] == (
        "Nobody is on call for “Platform primary” at these times in the next 28 days "
        f"(Europe/Berlin): Thu 10 Jan 09:00 {DASH} Mon 4 Feb 10:00 CET."
    )


def test_no_warning_when_someone_is_always_on_call(people: People) -> None:
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)

    response = client.post(page, scrape(client, page, "schedule_form").data)

    assert response.status_code == 302
    assert not [m for m in messages_of(response) if m.startswith("Nobody")]


def test_deleting_the_only_rotation_warns_that_nobody_is_on_call(people: People) -> None:
    response = client_for(people.maria).post(
        url("rotation_delete", people.rotation.pk), {"post": "yes"}
    )

    assert response.status_code == 302
    assert any(m.startswith("Nobody is on call") for m in messages_of(response))


# --- The schedule list -----------------------------------------------------------------------


def test_the_list_shows_who_is_on_call_now(people: People) -> None:
    Schedule.objects.create(team=people.team, name="Platform secondary")
    other = Schedule.objects.create(team=people.other_team, name="Security primary")
    weekly_rotation(other, [people.rita], FIRST_HANDOFF)

    response = client_for(people.maria).get(url("schedule_changelist"))

    rows = {s.name: s.on_call for s in response.context["cl"].result_list}
    assert rows == {"Platform primary": people.alice, "Platform secondary": None}
    html = response.content.decode()
    assert ">alice</td>" in html
    assert ">nobody</strong>" in html


def test_the_team_filter_offers_only_visible_teams(people: People) -> None:
    Schedule.objects.create(team=people.other_team, name="Security primary")

    response = client_for(people.maria).get(url("schedule_changelist"))

    assert "Security" not in response.content.decode()


def count_queries(client: Client, page: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page).status_code == 200
    return len(queries)


def test_the_schedule_page_costs_the_same_queries_for_more_layers_and_overrides(
    people: People,
) -> None:
    client = client_for(people.maria)
    page = url("schedule_change", people.schedule.pk)
    client.get(page)  # warm the caches (content types, permission ids)
    one = count_queries(client, page)

    for days in range(1, 5):
        crew = [people.alice, people.bob, people.maria]
        weekly_rotation(people.schedule, crew, FIRST_HANDOFF + timedelta(days=days))
    for hours in range(10):
        start = NOW + timedelta(hours=hours)
        Override.objects.create(
            schedule=people.schedule, user=people.bob, start=start, end=start + timedelta(hours=1)
        )

    assert count_queries(client, page) == one
    # Each permission is asked of guardian once per page, not once per inline and row.
    assert one <= QUERIES_ON_THE_SCHEDULE_PAGE


def test_the_rotation_page_costs_the_same_queries_for_more_participants(people: People) -> None:
    client = client_for(people.maria)
    page = url("rotation_change", people.rotation.pk)
    client.get(page)
    two = count_queries(client, page)

    for position in range(2, 12):
        RotationParticipant.objects.create(
            rotation=people.rotation, user=people.bob, position=position
        )

    assert count_queries(client, page) == two


def grow_schedules(team: Team, people: list[Any], count: int) -> None:
    """Schedules in Tokyo, where office hours are over at NOW (18:00 local); every other one
    has an override covering NOW."""
    for n in range(count - Schedule.objects.filter(team=team).count()):
        schedule = Schedule.objects.create(team=team, name=f"Extra {n}", time_zone="Asia/Tokyo")
        rotation = weekly_rotation(schedule, people, FIRST_HANDOFF - timedelta(days=n))
        office_hours(rotation)
        if n % 2 == 0:
            Override.objects.create(
                schedule=schedule, user=people[1], start=NOW, end=NOW + timedelta(hours=1)
            )


def test_the_on_call_column_costs_the_same_queries_for_1_or_10_schedules(
    people: People, django_assert_num_queries: Any
) -> None:
    client = client_for(people.maria)
    page = url("schedule_changelist")
    client.get(page)  # warm the caches (content types, permission ids)
    with CaptureQueriesContext(connection) as one:
        assert client.get(page).context["cl"].result_count == 1

    grow_schedules(people.team, [people.alice, people.bob], 10)

    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(page)
    assert response.context["cl"].result_count == 10
    on_call = {s.name: s.on_call for s in response.context["cl"].result_list}
    assert on_call["Platform primary"] == people.alice
    assert on_call["Extra 0"] == on_call["Extra 8"] == people.bob
    assert on_call["Extra 1"] is on_call["Extra 7"] is None


# --- A person's own settings -----------------------------------------------------------------


def test_the_settings_list_takes_a_person_to_add_their_own(people: People) -> None:
    client = client_for(people.alice)

    response = client.get(url("personsettings_changelist"))

    assert response.headers["Location"] == url("personsettings_add")
    form = scrape(client, url("personsettings_add"), "personsettings_form")
    assert form.options["user"] == [str(people.alice.pk)]
    data = form.data | {"user": str(people.alice.pk), "notify_shift_start": "on"}
    assert client.post(url("personsettings_add"), data).status_code == 302
    assert PersonSettings.objects.get(user=people.alice).notify_shift_start


def test_a_person_sees_and_changes_only_their_own_settings(people: People) -> None:
    own = PersonSettings.objects.create(user=people.alice)
    bobs = PersonSettings.objects.create(user=people.bob)
    client = client_for(people.alice)

    assert client.get(url("personsettings_changelist")).headers["Location"] == url(
        "personsettings_change", own.pk
    )
    page = client.get(url("personsettings_change", own.pk)).content.decode()
    assert f"/calendars/people/{own.feed_token}.ics" in page
    assert client.get(url("personsettings_change", bobs.pk)).status_code == 302
    forged = {"notify_shift_end": "on"}
    assert client.post(url("personsettings_change", bobs.pk), forged).status_code in {302, 403}
    bobs.refresh_from_db()
    assert not bobs.notify_shift_end


def test_a_forged_add_for_someone_else_is_refused(people: People) -> None:
    data = {"user": people.bob.pk, "notify_shift_start": "on"}

    response = client_for(people.alice).post(url("personsettings_add"), data)

    assert response.status_code == 200
    assert not PersonSettings.objects.exists()


def test_a_person_replaces_their_calendar_url(people: People) -> None:
    own = PersonSettings.objects.create(user=people.alice)
    old = own.feed_token
    client = client_for(people.alice)
    page = url("personsettings_change", own.pk)
    data = scrape(client, page, "personsettings_form").data | {"new_calendar_url": "on"}

    response = client.post(page, data, follow=True)

    own.refresh_from_db()
    assert own.feed_token != old
    assert f"<code>{person_feed_url(own)}</code>" in response.content.decode()  # absolute
    assert person_feed_url(own).startswith(f"{settings.SITE_URL}/calendars/people/")
    [entry] = audit_entries(PersonSettings).filter(object_pk=str(own.pk), action=1)
    assert (entry.actor, list(entry.changes)) == (people.alice, ["feed_token"])
    assert own.feed_token not in str(entry.changes)


def test_a_superuser_manages_everyones_settings_but_never_sees_their_calendar_urls(
    people: People,
) -> None:
    bobs = PersonSettings.objects.create(user=people.bob)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = client_for(root)

    listed = client.get(url("personsettings_changelist"))
    page = client.get(url("personsettings_change", bobs.pk))

    assert listed.context["cl"].result_count == 1
    assert page.status_code == 200
    assert bobs.feed_token not in page.content.decode()
