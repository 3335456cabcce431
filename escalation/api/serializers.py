from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from escalation.channels import display_address
from escalation.contact import sees_whole_address
from escalation.models import ContactMethod, EscalationLevel, EscalationPolicy, NotificationRule
from escalation.ownership import on_everyones, own_rows
from schedules.api.fields import MAX_ID, PersonRefField, resolve_members, resolve_people
from schedules.api.serializers import ManagedTeamField, refuse_move
from schedules.models import Team


class LevelSerializer(serializers.ModelSerializer):
    delay_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600)
    # People by id or username, resolved among the policy's team in PolicySerializer.validate
    # (one answer for anyone else: this tells nobody who has an account).
    users = serializers.ListField(
        child=PersonRefField(),
        required=False,
        max_length=100,
        help_text="Active members of the policy's team: user ids (numbers) or usernames "
        "(strings). Shown as usernames.",
    )
    # Ids, checked against the policy's team in PolicySerializer.validate (one answer for a
    # schedule of another team and one that does not exist: this tells nobody what exists).
    schedules = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=100,
        help_text="Ids of the team's schedules: whoever is on call in them when the level "
        "fires is paged.",
    )

    class Meta:
        model = EscalationLevel
        fields = ["position", "delay_seconds", "users", "schedules"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A policy's levels are replaced as a whole: a level given without a list has none.
        attrs.setdefault("users", [])
        attrs.setdefault("schedules", [])
        if not attrs["users"] and not attrs["schedules"]:
            raise serializers.ValidationError(
                "A level pages someone: give users, schedules or both."
            )
        return attrs

    def to_representation(self, level: EscalationLevel) -> dict[str, Any]:
        return {
            "position": level.position,
            "delay_seconds": int(level.delay.total_seconds()),
            "users": [user.username for user in level.users.all()],
            "schedules": sorted(schedule.pk for schedule in level.schedules.all()),
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
        refuse_move(self.instance, attrs.get("team"))
        team = attrs.get("team") or getattr(self.instance, "team", None)
        levels = attrs.get("levels")
        if levels is not None:
            positions = [level["position"] for level in levels]
            if not levels or len(set(positions)) != len(positions):
                raise serializers.ValidationError(
                    {"levels": "Give at least one level, each with its own position."}
                )
            if team is not None:
                self._check_targets(team, levels)
        return attrs

    @staticmethod
    def _check_targets(team: Team, levels: list[dict[str, Any]]) -> None:
        """A level pages its policy's team only: its people are active members (resolved here,
        in place), its schedules the team's (as the admin's LevelFormSet checks)."""
        try:
            for level in levels:
                level["users"] = resolve_members(team, level["users"])
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"levels": error.detail}) from None
        asked = {pk for level in levels for pk in level["schedules"]}
        if unknown := asked - set(team.schedules.filter(pk__in=asked).values_list("pk", flat=True)):
            raise serializers.ValidationError(
                {"levels": f"Not schedules of the team: {', '.join(map(str, sorted(unknown)))}."}
            )

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
            created.schedules.set(level["schedules"])


# --- A person's own contact methods and rules ----------------------------------------------


def _model_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    )


class MethodOwnerField(PersonRefField):
    """Whose contact method it is. Administrators (who manage everyone's) name anyone; anyone
    else only themselves, and naming someone else is refused before any lookup, with the
    same answer whether that person exists or not: this field tells nobody who has an
    account."""

    refused = "Only administrators name someone else here: leave `user` out, or name yourself."

    def to_internal_value(self, data: Any) -> Any:
        ref = super().to_internal_value(data)
        caller = self.context["request"].user
        action = "add" if getattr(self.parent, "instance", None) is None else "change"
        if on_everyones(caller, ContactMethod, action):
            [user] = resolve_people([ref])
            return user
        if ref not in (caller.pk, caller.get_username()):
            raise PermissionDenied(self.refused)
        return caller


class ContactMethodSerializer(serializers.ModelSerializer):
    user = MethodOwnerField(
        required=False,
        help_text="Whose it is: a user id (a number) or a username (a string). Default: you. "
        "Only administrators add contact methods for someone else.",
    )

    class Meta:
        model = ContactMethod
        fields = ["id", "user", "kind", "address", "label", "verified", "created_at"]
        read_only_fields = ["verified", "created_at"]

    def to_representation(self, instance: ContactMethod) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Whole to its owner and superusers only: auditors read everyone's methods, and a
        # webhook URL may carry its secret (escalation.contact.sees_whole_address).
        request = self.context.get("request")
        if request is None or not sees_whole_address(request.user, instance.user_id):
            data["address"] = display_address(instance.kind, instance.address)
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            attrs.setdefault("user", self.context["request"].user)
        elif "user" in attrs and attrs["user"].pk != self.instance.user_id:
            raise serializers.ValidationError(
                {"user": "A contact method stays with its person; add one for the other person."}
            )
        method = ContactMethod(
            kind=attrs.get("kind", getattr(self.instance, "kind", "")),
            address=attrs.get("address", getattr(self.instance, "address", "")),
        )
        try:
            method.clean()
        except DjangoValidationError as exc:
            raise _model_errors(exc) from exc
        return attrs


class ChangeableMethodField(serializers.PrimaryKeyRelatedField):
    """One of the contact methods the caller may change: their own (everyone's, for
    administrators). Anyone else's does not exist, as far as this field says."""

    def get_queryset(self) -> Any:
        user = self.context["request"].user
        return own_rows(user, ContactMethod.objects.all(), "change")


class NotificationRuleSerializer(serializers.ModelSerializer):
    contact_method = ChangeableMethodField(help_text="The id of one of your contact methods.")
    user = serializers.CharField(
        source="user.username", read_only=True, help_text="Always the contact method's person."
    )

    class Meta:
        model = NotificationRule
        fields = ["id", "user", "contact_method", "delay_minutes", "urgency"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        method, rule = attrs.get("contact_method"), self.instance
        if rule is not None and method is not None and method.user_id != rule.user_id:
            raise serializers.ValidationError(
                {"contact_method": "A rule stays with its person: use one of their methods."}
            )
        return attrs
