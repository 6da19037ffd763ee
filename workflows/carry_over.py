"""What a long incident carries into its next run when it continues as new.

An incident can stay open for weeks (REVIEW keeps a NIS2 final report's clock running for a
month; reminders, chasing and cadence timers add to the history all the while). Temporal bounds
a run's history, so at a safe point the workflow starts a fresh run under the same workflow id
with everything it knows: the view (timeline, clocks, evidence, pages, notices, checklist),
the client policy it started with, which versioned changes (patches) the incident follows, and
where each concern's timers stood. The new run re-arms every timer for its original instant and
sends nothing that was already sent.

The carry-over travels in `StartIncident.carried` as plain JSON, so the workflow input keeps one
argument and histories recorded before it existed still decode.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from incidents.lifecycle import IncidentView
from incidents.policy import ClientPolicy
from workflows.cadence import CadenceCarry
from workflows.checklist import ChecklistCarry
from workflows.client_notice import NoticeCarry
from workflows.clocks import ClocksCarry
from workflows.jira_sync import WriteBackCarry
from workflows.review import ReviewCarry


class Phase(StrEnum):
    """The lifecycle's long waits: the only points where a run hands over to the next."""

    ACKNOWLEDGEMENT = "acknowledgement"  # the chain is walked; waiting for a responder
    RESOLUTION = "resolution"  # acknowledged (maybe contained); waiting for the resolution
    REVIEW = "review"  # resolved; waiting for the post-incident review


class IncidentCarryOver(BaseModel):
    phase: Phase
    view: IncidentView
    policy: ClientPolicy
    patches: dict[str, bool] = Field(
        description="Every patch decision of the incident so far: a new run has no markers, "
        "so without these an old-lifecycle incident would switch to the new lifecycle"
    )
    runs: int = Field(1, description="Runs before this one in the chain")
    update_ids: list[str] = Field(
        default_factory=list,
        description="Recently applied update ids: Temporal deduplicates update ids per run "
        "only, so a redelivered webhook must not act again in the next run",
    )
    severity_corrected: bool = False
    clocks: ClocksCarry
    notice: NoticeCarry
    cadence: CadenceCarry
    checklist: ChecklistCarry
    review: ReviewCarry
    writeback: WriteBackCarry

    def as_input(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
