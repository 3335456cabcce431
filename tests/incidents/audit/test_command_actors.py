"""Management commands act as "system: <command name>", from manage.py or call_command, and
so does the role-group set-up that follows every migrate."""

import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from incidents.apps import _ensure_role_groups
from incidents.audit.actors import (
    attribute_commands_to_system,
    audit_actor_system,
    command_name,
    record_event,
)
from incidents.audit.models import AuditEntry
from schedules.access import AUDITORS_GROUP
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def entries_after(pk: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=pk).order_by("pk"))


def last_pk() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_everything_seed_demo_changes_is_labelled_with_the_command() -> None:
    before = last_pk()

    call_command("seed_demo", stdout=io.StringIO())

    entries = entries_after(before)
    assert len(entries) > 50  # people, teams, policies, services, grants, incidents...
    assert {e.actor_label for e in entries} == {"system: seed_demo"}
    assert {e.actor_id for e in entries} == {None}


class Command(BaseCommand):
    """A command that records three entries: one on its own, one for a named person, one
    with a label of its own (as export_audit_log labels "command line (os user ...)")."""

    def handle(self, *args: Any, **options: Any) -> None:
        person = UserFactory(username="petra")
        record_event("test", message="on its own")
        record_event("test", message="for petra", actor=person)
        record_event("test", message="labelled", actor_label="command line (os user ops)")


def test_a_command_labels_only_what_names_no_actor_of_its_own() -> None:
    command = Command()
    before = last_pk()

    call_command(command)

    labels = {e.object_repr: e.actor_label for e in entries_after(before)}
    name = type(command).__module__.rsplit(".", 1)[-1]
    assert labels["on its own"] == f"system: {name}"
    assert labels["for petra"] == "petra"
    assert labels["labelled"] == "command line (os user ops)"
    assert labels["petra"] == f"system: {name}"  # the user's creation


class CommandWithAnActorOfItsOwn(BaseCommand):
    """As seal_audit_log and prune_audit_log do: part of its work runs under a system actor
    it names itself."""

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_actor_system("reconciler"):
            UserFactory(username="rex")
            record_event("test", message="in its own scope")
        record_event("test", message="after its own scope")


def test_a_command_that_names_its_system_actor_keeps_it() -> None:
    command = CommandWithAnActorOfItsOwn()
    before = last_pk()

    call_command(command)

    labels = {e.object_repr: e.actor_label for e in entries_after(before)}
    assert labels == {
        "rex": "system: reconciler",  # a model change
        "in its own scope": "system: reconciler",  # an event
        "after its own scope": f"system: {command_name(command)}",  # the command's again
    }


def test_nothing_is_labelled_after_the_command_has_finished() -> None:
    call_command("seal_audit_log", stdout=io.StringIO())
    before = last_pk()

    record_event("test", message="later")

    assert [e.actor_label for e in entries_after(before)] == [""]


def test_commands_are_wrapped_once() -> None:
    execute = BaseCommand.execute

    attribute_commands_to_system()

    assert BaseCommand.execute is execute


def test_the_role_groups_after_migrate_are_set_up_by_the_system() -> None:
    Group.objects.filter(name=AUDITORS_GROUP).delete()
    before = last_pk()

    _ensure_role_groups()

    entries = entries_after(before)
    assert entries
    assert {e.actor_label for e in entries} == {"system: role groups (post_migrate)"}
    assert AuditEntry.objects.get_for_object(Group.objects.get(name=AUDITORS_GROUP)).exists()
