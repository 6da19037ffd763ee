"""Severity from objective answers: an impact × urgency matrix, not an agent's sense of alarm.

The mission article names cultural differences in perceived urgency as a failure cause of BPO
incident reporting: the same lost laptop is "nothing" on one floor and "a crisis" on another. So
severity is computed from facts anyone can check (how many people, which kinds of data, is it
still happening, is the client's service down, how short is the tightest legal or contractual
clock) and the result lists the answers that drove it. A client policy may raise it through a
floor; nothing lowers it.

Impact (the worst of data and service):
  high    special-category, card, credential, financial, ID or children's data of 500+ people;
          any personal data of 10,000+ people; or a client-facing outage
  medium  such data of fewer people; personal data of 500+; or a degraded client service
  low     everything else
An uncounted `records_affected` is treated as 500–9,999 until someone counts: unknown must not
read as small.

Urgency:
  high    still ongoing, or the tightest applicable clock is 24 hours or less
  medium  the tightest clock is 72 hours or less
  low     otherwise

              urgency high   medium   low
  impact high       SEV1     SEV2     SEV2
         medium     SEV2     SEV3     SEV3
         low        SEV3     SEV4     SEV4
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from incidents.facts import DataCategory, IncidentFacts, Trigger
from incidents.jurisdictions import tags
from incidents.obligations import ObligationReport, StageStatus
from incidents.policy import ClientPolicy, FloorCondition
from incidents.report import Severity


class ServiceImpact(StrEnum):
    NONE = "none"
    DEGRADED = "degraded"
    OUTAGE = "outage"


class Level(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class SeverityAnswers(BaseModel):
    """The triage questions beyond the regulatory facts, each answerable yes/no or by looking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ongoing: bool
    service_impact: ServiceImpact = ServiceImpact.NONE


class SeverityAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    severity: Severity
    computed: Severity
    impact: Level
    urgency: Level
    reasons: tuple[str, ...]
    raised_by: str | None = None


HIGH_RISK_DATA = frozenset(
    {
        DataCategory.SENSITIVE,
        DataCategory.HEALTH,
        DataCategory.PAYMENT_CARD,
        DataCategory.CREDENTIALS,
        DataCategory.FINANCIAL,
        DataCategory.GOVERNMENT_ID,
        DataCategory.CHILDREN,
    }
)
MANY = 500
VERY_MANY = 10_000

_MATRIX: dict[tuple[Level, Level], Severity] = {
    (Level.HIGH, Level.HIGH): Severity.SEV1,
    (Level.HIGH, Level.MEDIUM): Severity.SEV2,
    (Level.HIGH, Level.LOW): Severity.SEV2,
    (Level.MEDIUM, Level.HIGH): Severity.SEV2,
    (Level.MEDIUM, Level.MEDIUM): Severity.SEV3,
    (Level.MEDIUM, Level.LOW): Severity.SEV3,
    (Level.LOW, Level.HIGH): Severity.SEV3,
    (Level.LOW, Level.MEDIUM): Severity.SEV4,
    (Level.LOW, Level.LOW): Severity.SEV4,
}
_ORDER = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}


def more_severe(a: Severity, b: Severity) -> Severity:
    """SEV1 is the most severe; the enum's names sort that way."""
    return min(a, b, key=lambda s: s.value)


def _data_impact(facts: IncidentFacts) -> tuple[Level, str]:
    cats = facts.categories()
    if not cats:
        return Level.LOW, "no personal data involved"
    risky = sorted(cats & HIGH_RISK_DATA)
    kind = ", ".join(risky) + " data" if risky else "personal data"
    count = facts.records_affected
    if count is None:
        shown, count = "an uncounted number of people (treated as 500-9,999)", MANY
    else:
        shown = f"{count} people"
    if count == 0:
        return Level.LOW, f"{kind} but no one affected"
    if (risky and count >= MANY) or count >= VERY_MANY:
        return Level.HIGH, f"{kind} of {shown}"
    if risky or count >= MANY:
        return Level.MEDIUM, f"{kind} of {shown}"
    return Level.LOW, f"{kind} of {shown}"


