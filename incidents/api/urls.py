from django.urls import path
from rest_framework.renderers import JSONOpenAPIRenderer
from rest_framework.routers import DefaultRouter
from rest_framework.schemas import get_schema_view

from escalation.api.views import EscalationPolicyViewSet
from incidents.api.views import IncidentViewSet, IntegrationViewSet, ServiceViewSet
from schedules.api.views import TeamViewSet

app_name = "api"

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalation-policy")
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
    *router.urls,
]
