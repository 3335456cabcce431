"""The incidents app's admin: the responders' incident pages, the services and integrations
that alerts come in through, the engine's records (alerts, notifications), and the job queues
for operators.

Everything is scoped to the teams the user may see (schedules.admin.access); the engine's
records are the incident's (or, for shift notices, the schedule's).

What is where:
- services: ServiceAdmin, with its integrations inline (IntegrationInline), and
  IntegrationAdmin (a key shown once, when issued or rotated).
- incidents: IncidentAdmin, its bulk actions and the views behind its page's buttons and forms.
- forms: the small forms on an incident's page (ResolveForm, ReassignForm, NoteForm).
- records: the incident's read-only records, inline on its page (IncidentEventInline,
  AlertInline, NotificationInline) and in their own lists (AlertAdmin, NotificationAdmin).
- queues: django-rq's dashboard, for operators only (OperatorsQueueAdmin).
- The auditor's admin (exports, response-times report) is incidents.audit.admin, and the API
  tokens' admin incidents.audit.token_admin; both are registered from here.

Django's autodiscover imports this package; the registrations are here.
"""

from django.contrib import admin
from django_rq.models import Dashboard

from incidents.admin.incidents import IncidentAdmin
from incidents.admin.queues import OperatorsQueueAdmin
from incidents.admin.records import AlertAdmin, NotificationAdmin
from incidents.admin.services import IntegrationAdmin, ServiceAdmin
from incidents.audit import token_admin
from incidents.models import Alert, Incident, Integration, Notification, Service

admin.site.register(Service, ServiceAdmin)
admin.site.register(Integration, IntegrationAdmin)
admin.site.register(Incident, IncidentAdmin)
admin.site.register(Alert, AlertAdmin)
admin.site.register(Notification, NotificationAdmin)

# Imported as a name of its own: `import incidents.audit.admin` would bind `incidents` here, over
# the submodule incidents.admin.incidents.
from incidents.audit import admin as audit_admin  # noqa: F401,E402

if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, OperatorsQueueAdmin)
# API tokens, without their keys in the admin's own log.
token_admin.register(admin.site)