def _service_impact(answers: SeverityAnswers) -> tuple[Level, str]:
    level = {
        ServiceImpact.OUTAGE: Level.HIGH,
        ServiceImpact.DEGRADED: Level.MEDIUM,
        ServiceImpact.NONE: Level.LOW,
    }[answers.service_impact]
    return level, f"client-facing service impact: {answers.service_impact.value}"


def tightest_clock(facts: IncidentFacts, report: ObligationReport) -> tuple[timedelta, str] | None:
    """The shortest fixed clock among the obligations that apply, from its own trigger.

    Measured as a length, not as time left, so severity does not drift as the clock runs and
    stays the same when it is recomputed later from the same facts.
    """
    best: tuple[timedelta, str] | None = None
    for obligation in report.obligations:
        for stage in obligation.stages:
            span = _span(facts, stage.status, stage.trigger, stage.due_at, stage.not_later_than)
            if span is not None and (best is None or span < best[0]):
                best = (span, f"{obligation.id} {stage.stage}")
    return best


def _span(
    facts: IncidentFacts,
    status: StageStatus,
    trigger: Trigger,
    due_at: datetime | None,
    cap: datetime | None,
) -> timedelta | None:
    if status is StageStatus.DUE and due_at is not None:
        start = facts.event(trigger)
        return None if start is None else due_at - start
    if status is StageStatus.PENDING_TRIGGER and cap is not None:
        return cap - facts.aware_at
    return None


def _urgency(
    facts: IncidentFacts, answers: SeverityAnswers, report: ObligationReport
) -> tuple[Level, list[str]]:
    reasons: list[str] = []
    level = Level.LOW
    if answers.ongoing:
        level = Level.HIGH
        reasons.append("still ongoing")
    clock = tightest_clock(facts, report)
    if clock is not None:
        span, what = clock
        hours = span.total_seconds() / 3600
        by_clock = (
            Level.HIGH
            if span <= timedelta(hours=24)
            else Level.MEDIUM
            if span <= timedelta(hours=72)
            else Level.LOW
        )
        reasons.append(f"tightest clock {hours:g}h ({what})")
        if _ORDER[by_clock] > _ORDER[level]:
            level = by_clock
    else:
        reasons.append("no fixed regulatory or contractual clock")
    return level, reasons


def _floor_holds(when: FloorCondition, facts: IncidentFacts, answers: SeverityAnswers) -> bool:
    checks = []
    if when.incident_types:
        checks.append(facts.incident_type in when.incident_types)
    if when.data_categories_any:
        checks.append(bool(facts.categories() & set(when.data_categories_any)))
    if when.jurisdictions_any:
        checks.append(bool(tags(facts.jurisdictions) & set(when.jurisdictions_any)))
    if when.records_at_least is not None:
        count = facts.records_affected
        checks.append(count is not None and count >= when.records_at_least)
    if when.ongoing is not None:
        checks.append(answers.ongoing == when.ongoing)
    return all(checks)


def assess_severity(
    facts: IncidentFacts,
    answers: SeverityAnswers,
    report: ObligationReport,
    policy: ClientPolicy | None = None,
) -> SeverityAssessment:
    """Severity for the facts; `report` is `obligations_for(facts, policy)`, passed in so the
    caller computes the obligations once and severity and deadlines agree."""
    data_level, data_reason = _data_impact(facts)
    service_level, service_reason = _service_impact(answers)
    impact = data_level if _ORDER[data_level] >= _ORDER[service_level] else service_level
    urgency, urgency_reasons = _urgency(facts, answers, report)
    computed = _MATRIX[(impact, urgency)]
    reasons = [
        f"impact {impact.value}: {data_reason}; {service_reason}",
        f"urgency {urgency.value}: {'; '.join(urgency_reasons)}",
        f"matrix: {impact.value} impact x {urgency.value} urgency = {computed.value}",
    ]
    severity, raised_by = computed, None
    for floor in policy.severity_floors if policy else ():
        raises = more_severe(floor.at_least, severity) != severity
        if raises and _floor_holds(floor.when, facts, answers):
            severity, raised_by = floor.at_least, floor.reason
    if raised_by is not None:
        reasons.append(f"client policy raised {computed.value} to {severity.value}: {raised_by}")
    return SeverityAssessment(
        severity=severity,
        computed=computed,
        impact=impact,
        urgency=urgency,
        reasons=tuple(reasons),
        raised_by=raised_by,
    )
