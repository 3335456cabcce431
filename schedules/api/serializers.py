from typing import Any

from rest_framework import serializers

from schedules.access import managed_teams
from schedules.models import Team, TeamMembership


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = TeamMembership
        fields = ["username", "role"]


class TeamSerializer(serializers.ModelSerializer):
    memberships = MembershipSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "memberships"]


class ManagedTeamField(serializers.PrimaryKeyRelatedField):
    """A team the requesting user manages: the only teams they may put things in."""

    def get_queryset(self) -> Any:
        return managed_teams(self.context["request"].user)
