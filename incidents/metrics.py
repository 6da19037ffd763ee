"""Metrics across incidents: what operations and compliance staff report each month.

Computed only from the workflows' own state (`IncidentView`), the same record the incident report
is built from, so a figure here can be traced to the incidents behind it. Pure: `now` comes in as
an argument, because "was this stage met" depends on whether its deadline has passed yet.

Percentiles use the nearest-rank method (the smallest value with at least q of the values at or
below it): every reported figure is a time some real incident took, which is easier to check by
hand and to defend in an audit than an interpolated one.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from incidents.checklist_metrics import ChecklistFigures, checklist_figures
from incidents.clocks import ClockStatus, StageClock
from incidents.lifecycle import IncidentState, IncidentView
from incidents.report_export import stage_outcome

REPORTED_PREFIX = "Reported by "
# Every time measure, in lifecycle order.
DURATIONS = (
    "time_to_triage",
    "time_to_page",
    "time_to_ack",
    "time_to_contain",
    "time_to_resolve",
)
UNKNOWN = "unknown"


class Durations(BaseModel):
    """One time measure across incidents, in seconds; None where no incident reached it."""

    count: int
    median_s: float | None = None
    p90_s: float | None = None
    samples_s: list[float] = Field(default_factory=list, description="For the charts")


class StageTally(BaseModel):
    """Stages with a due instant: met on time, missed (late or overdue), or still open."""

    met: int = 0
    missed: int = 0
    open: int = 0

    @property
    def settled(self) -> int:
        return self.met + self.missed

    @property
    def met_pct(self) -> float | None:
        """None rather than 100 % when nothing has settled yet: no evidence is not compliance."""
        return round(100 * self.met / self.settled, 1) if self.settled else None


class Breach(BaseModel):
    incident_id: str
    client: str
    obligation: str
    stage: str
    due_at: datetime
    done_at: datetime | None = None


class Metrics(BaseModel):
    generated_at: datetime
    since: datetime
    client: str | None = None
    incidents: int
    by_type: dict[str, int]
    by_severity: dict[str, int]
    by_client: dict[str, int]
    by_channel: dict[str, int]
    by_state: dict[str, int]
    false_alarms: int
    false_alarm_pct: float | None
    per_day: dict[date, int]
    time_to_triage: Durations = Field(default_factory=lambda: Durations(count=0))
    time_to_page: Durations
    time_to_ack: Durations
    time_to_contain: Durations = Field(default_factory=lambda: Durations(count=0))
    time_to_resolve: Durations
    client_notification: StageTally
    regulatory: StageTally
    breaches: list[Breach]
    checklists: dict[str, ChecklistFigures] = Field(
        default_factory=dict, description="SOP checklist completion and time per incident type"
    )

    def summary(self) -> dict[str, object]:
        """The JSON form: figures, not the raw samples (those only feed the charts)."""
        data = self.model_dump(mode="json", exclude={"per_day"})
        for name in DURATIONS:
            data[name].pop("samples_s")
        for name in ("client_notification", "regulatory"):
            tally: StageTally = getattr(self, name)
            data[name]["met_pct"] = tally.met_pct
        data["per_day"] = {d.isoformat(): n for d, n in sorted(self.per_day.items())}
        return data


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, 0 < q <= 1."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def durations(values: Iterable[timedelta]) -> Durations:
    seconds = [v.total_seconds() for v in values]
    if not seconds:
        return Durations(count=0)
    return Durations(
        count=len(seconds),
        median_s=float(statistics.median(seconds)),
        p90_s=percentile(seconds, 0.9),
        samples_s=seconds,
    )


def channel_of(view: IncidentView) -> str:
    """The view has no channel field; the workflow's first timeline entry names it."""
    for entry in view.timeline:
        if entry.event == "reported" and entry.detail.startswith(REPORTED_PREFIX):
            return entry.detail.removeprefix(REPORTED_PREFIX).strip() or UNKNOWN
    return UNKNOWN


