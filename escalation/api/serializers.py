from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers

from escalation.models import EscalationLevel, EscalationPolicy
from schedules.api.serializers import ManagedTeamField


class LevelSerializer(serializers.ModelSerializer):
    delay_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600)
    users = serializers.SlugRelatedField(
        slug_field="username", many=True, queryset=get_user_model().objects.filter(is_active=True)
    )

    class Meta:
        model = EscalationLevel
        fields = ["position", "delay_seconds", "users"]

    def to_representation(self, level: EscalationLevel) -> dict[str, Any]:
        return {
            "position": level.position,
            "delay_seconds": int(level.delay.total_seconds()),
            "users": [user.username for user in level.users.all()],
        }


class PolicySerializer(serializers.ModelSerializer):
    team = ManagedTeamField()
    levels = LevelSerializer(many=True)

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "description", "team", "repeat", "levels"]

    def to_representation(self, policy: EscalationPolicy) -> dict[str, Any]:
        data = super().to_representation(policy)
        data["team"] = policy.team_id
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        team = attrs.get("team") or getattr(self.instance, "team", None)
        levels = attrs.get("levels")
        if levels is not None:
            positions = [level["position"] for level in levels]
            if not levels or len(set(positions)) != len(positions):
                raise serializers.ValidationError(
                    {"levels": "Give at least one level, each with its own position."}
                )
            members = set(team.members.values_list("pk", flat=True)) if team else set()
            strangers = {u.username for lv in levels for u in lv["users"] if u.pk not in members}
            if strangers:
                raise serializers.ValidationError(
                    {"levels": f"Not members of the team: {', '.join(sorted(strangers))}."}
                )
        return attrs

    @transaction.atomic
    def create(self, validated: dict[str, Any]) -> EscalationPolicy:
        levels = validated.pop("levels")
        policy = EscalationPolicy.objects.create(**validated)
        self._write_levels(policy, levels)
        return policy

    @transaction.atomic
    def update(self, policy: EscalationPolicy, validated: dict[str, Any]) -> EscalationPolicy:
        levels = validated.pop("levels", None)
        for field, value in validated.items():
            setattr(policy, field, value)
        policy.save()
        if levels is not None:
            # Running escalations use their frozen snapshot, so replacing levels is safe.
            for level in policy.levels.all():
                level.delete()
            self._write_levels(policy, levels)
        return policy

    def _write_levels(self, policy: EscalationPolicy, levels: list[dict[str, Any]]) -> None:
        for level in levels:
            created = EscalationLevel.objects.create(
                policy=policy,
                position=level["position"],
                delay=timedelta(seconds=level["delay_seconds"]),
            )
            created.users.set(level["users"])
