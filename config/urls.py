from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from incidents.intake.views import EventsApiV2View, IntegrationWebhookView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # PagerDuty Events API v2 compatible intake: a PagerDuty client works by changing the host.
    path("v2/enqueue", EventsApiV2View.as_view(), name="events-v2-enqueue"),
    path(
        "api/v1/integrations/<str:key>/",
        IntegrationWebhookView.as_view(),
        name="integration-webhook",
    ),
    path("api/v1/audit/", include("incidents.audit.api")),
    path("api/v1/", include("incidents.api.urls", namespace="api")),
]
