from django.urls import path
from rest_framework.renderers import JSONOpenAPIRenderer
from rest_framework.routers import DefaultRouter
from rest_framework.schemas import get_schema_view

from escalation.api.views import (
    ContactMethodViewSet,
    EscalationPolicyViewSet,
    NotificationRuleViewSet,
)
from incidents.api.views import IncidentViewSet, IntegrationViewSet, ServiceViewSet
from schedules.api.views import (
    MeViewSet,
    OverrideViewSet,
    RotationViewSet,
    ScheduleViewSet,
    TeamViewSet,
)

app_name = "api"

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("rotations", RotationViewSet, basename="rotation")
router.register("overrides", OverrideViewSet, basename="override")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalation-policy")
router.register("contact-methods", ContactMethodViewSet, basename="contact-method")
router.register("notification-rules", NotificationRuleViewSet, basename="notification-rule")
router.register("services", ServiceViewSet, basename="service")
router.register("integrations", IntegrationViewSet, basename="integration")
router.register("incidents", IncidentViewSet, basename="incident")

urlpatterns = [
    path(
        "schema/",
        get_schema_view(
            title="Watchstander API",
            version="1",
            renderer_classes=[JSONOpenAPIRenderer],
        ),
        name="openapi-schema",
    ),
    # The caller's own things: one object each, so no router (it would make them lists).
    path("me/", MeViewSet.as_view({"get": "retrieve"}), name="me"),
    path(
        "me/rotate-feed-token/",
        MeViewSet.as_view({"post": "rotate_feed_token"}),
        name="me-rotate-feed-token",
    ),
    *router.urls,
]
