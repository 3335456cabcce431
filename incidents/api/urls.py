from rest_framework.routers import DefaultRouter

from incidents.api.views import IncidentViewSet

app_name = "api"

router = DefaultRouter()
router.register("incidents", IncidentViewSet, basename="incident")

urlpatterns = router.urls
