"""Helpers for the domain tests: facts from a few keywords, one stage's due instant by name."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from incidents.facts import IncidentFacts
from incidents.obligations import Obligation, ObligationReport, StageDeadline
from incidents.policy import ClientPolicy, load_policy

REPO = Path(__file__).resolve().parents[2]
# A Monday in June: no DST change, no public holiday near it in the calendars used.
AWARE = "2026-06-01T10:00:00+00:00"


def facts(**fields: Any) -> IncidentFacts:
    return IncidentFacts.model_validate({"aware_at": AWARE, **fields})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def obligation(report: ObligationReport, obligation_id: str) -> Obligation:
    found = [o for o in report.obligations if o.id == obligation_id]
    if not found:
        reasons = {n.id: n.reason for n in report.not_applicable}
        raise AssertionError(f"{obligation_id} not applicable: {reasons.get(obligation_id)}")
    return found[0]


def stage(report: ObligationReport, obligation_id: str, name: str) -> StageDeadline:
    return next(s for s in obligation(report, obligation_id).stages if s.stage == name)


def reason(report: ObligationReport, obligation_id: str) -> str:
    return next(n.reason for n in report.not_applicable if n.id == obligation_id)


@pytest.fixture(scope="session")
def policies() -> dict[str, ClientPolicy]:
    return {p.stem: load_policy(p) for p in sorted((REPO / "policies/clients").glob("*.yaml"))}
