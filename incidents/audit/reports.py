"""Response-time reports: MTTA and MTTR per service and per team for a period.

Definitions (PagerDuty's): an incident belongs to the period it was *created* in. Time to
acknowledge is acknowledged_at - created_at, over the incidents that were acknowledged; time
to resolve is resolved_at - created_at, over the incidents that were resolved (including those
resolved without an acknowledgement). Incidents still open contribute to the counts only.
"""

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from incidents.models import Incident


@dataclass
class Durations:
    """The acknowledge and resolve times (seconds) of one group of incidents."""

    incidents: int = 0
    to_acknowledge: list[float] = field(default_factory=list)
    to_resolve: list[float] = field(default_factory=list)

    def add(
        self, created: datetime, acknowledged: datetime | None, resolved: datetime | None
    ) -> None:
        self.incidents += 1
        if acknowledged is not None:
            self.to_acknowledge.append((acknowledged - created).total_seconds())
        if resolved is not None:
            self.to_resolve.append((resolved - created).total_seconds())

    def extend(self, other: "Durations") -> None:
        self.incidents += other.incidents
        self.to_acknowledge.extend(other.to_acknowledge)
        self.to_resolve.extend(other.to_resolve)


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


@dataclass(frozen=True)
class ResponseTimes:
    """MTTA/MTTR of one service (`service` set) or one whole team (`service` empty)."""

    scope: str  # "team" or "service"
    team: str
    service: str
    incidents: int
    acknowledged: int
    resolved: int
    mtta_mean: float | None
    mtta_median: float | None
    mttr_mean: float | None
    mttr_median: float | None

    @classmethod
    def of(cls, scope: str, team: str, service: str, durations: Durations) -> "ResponseTimes":
        ack, res = durations.to_acknowledge, durations.to_resolve
        return cls(
            scope=scope,
            team=team,
            service=service,
            incidents=durations.incidents,
            acknowledged=len(ack),
            resolved=len(res),
            mtta_mean=_mean(ack),
            mtta_median=_median(ack),
            mttr_mean=_mean(res),
            mttr_median=_median(res),
        )

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.scope,
            self.team,
            self.service,
            self.incidents,
            self.acknowledged,
            self.resolved,
            self.mtta_mean,
            self.mtta_median,
            self.mttr_mean,
            self.mttr_median,
        )


RESPONSE_TIME_COLUMNS = (
    "scope",
    "team",
    "service",
    "incidents",
    "acknowledged",
    "resolved",
    "mtta_mean_s",
    "mtta_median_s",
    "mttr_mean_s",
    "mttr_median_s",
)


def response_times(
    *, start: datetime, end: datetime, team_id: int | None = None
) -> Iterator[ResponseTimes]:
    """For each team with incidents created in [start, end): the team's row, then one row per
    service of it, services by name.

    Reads plain tuples ordered by team, so only one team's durations are in memory at a time
    (medians need them all; there is no portable SQL median).
    """
    incidents = Incident.objects.filter(created_at__gte=start, created_at__lt=end)
    if team_id is not None:
        incidents = incidents.filter(service__team_id=team_id)
    rows = (
        incidents.order_by("service__team__name", "service__team_id", "service__name", "service_id")
        .values_list(
            "service__team_id",
            "service__team__name",
            "service__name",
            "created_at",
            "acknowledged_at",
            "resolved_at",
        )
        .iterator(chunk_size=2000)
    )
    for (_, team_name), team_rows in groupby(rows, key=lambda row: (row[0], row[1])):
        yield from _team_response_times(team_name, team_rows)


def _team_response_times(team: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[ResponseTimes]:
    per_service: list[ResponseTimes] = []
    whole_team = Durations()
    for service, service_rows in groupby(rows, key=lambda row: row[2]):
        durations = Durations()
        for row in service_rows:
            durations.add(row[3], row[4], row[5])
        per_service.append(ResponseTimes.of("service", team, service, durations))
        whole_team.extend(durations)
    yield ResponseTimes.of("team", team, "", whole_team)
    yield from per_service
