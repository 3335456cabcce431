"""Objects that change team take their access along (schedules.access.move_team_permissions).

A service handed from team A to team C: A's people lose it, its integrations and its incidents
at once (404 in the API, refused in the admin), C's people get them, and the audit log says
which groups lost and gained which permissions. The same for a schedule, a policy, an
integration moved to another team's service, and for a person moved between teams.

What other teams' objects still rely on does not move (a policy their services escalate
through, a schedule their levels page), nor a service with open incidents, in the API and the
admin alike; and a failed permission move undoes the move.
"""

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm
from rest_framework.exceptions import APIException

from escalation.models import EscalationPolicy
from incidents.audit.signals import PERMISSIONS_GRANTED, PERMISSIONS_REVOKED
from incidents.models import AuditEntry, Incident, Integration, Service
from incidents.services import SYSTEM, incident_resolve
from schedules.access import group_permission_model, perm_name, registration
from schedules.models import Schedule, Team, TeamMembership
from tests.factories import make_integration
from tests.rbac.conftest import World, join, make_user

Role = TeamMembership.Role


@pytest.fixture
def policy_c(world: World) -> EscalationPolicy:
    return EscalationPolicy.objects.create(team=world.c, name="Charlie policy")


def api(world: World, persona: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")


def browser(world: World, persona: str) -> Client:
    client = Client()
    client.force_login(world.persona(persona))
    return client


def api_status(world: World, persona: str, path: str) -> int:
    return int(api(world, persona).get(path).status_code)


def admin_change(model: type[Any], pk: int) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])


def admin_refuses(response: Any) -> bool:
    """A change page of an object outside the user's queryset redirects to the admin index
    ("does not exist"); nothing of the object is rendered."""
    if response.status_code in (403, 404):
        return True
    return bool(response.status_code == 302 and response["Location"] == reverse("admin:index"))


def change_form_data(response: Any) -> dict[str, Any]:
    """The POST body that the admin change page would send unchanged."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def permission_entries(obj: Any, after: int = 0) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.get_for_object(obj)
        .filter(pk__gt=after, additional_data__event__in=[PERMISSIONS_GRANTED, PERMISSIONS_REVOKED])
        .order_by("pk")
    )


def team_groups(team: Team) -> set[str]:
    team = Team.objects.get(pk=team.pk)
    return {team.managers_group.name, team.responders_group.name}  # type: ignore[union-attr]


def resolve_open_incidents(service: Service) -> None:
    """A service with open incidents stays with its team (see "Moves that are refused")."""
    for incident in service.incidents.filter(status__in=Incident.OPEN_STATUSES):
        incident_resolve(incident_id=incident.pk, actor=SYSTEM)


# --- A service changes team ----------------------------------------------------------------


def test_a_service_moved_through_the_api_leaves_with_its_incidents_and_integrations(
    world: World, policy_c: EscalationPolicy
) -> None:
    service, incident, integration = world.a.service, world.a.incident, world.a.integration
    resolve_open_incidents(service)
    paths = [
        f"/api/v1/services/{service.pk}/",
        f"/api/v1/incidents/{incident.pk}/",
        f"/api/v1/integrations/{integration.pk}/",
    ]
    assert [api_status(world, "responder_a", path) for path in paths] == [200, 200, 200]
    assert [api_status(world, "outsider", path) for path in paths] == [404, 404, 404]
    before = last_entry_id()

    response = api(world, "superuser").patch(
        paths[0],
        json.dumps({"team": world.c.pk, "escalation_policy": policy_c.pk}),
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    for persona in ["responder_a", "manager_a"]:
        assert [api_status(world, persona, path) for path in paths] == [404, 404, 404]
    listed = api(world, "responder_a").get("/api/v1/incidents/?limit=500").json()["results"]
    assert incident.pk not in {row["id"] for row in listed}
    assert [api_status(world, "outsider", path) for path in paths] == [200, 200, 200]
    listed = api(world, "outsider").get("/api/v1/incidents/?limit=500").json()["results"]
    assert incident.pk in {row["id"] for row in listed}

    entries = AuditEntry.objects.filter(pk__gt=before).order_by("pk")
    move = entries.get(content_type__model="service", action=AuditEntry.Action.UPDATE)
    assert move.changes["team"] == [world.a.team.pk, world.c.pk]
    assert move.actor_label == "root"
    assert_permission_entries_describe_the_move(world, service, incident, integration, entries)


def assert_permission_entries_describe_the_move(
    world: World, service: Service, incident: Incident, integration: Integration, entries: Any
) -> None:
    """Per model: A's groups lost their permissions, C's got them, each in one entry on the
    service, in the acting user's name."""
    found = {
        (e.additional_data["event"], e.additional_data["model"], e.team_id): e
        for e in entries.filter(
            additional_data__event__in=[PERMISSIONS_GRANTED, PERMISSIONS_REVOKED]
        )
    }
    a, c = world.a.team.pk, world.c.pk
    for model, obj in [("service", service), ("incident", incident), ("integration", integration)]:
        label = f"incidents.{model}"
        revoked, granted = (
            found[(PERMISSIONS_REVOKED, label, a)],
            found[(PERMISSIONS_GRANTED, label, c)],
        )
        for entry, team in [(revoked, world.a.team), (granted, world.c)]:
            assert entry.object_pk == str(service.pk)  # on the service that moved
            assert entry.actor_label == "root"
            assert obj.pk in entry.additional_data["object_ids"]
            assert set(entry.additional_data["permissions"]) == team_groups(team)
            assert perm_name(type(obj), "view").split(".")[1] in entry.object_repr
    assert {key[0] for key in found} == {PERMISSIONS_GRANTED, PERMISSIONS_REVOKED}
    assert {key[2] for key in found} == {world.a.team.pk, world.c.pk}