def type_of(view: IncidentView) -> str:
    """The assessed type when there is one (it may have been corrected), else the reported one."""
    if view.facts is not None and view.facts.incident_type is not None:
        return str(view.facts.incident_type)
    return view.category or UNKNOWN


def is_false_alarm(view: IncidentView) -> bool:
    """A report an agent dismissed. Counted from the dismissal itself, since a false alarm
    passes through FALSE_ALARM and ends CLOSED like any other incident."""
    return view.false_alarm_by is not None or view.state is IncidentState.FALSE_ALARM


def first_paged_at(view: IncidentView) -> datetime | None:
    paged = [e.at for e in view.timeline if e.event == "paged"]
    return min(paged) if paged else None


def is_contract_notice(obligation_id: str) -> bool:
    """The processor-to-controller notice from the client contract (see incidents.notification)."""
    return obligation_id.startswith("contract_")


def _tally(tally: StageTally, stage: StageClock, now: datetime) -> bool:
    """Count a stage; True when it was missed."""
    if stage.due_at is None or stage.status is ClockStatus.CANCELLED:
        return False
    outcome = stage_outcome(stage, now)
    if outcome.startswith("met"):
        tally.met += 1
    elif outcome.startswith("missed"):
        tally.missed += 1
        return True
    else:
        tally.open += 1
    return False


def compute(
    views: Sequence[IncidentView], *, now: datetime, since: datetime, client: str | None = None
) -> Metrics:
    """Metrics over the given incidents; the caller has already selected them by time and client."""
    total = len(views)
    false_alarms = sum(is_false_alarm(v) for v in views)
    to_page: list[timedelta] = []
    to_ack: list[timedelta] = []
    to_resolve: list[timedelta] = []
    to_triage: list[timedelta] = []
    to_contain: list[timedelta] = []
    notification = StageTally()
    regulatory = StageTally()
    breaches: list[Breach] = []
    for view in views:
        paged_at = first_paged_at(view)
        if paged_at is not None:
            to_page.append(paged_at - view.received_at)
        if view.acknowledged_at is not None:
            to_ack.append(view.acknowledged_at - view.received_at)
        if view.resolved_at is not None:
            to_resolve.append(view.resolved_at - view.received_at)
        if view.triaged_at is not None:
            to_triage.append(view.triaged_at - view.received_at)
        if view.contained_at is not None:
            to_contain.append(view.contained_at - view.received_at)
        for obligation in view.obligations:
            contract = is_contract_notice(obligation.id)
            for stage in obligation.stages:
                missed = _tally(notification if contract else regulatory, stage, now)
                if missed and not contract:
                    breaches.append(
                        Breach(
                            incident_id=view.incident_id,
                            client=view.client,
                            obligation=obligation.name,
                            stage=stage.stage,
                            due_at=stage.due_at,  # type: ignore[arg-type]  # _tally checked it
                            done_at=stage.done_at,
                        )
                    )

    def count(values: Iterable[str]) -> dict[str, int]:
        return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))

    return Metrics(
        generated_at=now,
        since=since,
        client=client,
        incidents=total,
        by_type=count(type_of(v) for v in views),
        by_severity=dict(sorted(Counter(str(v.severity) for v in views).items())),
        by_client=count(v.client for v in views),
        by_channel=count(channel_of(v) for v in views),
        by_state=count(str(v.state) for v in views),
        false_alarms=false_alarms,
        false_alarm_pct=round(100 * false_alarms / total, 1) if total else None,
        per_day=dict(sorted(Counter(v.received_at.astimezone(UTC).date() for v in views).items())),
        time_to_triage=durations(to_triage),
        time_to_page=durations(to_page),
        time_to_ack=durations(to_ack),
        time_to_contain=durations(to_contain),
        time_to_resolve=durations(to_resolve),
        client_notification=notification,
        regulatory=regulatory,
        breaches=sorted(breaches, key=lambda b: b.due_at),
        checklists=checklist_figures(views, durations),
    )
