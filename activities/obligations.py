"""Judging an incident's facts against the regimes catalogue, as an activity.

The rules are pure, but their inputs are not workflow-safe: the catalogue is a file and business
days need the `holidays` package, which cannot run in the workflow sandbox. Running the whole
assessment here puts its answer in history, so a replay after a catalogue or `holidays` upgrade
re-arms exactly the clocks the incident had.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from incidents.calendars import MissingHolidays
from incidents.facts import IncidentFacts
from incidents.obligations import ObligationReport, holiday_tables_for, obligations_for
from incidents.policy import ClientPolicy
from incidents.regimes import load_catalogue


class ObligationRequest(BaseModel):
    facts: IncidentFacts
    policy: ClientPolicy


def assess(request: ObligationRequest) -> ObligationReport:
    """The assessment itself, shared with the test doubles so they judge the same way."""
    catalogue = load_catalogue()
    holidays = holiday_tables_for(request.facts, request.policy, catalogue)
    return obligations_for(request.facts, request.policy, catalogue, holidays)


class ObligationActivities:
    @activity.defn(name="assess_obligations")
    async def assess_obligations(self, request: ObligationRequest) -> ObligationReport:
        try:
            return assess(request)
        except (MissingHolidays, ValueError) as exc:
            # Same facts, same answer: retrying cannot help, a person must correct the facts.
            raise ApplicationError(str(exc), type="ObligationError", non_retryable=True) from exc
