"""An incident's classification: what it is, how bad it is, and which regimes it engages.

This is what the workflow records at CLASSIFIED and publishes as search attributes
(IncidentType, IncidentSeverity, Regimes, NextDeadline). It is recomputed whenever a fact
changes, and since everything under it is pure, recomputing from the same facts gives the same
classification, on replay too.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from incidents.calendars import HolidayTables
from incidents.facts import IncidentFacts
from incidents.obligations import NextDeadline, ObligationReport, obligations_for
from incidents.policy import ClientPolicy
from incidents.regimes import Catalogue
from incidents.report import IncidentReport, Severity
from incidents.severity import SeverityAnswers, SeverityAssessment, assess_severity
from incidents.taxonomy import IncidentType


class Classification(BaseModel):
    model_config = ConfigDict(frozen=True)

    facts: IncidentFacts
    incident_type: IncidentType | None
    severity: Severity
    assessment: SeverityAssessment
    obligations: ObligationReport
    regimes: tuple[str, ...]
    next_deadline: NextDeadline | None


def classify(
    facts: IncidentFacts,
    answers: SeverityAnswers,
    policy: ClientPolicy | None = None,
    catalogue: Catalogue | None = None,
    holidays: HolidayTables | None = None,
) -> Classification:
    """Obligations first, then severity from them, so the two never disagree. In workflow code
    pass the catalogue and holiday tables an activity returned (see `obligations_for`)."""
    report = obligations_for(facts, policy, catalogue, holidays)
    assessment = assess_severity(facts, answers, report, policy)
    return Classification(
        facts=facts,
        incident_type=facts.incident_type,
        severity=assessment.severity,
        assessment=assessment,
        obligations=report,
        regimes=tuple(sorted(report.ids())),
        next_deadline=report.next_deadline(),
    )


def facts_from_report(
    report: IncidentReport, received_at: datetime, policy: ClientPolicy
) -> IncidentFacts:
    """First facts for a new incident: awareness from the report (else its arrival) and the
    client's footprint from its policy, until triage records the rest."""
    known = {t.value for t in IncidentType}
    return IncidentFacts(
        aware_at=report.aware_at or received_at,
        client=policy.id,
        incident_type=IncidentType(report.category) if report.category in known else None,
        jurisdictions=report.jurisdictions,
        data_categories=report.data_categories,
        records_affected=report.records_affected,
    )
