from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AlertEvent:
    """One event in Watchstander's terms, whatever format the source posted it in."""

    action: str  # Alert.Action: trigger, acknowledge or resolve
    dedup_key: str  # which incident it belongs to
    summary: str = ""
    severity: str = ""  # Severity value; empty for acknowledge/resolve
    source: str = ""
    alert_key: str = ""  # the source's id for this alert within the incident, if any
    occurred_at: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)
