import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.utils import timezone
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from schedules.access import can, perm_name, visible
from schedules.api.base import AuditedActorMixin, TeamScopedModelViewSet, TeamScopedViewSet
from schedules.api.fields import MAX_ID
from schedules.api.serializers import (
    GapsSerializer,
    InstantQuerySerializer,
    OnCallSerializer,
    OverrideSerializer,
    PersonFeedSerializer,
    RangeQuerySerializer,
    RotationSerializer,
    ScheduleSerializer,
    ShiftsSerializer,
    TeamSerializer,
)
from schedules.feeds import person_settings, rotate_feed_token
from schedules.limits import taken_too_early
from schedules.models import Override, PersonSettings, Rotation, Schedule, Team
from schedules.oncall import UNCOMPUTABLE, ScheduleRules, Shift, final_shifts, gaps
from schedules.selectors import schedule_rules
from schedules.stretches import REACH, shift_at

User = get_user_model()
logger = logging.getLogger(__name__)
T = TypeVar("T")
SerializerClass = type[serializers.BaseSerializer]  # type: ignore[type-arg]


class ActionSchema(AutoSchema):
    """DRF's AutoSchema, told what it cannot infer for extra actions: a readable operationId,
    the query parameters (the fields of a query serializer), the answers that are paginated
    lists, and the POSTs that take no body."""

    def __init__(
        self,
        *,
        operation_ids: Mapping[str, str],
        queries: Mapping[str, type[serializers.Serializer]] | None = None,
        paginated: Collection[str] = (),
        bodiless: Collection[str] = (),
    ) -> None:
        super().__init__()
        self.operation_ids = operation_ids
        self.queries = queries or {}
        self.paginated = paginated
        self.bodiless = bodiless

    @property
    def _action(self) -> str:
        return str(getattr(self.view, "action", ""))

    def get_operation_id(self, path: str, method: str) -> str:
        return self.operation_ids.get(self._action) or super().get_operation_id(path, method)

    def get_filter_parameters(self, path: str, method: str) -> list[dict[str, Any]]:
        query = self.queries.get(self._action)
        if query is None:
            return super().get_filter_parameters(path, method)  # type: ignore[no-any-return]
        return [
            {
                "name": name,
                "in": "query",
                "required": field.required,
                "description": str(field.help_text or ""),
                "schema": self.map_field(field),
            }
            for name, field in query().fields.items()
        ]

    @property
    def _paginator(self) -> Any:
        return getattr(self.view, "paginator", None) if self._action in self.paginated else None

    def get_pagination_parameters(self, path: str, method: str) -> list[dict[str, Any]]:
        if self._paginator is not None:
            return self._paginator.get_schema_operation_parameters(self.view)  # type: ignore[no-any-return]
        return super().get_pagination_parameters(path, method)  # type: ignore[no-any-return]

    def get_request_body(self, path: str, method: str) -> dict[str, Any]:
        if self._action in self.bodiless:
            return {}
        return super().get_request_body(path, method)  # type: ignore[no-any-return]

    def get_responses(self, path: str, method: str) -> dict[str, Any]:
        responses: dict[str, Any] = super().get_responses(path, method)
        if self._paginator is not None:
            for response in responses.values():
                for content in response.get("content", {}).values():
                    items = {"type": "array", "items": content["schema"]}
                    content["schema"] = self._paginator.get_paginated_response_schema(items)
        return responses


def read_query(serializer_class: SerializerClass, request: Request) -> dict[str, Any]:
    """The request's query parameters, validated (a 400 that names the parameter if not)."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def present_shifts(shifts: Iterable[Shift | None]) -> list[dict[str, Any] | None]:
    """Shifts as the API shows them: with the person's username (one query for all)."""
    shifts = list(shifts)
    ids = {shift.user_id for shift in shifts if shift is not None}
    usernames = dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))
    return [
        None
        if shift is None
        else {
            "user": {"id": shift.user_id, "username": usernames.get(shift.user_id, "")},
            "start": shift.start,
            "end": shift.end,
            "source": shift.source,
            "ref": shift.ref,
        }
        for shift in shifts
    ]