def test_a_service_moved_in_the_admin_is_refused_to_its_old_team_and_shown_to_the_new(
    world: World, policy_c: EscalationPolicy
) -> None:
    service, incident = world.a.service, world.a.incident
    resolve_open_incidents(service)
    pages = [admin_change(Service, service.pk), admin_change(Incident, incident.pk)]
    superuser = browser(world, "superuser")
    data = change_form_data(superuser.get(pages[0]))
    data.update(team=world.c.pk, escalation_policy=policy_c.pk)
    before = last_entry_id()

    response = superuser.post(pages[0], data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Service.objects.get(pk=service.pk).team_id == world.c.pk
    for persona in ["responder_a", "manager_a"]:
        client = browser(world, persona)
        assert all(admin_refuses(client.get(page)) for page in pages), persona
    outsider = browser(world, "outsider")
    for page in pages:
        response = outsider.get(page)
        assert response.status_code == 200
        assert world.a.service.name in response.content.decode()
    revoked, granted = (
        [e for e in permission_entries(service, before) if e.additional_data["event"] == event]
        for event in (PERMISSIONS_REVOKED, PERMISSIONS_GRANTED)
    )
    assert {e.team_id for e in revoked} == {world.a.team.pk}
    assert {e.team_id for e in granted} == {world.c.pk}
    assert {e.actor_label for e in revoked + granted} == {"root"}
    assert {e.additional_data["model"] for e in granted} == {
        "incidents.service",
        "incidents.integration",
        "incidents.incident",
    }


def test_moving_there_and_back_restores_exactly_the_original_permissions(
    world: World, policy_c: EscalationPolicy
) -> None:
    service = Service.objects.get(pk=world.a.service.pk)
    rows = permission_rows(service)

    service.team, service.escalation_policy = world.c, policy_c
    service.save()
    assert permission_rows(service) != rows
    service.team, service.escalation_policy = world.a.team, world.a.policy
    service.save()

    assert permission_rows(service) == rows


def permission_rows(service: Service) -> dict[str, set[tuple[int, str, str]]]:
    """(object, group, permission) of every group permission on the service and its
    dependants."""
    tables = {
        "service": (Service, Service.objects.filter(pk=service.pk)),
        "integration": (Integration, service.integrations.all()),
        "incident": (Incident, service.incidents.all()),
    }
    return {
        name: set(
            group_permission_model(model)
            ._default_manager.filter(content_object__in=objects)
            .values_list("content_object_id", "group__name", "permission__codename")
        )
        for name, (model, objects) in tables.items()
    }


def test_a_move_costs_the_same_queries_whatever_the_number_of_incidents(
    world: World, policy_c: EscalationPolicy
) -> None:
    service = Service.objects.get(pk=world.a.service.pk)

    def move(team: Team, policy: EscalationPolicy) -> int:
        service.team, service.escalation_policy = team, policy
        with CaptureQueriesContext(connection) as captured:
            service.save()
        return len(captured)

    move(world.c, policy_c)  # warm the caches (content types, permission ids)
    baseline = move(world.a.team, world.a.policy)
    for n in range(6):
        Incident.objects.create(service=service, title=f"Alpha extra {n}", dedup_key=f"x/{n}")

    assert move(world.c, policy_c) == baseline
    assert Incident.objects.filter(service=service).count() == 8
    outsider = world.persona("outsider")
    assert all(
        outsider.has_perm("incidents.view_incident", incident)
        for incident in service.incidents.all()
    )


def test_a_save_that_keeps_the_team_changes_no_permissions(world: World) -> None:
    service = Service.objects.get(pk=world.a.service.pk)
    rows = permission_rows(service)
    entries = len(permission_entries(service))

    service.description = "renamed"
    service.save()
    service.save(update_fields=["name"])

    assert permission_rows(service) == rows
    assert len(permission_entries(service)) == entries


def test_a_move_revokes_every_other_teams_grant_but_not_personal_or_other_groups(
    world: World, policy_c: EscalationPolicy
) -> None:
    """Leftovers of another team (e.g. an object moved before moves were followed) go too;
    grants to one person, or to a group that is no team's, are not team-derived."""
    service = Service.objects.get(pk=world.a.service.pk)
    b_responders = Team.objects.get(pk=world.b.team.pk).responders_group
    assert b_responders is not None
    assign_perm("incidents.view_service", b_responders, service)
    reviewers = Group.objects.create(name="Change reviewers")
    assign_perm("incidents.view_service", reviewers, service)
    assign_perm("incidents.view_service", world.a.responder, service)
    before = last_entry_id()

    service.team, service.escalation_policy = world.c, policy_c
    service.save()

    groups = {group for _, group, _ in permission_rows(service)["service"]}
    assert b_responders.name not in groups
    assert "Change reviewers" in groups
    assert team_groups(world.c) <= groups
    assert world.persona("responder_a").has_perm("incidents.view_service", service)
    revoked_teams = {
        e.team_id
        for e in permission_entries(service, before)
        if e.additional_data["event"] == PERMISSIONS_REVOKED
    }
    assert revoked_teams == {world.a.team.pk, world.b.team.pk}


# --- Other kinds of objects ----------------------------------------------------------------


def test_an_integration_moved_to_another_teams_service_goes_with_it(
    world: World, policy_c: EscalationPolicy
) -> None:
    service_c = Service.objects.create(
        team=world.c, name="Charlie service", escalation_policy=policy_c
    )
    integration, _ = make_integration(service_c, Integration.Kind.ALERTMANAGER, "moving intake")
    path = f"/api/v1/integrations/{integration.pk}/"
    assert api_status(world, "responder_a", path) == 404
    before = last_entry_id()

    integration.service = world.a.service
    integration.save()

    assert api_status(world, "responder_a", path) == 200
    assert api_status(world, "outsider", path) == 404
    events = {e.additional_data["event"] for e in permission_entries(integration, before)}
    assert events == {PERMISSIONS_GRANTED, PERMISSIONS_REVOKED}


@pytest.mark.parametrize("kind", ["schedule", "policy"])
def test_a_schedule_or_policy_moved_to_another_team_goes_with_it(world: World, kind: str) -> None:
    model, prefix = {
        "schedule": (Schedule, "schedules"),
        "policy": (EscalationPolicy, "escalation-policies"),
    }[kind]
    obj: Any = world.a.spares[model]
    path = f"/api/v1/{prefix}/{obj.pk}/"
    assert (api_status(world, "responder_a", path), api_status(world, "outsider", path)) == (
        200,
        404,
    )

    obj.team = world.c
    obj.save()

    assert (api_status(world, "responder_a", path), api_status(world, "outsider", path)) == (
        404,
        200,
    )
    assert not world.persona("manager_a").has_perm(perm_name(model, "change"), obj)


# --- Moves that are refused ----------------------------------------------------------------
# Maria manages team A and its spare team. She must not hand A's paging to the spare team by
# moving what A's services and levels still use: its manager would decide who A's incidents
# page, and A's people would lose sight of it (schedules.access.move_refusal).


def patch(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json")


def admin_move(world: World, persona: str, obj: Any, team: Team, **extra: Any) -> Any:
    """POST the object's admin change page back unchanged but for its team."""
    client = browser(world, persona)
    page = admin_change(type(obj), obj.pk)
    data = change_form_data(client.get(page)) | {"team": team.pk, **extra}
    return client.post(page, data)


def team_id(obj: Any) -> int:
    return int(type(obj).objects.values_list("team_id", flat=True).get(pk=obj.pk))


def test_a_policy_other_services_escalate_through_stays_with_its_team(world: World) -> None:
    policy, spare = world.a.policy, world.a.spares[Team]
    join(spare, world.a.responder)  # whom its levels page is in the spare team too
    path = f"/api/v1/escalation-policies/{policy.pk}/"

    refused = patch(api(world, "manager_a"), path, {"team": spare.pk})
    in_admin = admin_move(world, "manager_a", policy, spare)

    assert refused.status_code == 400, refused.content
    [reason] = refused.json()["team"]
    assert reason == (
        "Services outside Team Alpha spare escalate through it: Alpha payments service "
        "(Team Alpha), Alpha spare service (Team Alpha). Give them another escalation policy "
        "first."
    )
    assert in_admin.status_code == 200
    assert in_admin.context["adminform"].form.errors["team"] == [reason]
    assert team_id(policy) == world.a.team.pk
    assert api_status(world, "responder_a", path) == 200


def test_a_policy_moves_only_with_whom_its_levels_page(world: World) -> None:
    """The spare policy pages alice (in team A only) and, here, A's schedule."""
    policy, spare = world.a.spares[EscalationPolicy], world.a.spares[Team]
    level = policy.levels.get()
    level.schedules.add(world.a.schedule)
    path = f"/api/v1/escalation-policies/{policy.pk}/"

    refused = patch(api(world, "manager_a"), path, {"team": spare.pk})
    join(spare, world.a.responder)
    level.schedules.clear()
    moved = patch(api(world, "manager_a"), path, {"team": spare.pk})

    assert refused.status_code == 400
    assert refused.json()["team"] == [
        "Its levels page alice, who are not in Team Alpha spare. Its levels page through "
        "schedules of other teams: Alpha primary on-call. Change its levels first."
    ]
    assert moved.status_code == 200, moved.content
    assert team_id(policy) == spare.pk


def test_a_schedule_other_teams_levels_page_through_stays_with_its_team(world: World) -> None:
    schedule, spare = world.a.schedule, world.a.spares[Team]
    join(spare, world.a.responder)  # the schedule's people are in the spare team too
    level = world.a.policy.levels.get(position=1)
    level.schedules.add(schedule)
    path = f"/api/v1/schedules/{schedule.pk}/"

    refused = patch(api(world, "manager_a"), path, {"team": spare.pk})
    level.schedules.remove(schedule)
    moved = patch(api(world, "manager_a"), path, {"team": spare.pk})

    assert refused.status_code == 400
    assert refused.json()["team"] == [
        "Escalation policies outside Team Alpha spare page whoever is on call in it: "
        "Alpha escalation policy (Team Alpha). Take it off their levels first."
    ]
    assert moved.status_code == 200, moved.content
    assert team_id(schedule) == spare.pk


def test_a_service_with_open_incidents_stays_with_its_team(
    world: World, policy_c: EscalationPolicy
) -> None:
    """Open incidents page whom their frozen policy and their assignee say: the old team's
    people. The service moves once they are resolved."""
    service = world.a.service
    path = f"/api/v1/services/{service.pk}/"
    body = {"team": world.c.pk, "escalation_policy": policy_c.pk}

    refused = patch(api(world, "superuser"), path, body)
    in_admin = admin_move(world, "superuser", service, world.c, escalation_policy=policy_c.pk)
    resolve_open_incidents(service)
    moved = patch(api(world, "superuser"), path, body)

    assert refused.status_code == 400
    reason = (
        "Alpha payments service has 2 open incidents, which keep paging its current team: "
        "resolve them before moving it."
    )
    assert refused.json()["team"] == [reason]
    assert in_admin.status_code == 200
    assert in_admin.context["adminform"].form.errors["team"] == [reason]
    assert moved.status_code == 200, moved.content
    assert team_id(service) == world.c.pk


def test_a_level_pages_only_its_policys_team(world: World) -> None:
    """Maria's choices on A's policy include her spare team's people and schedules, since
    she manages both teams; a level of A's policy takes neither."""
    spare = world.a.spares[Team]
    sparky = make_user("sparky")
    join(spare, sparky)
    spare_rota = Schedule.objects.create(team=spare, name="Spare rota")
    client = browser(world, "manager_a")
    page = admin_change(EscalationPolicy, world.a.policy.pk)
    data = change_form_data(client.get(page))
    data["levels-0-users"] = [world.a.responder.pk, sparky.pk]
    data["levels-0-schedules"] = [spare_rota.pk]

    response = client.post(page, data)

    assert response.status_code == 200
    [levels] = response.context["inline_admin_formsets"]
    assert levels.formset.forms[0].errors == {
        "users": ["Not members of Team Alpha: sparky."],
        "schedules": ["Not schedules of Team Alpha: Spare rota."],
    }
    level = world.a.policy.levels.get(position=1)
    assert list(level.users.all()) == [world.a.responder]
    assert not level.schedules.exists()


def test_a_level_of_nobody_is_refused_in_the_admin_as_in_the_api(world: World) -> None:
    client = browser(world, "manager_a")
    page = admin_change(EscalationPolicy, world.a.policy.pk)
    data = change_form_data(client.get(page))
    data["levels-0-users"] = []
    data["levels-0-schedules"] = []

    response = client.post(page, data)

    assert response.status_code == 200
    [levels] = response.context["inline_admin_formsets"]
    assert levels.formset.forms[0].non_field_errors() == [
        "A level pages someone: give it people, schedules or both."
    ]
    assert list(world.a.policy.levels.get(position=1).users.all()) == [world.a.responder]


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("the database went away"), APIException("refused half-way")],
    ids=["error", "api-error"],
)
def test_a_move_whose_permissions_fail_to_follow_is_undone(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """The save and the permission move it causes commit together or not at all, even when
    DRF answers the failure itself (an API exception)."""
    schedule = world.a.spares[Schedule]
    permissions = set(
        group_permission_model(Schedule)
        ._default_manager.filter(content_object=schedule)
        .values_list("group_id", "permission_id")
    )

    def fail(obj: Any) -> None:
        raise failure

    # Where the save's receiver looks it up (schedules.access.registration._follow_team).
    monkeypatch.setattr(registration, "move_team_permissions", fail)
    client = Client(
        HTTP_AUTHORIZATION=f"Token {world.tokens['superuser']}", raise_request_exception=False
    )
    response = patch(client, f"/api/v1/schedules/{schedule.pk}/", {"team": world.c.pk})

    assert response.status_code == 500
    assert team_id(schedule) == world.a.team.pk
    assert permissions == set(
        group_permission_model(Schedule)
        ._default_manager.filter(content_object=schedule)
        .values_list("group_id", "permission_id")
    )
    assert api_status(world, "responder_a", f"/api/v1/schedules/{schedule.pk}/") == 200


# --- People change team --------------------------------------------------------------------


def test_a_member_moved_to_another_team_sees_the_new_team_at_once(world: World) -> None:
    membership = TeamMembership.objects.get(team=world.a.team, user=world.a.responder)
    service_path = f"/api/v1/services/{world.a.service.pk}/"
    b_path = f"/api/v1/services/{world.b.service.pk}/"

    membership.team = world.b.team
    membership.save()

    assert api_status(world, "responder_a", service_path) == 404
    assert api_status(world, "responder_a", b_path) == 200


def test_a_demoted_manager_can_no_longer_change_the_teams_things(world: World) -> None:
    service, manager = world.a.service, world.a.manager
    assert manager.has_perm("incidents.change_service", service)
    membership = TeamMembership.objects.get(team=world.a.team, user=manager)

    membership.role = Role.RESPONDER
    membership.save()

    demoted = world.persona("manager_a")
    assert demoted.has_perm("incidents.view_service", service)
    assert not demoted.has_perm("incidents.change_service", service)
    response = api(world, "manager_a").patch(
        f"/api/v1/services/{service.pk}/",
        json.dumps({"description": "changed by a responder"}),
        content_type="application/json",
    )
    assert response.status_code in (403, 404)
    assert Service.objects.get(pk=service.pk).description == ""


def test_a_removed_member_loses_the_team_at_once(world: World) -> None:
    paths = [f"/api/v1/services/{world.a.service.pk}/", f"/api/v1/incidents/{world.a.incident.pk}/"]

    TeamMembership.objects.get(team=world.a.team, user=world.a.responder).delete()

    assert [api_status(world, "responder_a", path) for path in paths] == [404, 404]
    assert not admin_refuses(
        browser(world, "superuser").get(admin_change(Service, world.a.service.pk))
    )
    assert admin_refuses(
        browser(world, "responder_a").get(admin_change(Service, world.a.service.pk))
    )


def test_members_added_through_the_many_to_many_get_the_teams_access(world: World) -> None:
    """`team.members.add()` bulk-creates memberships without saving them one by one: the
    groups follow all the same, and the audit log records the addition."""
    outsider = world.persona("outsider")
    path = f"/api/v1/services/{world.a.service.pk}/"
    assert api_status(world, "outsider", path) == 404

    world.a.team.members.add(outsider)

    assert api_status(world, "outsider", path) == 200
    entry = AuditEntry.objects.get_for_object(world.a.team).latest("pk")
    assert entry.changes["members"] == {"type": "m2m", "operation": "add", "objects": ["otto"]}
    join(world.c, world.a.responder)  # a second team adds, it takes nothing away
    assert api_status(world, "responder_a", path) == 200
