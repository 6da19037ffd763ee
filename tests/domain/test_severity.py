"""Severity from objective answers, explained; client floors raise it and never lower it."""

from __future__ import annotations

from typing import Any

import pytest

from incidents.classification import classify, facts_from_report
from incidents.obligations import obligations_for
from incidents.report import IncidentReport, Severity
from incidents.severity import Level, ServiceImpact, SeverityAnswers, assess_severity
from tests.domain.conftest import facts


def _assess(answers: SeverityAnswers, policy: Any = None, **given: Any) -> Any:
    f = facts(**given)
    return assess_severity(f, answers, obligations_for(f, policy), policy)


@pytest.mark.parametrize(
    ("given", "answers", "impact", "urgency", "severity"),
    [
        # 5,000 card numbers: high impact; Mastercard's 24 hours: high urgency.
        ({"data_categories": ["payment_card"], "records_affected": 5000}, SeverityAnswers(ongoing=False),
         Level.HIGH, Level.HIGH, Severity.SEV1),
        # Ransomware taking the client's phone lines down, no personal data known yet.
        ({}, SeverityAnswers(ongoing=True, service_impact=ServiceImpact.OUTAGE),
         Level.HIGH, Level.HIGH, Severity.SEV1),
        # One misdirected email to a wrong EU customer: GDPR 72 hours.
        ({"jurisdictions": ["IE"], "data_categories": ["personal"], "records_affected": 1},
         SeverityAnswers(ongoing=False), Level.LOW, Level.MEDIUM, Severity.SEV4),
        # A phishing email reported by an employee, nothing lost, nothing running.
        ({}, SeverityAnswers(ongoing=False), Level.LOW, Level.LOW, Severity.SEV4),
        # The same email noticed on an Indian site: CERT-In's 6 hours.
        ({"sites": ["IN"], "incident_type": "phishing"}, SeverityAnswers(ongoing=False),
         Level.LOW, Level.HIGH, Severity.SEV3),
        # A lost laptop with 200 patients' records for a US health plan: HIPAA's 60 days.
        ({"jurisdictions": ["US"], "sectors": ["healthcare"], "data_categories": ["health"],
          "records_affected": 200}, SeverityAnswers(ongoing=False),
         Level.MEDIUM, Level.LOW, Severity.SEV3),
        # Not yet counted: treated as hundreds, not as none.
        ({"jurisdictions": ["US"], "data_categories": ["government_id"]},
         SeverityAnswers(ongoing=False), Level.HIGH, Level.LOW, Severity.SEV2),
    ],
)  # fmt: skip
def test_matrix(
    given: dict[str, Any],
    answers: SeverityAnswers,
    impact: Level,
    urgency: Level,
    severity: Severity,
) -> None:
    result = _assess(answers, **given)
    assert (result.impact, result.urgency, result.severity) == (impact, urgency, severity)
    assert result.computed == result.severity and result.raised_by is None


def test_the_result_explains_which_answers_drove_it() -> None:
    result = _assess(
        SeverityAnswers(ongoing=True), data_categories=["payment_card"], records_affected=5000
    )
    text = " ".join(result.reasons)
    assert "payment_card data of 5000 people" in text
    assert "still ongoing" in text
    assert "pci_mastercard_adc_event" in text
    assert "high impact x high urgency = SEV1" in text


def test_a_client_floor_raises_and_says_why(policies: dict) -> None:
    harbour = policies["harbour-pine"]
    result = _assess(
        SeverityAnswers(ongoing=False),
        harbour,
        client="harbour-pine",
        sites=["GB"],
        data_categories=["payment_card"],
        records_affected=120,
    )
    assert result.computed == Severity.SEV2
    assert result.severity == Severity.SEV1
    assert result.raised_by and "card data" in result.raised_by
    assert any("raised SEV2 to SEV1" in r for r in result.reasons)


def test_a_floor_never_lowers(policies: dict) -> None:
    result = _assess(
        SeverityAnswers(ongoing=True, service_impact=ServiceImpact.OUTAGE),
        policies["harbour-pine"],
        client="harbour-pine",
        data_categories=["payment_card"],
        records_affected=9000,
    )
    assert result.computed == result.severity == Severity.SEV1
    assert result.raised_by is None


def test_floors_match_only_when_every_condition_holds(policies: dict) -> None:
    harbour = policies["harbour-pine"]  # the vishing floor needs the campaign to be ongoing
    calm = _assess(SeverityAnswers(ongoing=False), harbour, client="harbour-pine", sites=["GB"],
                   incident_type="vishing")  # fmt: skip
    assert calm.raised_by is None
    few_cards = _assess(SeverityAnswers(ongoing=False), harbour, client="harbour-pine",
                        data_categories=["payment_card"], records_affected=99)  # fmt: skip
    assert few_cards.raised_by is None


def test_classify_bundles_severity_obligations_and_search_attribute_values(policies: dict) -> None:
    result = classify(
        facts(client="nordlicht-bank", incident_type="ransomware"),
        SeverityAnswers(ongoing=True),
        policies["nordlicht-bank"],
    )
    assert result.severity == Severity.SEV1
    assert "eu_dora_major_ict_incident" in result.regimes
    assert result.next_deadline is not None
    assert result.next_deadline.obligation_id == "contract_nordlicht-bank_processor_to_controller"


def test_first_facts_come_from_the_intake_report(policies: dict) -> None:
    report = IncidentReport.model_validate(
        {
            "client": "demo",
            "summary": "Caller posing as account holder",
            "description": "Asked to change the registered phone number.",
            "channel": "phone",
            "reporter": {"name": "Agent 17", "contact": "ext 17"},
            "category": "vishing",
            "aware_at": "2026-06-01T10:00:00+01:00",
        }
    )
    first = facts_from_report(report, facts().aware_at, policies["demo"])
    assert first.incident_type == "vishing" and first.client == "demo"
    assert first.aware_at == report.aware_at