class Uncomputable(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "uncomputable"


def computed(schedule: Schedule, compute: Callable[[], T]) -> T:
    """`compute()`, or a 409 saying why not: rules stored past schedules.limits (around
    validation, or before the limits) cannot be computed, and that is the schedule's state,
    not a server error."""
    try:
        return compute()
    except UNCOMPUTABLE as error:
        raise Uncomputable(
            f"The rules of schedule {schedule.pk} ({schedule}) cannot be computed ({error}): "
            "correct its time zone, or its layers' time zones, turns and dates."
        ) from error


def shift_or_nobody(schedule: Schedule, rules: ScheduleRules, at: datetime) -> Shift | None:
    """The shift at `at`; nobody where the rules cannot be computed, as escalation has it
    (schedules.selectors.oncall_user_ids), logged, so that one schedule cannot fail a list."""
    try:
        return shift_at(rules, at)
    except UNCOMPUTABLE:
        logger.exception("Nobody on call in schedule %s: its rules cannot be computed", schedule.pk)
        return None


def rules_around(schedule_ids: list[int], at: datetime) -> dict[int, ScheduleRules]:
    # Overrides as far out as shift_at may look for the real edges of the shift at `at`.
    return schedule_rules(schedule_ids, window=(at - REACH, at + REACH))


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    model = Team
    serializer_class = TeamSerializer

    def base_queryset(self) -> QuerySet[Any]:
        return Team.objects.prefetch_related("memberships__user")


class ScheduleViewSet(TeamScopedModelViewSet):
    """Schedules, who is on call in them, their final shifts and gaps, and the secret of their
    iCal feed."""

    model = Schedule
    serializer_class = ScheduleSerializer
    lookup_value_regex = r"\d+"
    action_permissions: ClassVar[dict[str, str]] = {
        "oncall": "view",
        "oncall_everywhere": "view",
        "shifts": "view",
        "gaps": "view",
        "rotate_feed_token": "change",
    }
    answers: ClassVar[dict[str, SerializerClass]] = {
        "oncall": OnCallSerializer,
        "oncall_everywhere": OnCallSerializer,
        "shifts": ShiftsSerializer,
        "gaps": GapsSerializer,
    }
    schema = ActionSchema(
        operation_ids={
            "oncall": "retrieveScheduleOncall",
            "oncall_everywhere": "listSchedulesOncall",
            "shifts": "listScheduleShifts",
            "gaps": "listScheduleGaps",
            "rotate_feed_token": "rotateScheduleFeedToken",
        },
        queries={
            "oncall": InstantQuerySerializer,
            "oncall_everywhere": InstantQuerySerializer,
            "shifts": RangeQuerySerializer,
            "gaps": RangeQuerySerializer,
        },
        paginated={"oncall_everywhere"},
        bodiless={"rotate_feed_token"},
    )

    def get_serializer_class(self) -> SerializerClass:
        return self.answers.get(self.action, ScheduleSerializer)

    @action(detail=True, methods=["get"])
    def oncall(self, request: Request, pk: str | None = None) -> Response:
        """Who is on call at `at` (default now), with the shift's real start and end."""
        schedule = self.get_object()
        at = read_query(InstantQuerySerializer, request)["at"]
        rules = rules_around([schedule.pk], at)[schedule.pk]
        [shift] = present_shifts([computed(schedule, lambda: shift_at(rules, at))])
        return Response(OnCallSerializer({"schedule": schedule, "at": at, "shift": shift}).data)

    @action(detail=False, methods=["get"], url_path="oncall")
    def oncall_everywhere(self, request: Request) -> Response:
        """Who is on call at `at` (default now) in every schedule you may see."""
        at = read_query(InstantQuerySerializer, request)["at"]
        page: list[Schedule] = self.paginate_queryset(self.get_queryset())  # type: ignore[assignment]
        rules = rules_around([schedule.pk for schedule in page], at)
        shifts = present_shifts(shift_or_nobody(one, rules[one.pk], at) for one in page)
        answers = [
            {"schedule": schedule, "at": at, "shift": shift}
            for schedule, shift in zip(page, shifts, strict=True)
        ]
        return self.get_paginated_response(OnCallSerializer(answers, many=True).data)

    @action(detail=True, methods=["get"])
    def shifts(self, request: Request, pk: str | None = None) -> Response:
        """The final shifts from `start` to `end`, cut at both."""
        schedule, (start, end), rules = self._in_range(request)
        shifts = present_shifts(computed(schedule, lambda: final_shifts(rules, start, end)))
        answer = {"schedule": schedule, "start": start, "end": end, "shifts": shifts}
        return Response(ShiftsSerializer(answer).data)

    @action(detail=True, methods=["get"])
    def gaps(self, request: Request, pk: str | None = None) -> Response:
        """When nobody is on call between `start` and `end`."""
        schedule, (start, end), rules = self._in_range(request)
        found = computed(schedule, lambda: gaps(rules, start, end))
        answer = {"schedule": schedule, "start": start, "end": end, "gaps": found}
        return Response(GapsSerializer(answer).data)

    def _in_range(self, request: Request) -> tuple[Schedule, tuple[datetime, datetime], Any]:
        schedule = self.get_object()
        query = read_query(RangeQuerySerializer, request)
        window = (query["start"], query["end"])
        return schedule, window, schedule_rules([schedule.pk], window=window)[schedule.pk]

    @action(detail=True, methods=["post"], url_path="rotate-feed-token")
    def rotate_feed_token(self, request: Request, pk: str | None = None) -> Response:
        """A new secret for the schedule's iCal URL: the old URL stops working."""
        schedule = self.get_object()
        rotate_feed_token(schedule)
        return Response(ScheduleSerializer(schedule, context=self.get_serializer_context()).data)


# --- Rotations and overrides: parts of their schedule ---------------------------------------


class SchedulePartPermission(permissions.BasePermission):
    """Rotations and overrides have no permissions of their own: reading one needs
    view_schedule on its schedule, changing or deleting one change_schedule. A create is
    decided by the view, once the body has named the schedule."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        needed = "view" if view.required_permission() == "view" else "change"  # type: ignore[attr-defined]
        return can(request.user, perm_name(Schedule, needed), obj.schedule)  # type: ignore[attr-defined]


class ScheduleFilterSerializer(serializers.Serializer):
    schedule = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only those of this schedule."
    )


class SchedulePartViewSet(TeamScopedModelViewSet):
    permission_classes = [SchedulePartPermission]

    def get_queryset(self) -> QuerySet[Any]:
        user = self.request.user
        schedules = visible(user, perm_name(Schedule, "view"), Schedule.objects.all())
        # Another team's rotation is simply not there: 404, never 403.
        return self.base_queryset().filter(schedule__in=schedules)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        wanted = read_query(ScheduleFilterSerializer, self.request).get("schedule")
        return queryset if wanted is None else queryset.filter(schedule_id=wanted)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        self.authorize_create(serializer.validated_data)
        serializer.save()

    def authorize_create(self, data: Mapping[str, Any]) -> None:
        if not can(self.request.user, perm_name(Schedule, "change"), data["schedule"]):
            raise PermissionDenied("Only the team's managers may change this schedule.")


class RotationViewSet(SchedulePartViewSet):
    """The layers of a schedule, with their participants in turn order and their
    restrictions, written together."""

    model = Rotation
    serializer_class = RotationSerializer
    schema = ActionSchema(operation_ids={}, queries={"list": ScheduleFilterSerializer})

    def base_queryset(self) -> QuerySet[Any]:
        return Rotation.objects.prefetch_related("participants__user", "restrictions")


class OverrideViewSet(SchedulePartViewSet):
    """Someone covers a stretch of a schedule. The team's managers add, change and remove any
    override on their team's schedules; any member of the team may add one covering
    themselves ("take this shift")."""

    model = Override
    serializer_class = OverrideSerializer
    schema = ActionSchema(operation_ids={}, queries={"list": ScheduleFilterSerializer})

    def base_queryset(self) -> QuerySet[Any]:
        return Override.objects.select_related("user")

    def authorize_create(self, data: Mapping[str, Any]) -> None:
        user, schedule = self.request.user, data["schedule"]
        if can(user, perm_name(Schedule, "change"), schedule):
            return
        is_member = schedule.team.memberships.filter(user_id=user.pk).exists()
        if not (is_member and data["user"].pk == user.pk):
            raise PermissionDenied(
                "You may take a shift of your team's schedules yourself; only the team's "
                "managers may put someone else on call."
            )
        if why := taken_too_early(data["start"], timezone.now()):
            raise serializers.ValidationError({"start": [why]})


# --- The caller's own calendar feed ---------------------------------------------------------


class MeViewSet(AuditedActorMixin, GenericViewSet):  # type: ignore[type-arg]
    """Your own calendar feed (its URL is created on first use) and its revocation. Anyone
    signed in, on their own settings only: nothing here names another person."""

    serializer_class = PersonFeedSerializer
    permission_classes = [permissions.IsAuthenticated]
    schema = ActionSchema(
        operation_ids={"retrieve": "retrieveMe", "rotate_feed_token": "rotateMyFeedToken"},
        bodiless={"rotate_feed_token"},
    )

    def get_object(self) -> PersonSettings:
        return person_settings(self.request.user)

    def retrieve(self, request: Request) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def rotate_feed_token(self, request: Request) -> Response:
        """A new secret for your iCal URL: the old URL stops working."""
        person = self.get_object()
        rotate_feed_token(person)
        return Response(self.get_serializer(person).data)
