"""An incident's urgency, PagerDuty-style. There is no urgency field: it follows from the
severity, so that the audit exports and the people's notification rules always agree."""

from escalation.models import Urgency
from incidents.models import Severity

HIGH_URGENCY = frozenset({Severity.CRITICAL, Severity.ERROR})


def urgency_of(severity: str) -> Urgency:
    """Critical and error page as high urgency; warning and info as low."""
    return Urgency.HIGH if severity in HIGH_URGENCY else Urgency.LOW
