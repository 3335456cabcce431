"""The incident state machine: triggered -> acknowledged -> resolved."""

import pytest

from incidents.models import Incident, IncidentEvent, Notification
from incidents.services import (
    Actor,
    InvalidTransition,
    alert_ingest,
    incident_acknowledge,
    incident_resolve,
)
from incidents.services.transitions import ALLOWED_TRANSITIONS
from tests.conftest import Setup, trigger_event

Status = Incident.Status


def trigger(setup: Setup) -> Incident:
    result = alert_ingest(integration=setup.alertmanager, events=[trigger_event()])[0]
    return Incident.objects.get(pk=result.incident_id)


def kinds(incident: Incident) -> list[str]:
    return list(incident.events.values_list("kind", flat=True))


def test_the_transition_table_only_moves_forward() -> None:
    assert {
        Status.TRIGGERED: {Status.ACKNOWLEDGED, Status.RESOLVED},
        Status.ACKNOWLEDGED: {Status.RESOLVED},
        Status.RESOLVED: set(),
    } == ALLOWED_TRANSITIONS


def test_acknowledge_records_who_and_when_and_cancels_pending_pages(setup: Setup) -> None:
    incident = trigger(setup)

    incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.alice))

    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    assert incident.acknowledged_by == setup.alice
    assert incident.acknowledged_at is not None
    assert incident.notifications.get().status == Notification.Status.CANCELLED
    event = incident.events.last()
    assert (event.kind, event.actor, event.actor_label) == ("acknowledged", setup.alice, "alice")


def test_acknowledging_twice_is_a_no_op(setup: Setup) -> None:
    incident = trigger(setup)
    incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.alice))
    first_at = Incident.objects.get(pk=incident.pk).acknowledged_at

    incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.bob))

    incident.refresh_from_db()
    assert (incident.acknowledged_by, incident.acknowledged_at) == (setup.alice, first_at)
    assert kinds(incident).count(IncidentEvent.Kind.ACKNOWLEDGED) == 1


def test_resolve_from_triggered_and_from_acknowledged(setup: Setup) -> None:
    direct = trigger(setup)
    incident_resolve(incident_id=direct.pk, actor=Actor.of_user(setup.bob))
    later = trigger(setup)  # the dedup key is free again: a new incident
    incident_acknowledge(incident_id=later.pk, actor=Actor.of_user(setup.alice))
    incident_resolve(incident_id=later.pk, actor=Actor.of_user(setup.alice))

    assert later.pk != direct.pk
    for incident in (direct, later):
        incident.refresh_from_db()
        assert incident.status == Status.RESOLVED
        assert incident.resolved_at is not None
        assert incident.next_escalation_at is None


def test_a_resolved_incident_cannot_be_acknowledged(setup: Setup) -> None:
    incident = trigger(setup)
    incident_resolve(incident_id=incident.pk, actor=Actor.of_user(setup.bob))

    with pytest.raises(InvalidTransition, match="resolved"):
        incident_acknowledge(incident_id=incident.pk, actor=Actor.of_user(setup.alice))

    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None


def test_resolving_twice_is_a_no_op(setup: Setup) -> None:
    incident = trigger(setup)
    incident_resolve(incident_id=incident.pk, actor=Actor.of_user(setup.bob))
    incident_resolve(incident_id=incident.pk, actor=Actor.of_user(setup.alice))

    incident.refresh_from_db()
    assert incident.resolved_by == setup.bob
    assert kinds(incident).count(IncidentEvent.Kind.RESOLVED) == 1


def test_missing_incident_raises_does_not_exist(db: None) -> None:
    with pytest.raises(Incident.DoesNotExist):
        incident_acknowledge(incident_id=999_999, actor=Actor(label="x"))
