from typing import Any

from django.db.models import QuerySet

from escalation.api.serializers import PolicySerializer
from escalation.models import EscalationPolicy
from schedules.api.base import TeamScopedModelViewSet


class EscalationPolicyViewSet(TeamScopedModelViewSet):
    model = EscalationPolicy
    serializer_class = PolicySerializer

    def base_queryset(self) -> QuerySet[Any]:
        return EscalationPolicy.objects.prefetch_related("levels__users")
