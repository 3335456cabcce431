from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from incidents.intake.views import EventsApiV2View, IntegrationWebhookView
from incidents.views import IncidentLinkView
from schedules import feeds

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("incidents/link/<str:token>/", IncidentLinkView.as_view(), name="incident-link"),
    # iCal subscriptions: the secret token in the URL is the credential (schedules.feeds).
    path("calendars/schedules/<slug:token>.ics", feeds.schedule_feed, name="schedule-feed"),
    path("calendars/people/<slug:token>.ics", feeds.person_feed, name="person-feed"),
    # PagerDuty Events API v2 compatible intake: a PagerDuty client works by changing the host.
    path("v2/enqueue", EventsApiV2View.as_view(), name="events-v2-enqueue"),
    path("api/v1/audit/", include("incidents.audit.api")),
    # Before the webhook: /api/v1/integrations/<numeric id>/ is the API's integration; any
    # other /api/v1/integrations/<key>/ is an alert source posting (keys are never all digits).
    path("api/v1/", include("incidents.api.urls", namespace="api")),
    path(
        "api/v1/integrations/<str:key>/",
        IntegrationWebhookView.as_view(),
        name="integration-webhook",
    ),
]
