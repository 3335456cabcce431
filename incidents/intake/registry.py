from incidents.intake.alertmanager import AlertmanagerAdapter
from incidents.intake.base import SourceAdapter
from incidents.intake.events_api_v2 import EventsApiV2Adapter
from incidents.models import Integration

ADAPTERS: dict[str, SourceAdapter] = {
    Integration.Kind.EVENTS_API_V2: EventsApiV2Adapter(),
    Integration.Kind.ALERTMANAGER: AlertmanagerAdapter(),
}
