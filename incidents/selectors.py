from typing import Any

from django.db.models import QuerySet

from incidents.models import Incident
from schedules.access import perm_name, visible


def incidents_visible_to(user: Any) -> QuerySet[Incident]:
    """The incidents `user` may see: object permissions through their teams, every incident
    for auditors (model-level view) and superusers."""
    incidents = Incident.objects.select_related("service__team", "acknowledged_by", "resolved_by")
    return visible(user, perm_name(Incident, "view"), incidents)
