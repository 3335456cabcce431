"""Every state change in the incidents app goes through a function exported here."""

from incidents.services.actors import SYSTEM, Actor
from incidents.services.delivery import notification_deliver
from incidents.services.errors import DomainError, InvalidTransition
from incidents.services.ingest import IngestResult, alert_ingest
from incidents.services.reconcile import ReconcileReport, reconcile_overdue
from incidents.services.shift_notices import shift_notices_queue
from incidents.services.transitions import (
    NOTE_MAX_LENGTH,
    incident_acknowledge,
    incident_add_note,
    incident_escalate,
    incident_reassign,
    incident_resolve,
)

__all__ = [
    "NOTE_MAX_LENGTH",
    "SYSTEM",
    "Actor",
    "DomainError",
    "IngestResult",
    "InvalidTransition",
    "ReconcileReport",
    "alert_ingest",
    "incident_acknowledge",
    "incident_add_note",
    "incident_escalate",
    "incident_reassign",
    "incident_resolve",
    "notification_deliver",
    "reconcile_overdue",
    "shift_notices_queue",
]
