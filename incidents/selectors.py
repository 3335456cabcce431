from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from incidents.models import Incident


def incidents_visible_to(user: User | AnonymousUser) -> QuerySet[Incident]:
    """Incidents of the services of the teams `user` belongs to; every incident for superusers.

    Team-scoped object permissions (django-guardian) replace this with the RBAC issue.
    """
    incidents = Incident.objects.select_related("service__team", "acknowledged_by", "resolved_by")
    if not user.is_authenticated or not user.is_active:
        return incidents.none()
    if getattr(user, "is_superuser", False):
        return incidents
    return incidents.filter(service__team__memberships__user=user)
