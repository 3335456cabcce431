from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins

from schedules.api.base import TeamScopedViewSet
from schedules.api.serializers import TeamSerializer
from schedules.models import Team


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    model = Team
    serializer_class = TeamSerializer

    def base_queryset(self) -> QuerySet[Any]:
        return Team.objects.prefetch_related("memberships__user")
