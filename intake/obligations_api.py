"""HTTP routes for an incident's reporting clocks: mark a stage done, correct the facts.

Kept apart from the intake's core routes; both act through the incident's workflow updates, so a
refusal (unknown stage, already done, a fact change that changes nothing) is the workflow's own
reason, answered as 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from incident_desk.tokens import Permission, Principal
from incidents.clocks import FactsUpdate, StageDone
from incidents.lifecycle import IncidentView
from intake.auth import incident_client, requires
from workflows.incident import IncidentWorkflow

router = APIRouter(tags=["obligations"])

_NAME = r"^[A-Za-z0-9._-]+$"
IncidentId = Annotated[
    str,
    Path(
        description="The incident id, or the workflow id (`incident-<incident id>`)",
        min_length=1,
        max_length=300,
        pattern=r"^[A-Za-z0-9._:-]+$",
    ),
]
ObligationId = Annotated[str, Path(min_length=1, max_length=128, pattern=_NAME)]
StageName = Annotated[str, Path(min_length=1, max_length=64, pattern=_NAME)]
Acting = Annotated[Principal, Depends(requires(Permission.ACT))]  # legacy; name a permission
MarkingStages = Annotated[Principal, Depends(requires(Permission.STAGE))]
CorrectingFacts = Annotated[Principal, Depends(requires(Permission.FACTS))]
Assessing = Annotated[Principal, Depends(requires(Permission.ASSESS))]
Ticking = Annotated[Principal, Depends(requires(Permission.CHECKLIST))]


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Field(min_length=1, max_length=200, description="Who carried the stage out")
    reference: str = Field(
        min_length=1,
        max_length=500,
        description="Where the proof is: a filing number, a portal receipt, a message id",
    )


@router.post(
    "/api/v1/incidents/{incident_id}/obligations/{obligation}/{stage}/done",
    response_model=IncidentView,
)
async def mark_stage_done(
    incident_id: IncidentId,
    obligation: ObligationId,
    stage: StageName,
    evidence: Evidence,
    request: Request,
    principal: MarkingStages,
) -> IncidentView:
    """Record that a reporting stage was carried out; its reminders and breach are stopped."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    done = StageDone(obligation=obligation, stage=stage, **evidence.model_dump())
    return await intake.act(incident_id, IncidentWorkflow.mark_stage_done, done, client=client)


@router.post("/api/v1/incidents/{incident_id}/facts", response_model=IncidentView)
async def update_facts(
    incident_id: IncidentId, update: FactsUpdate, request: Request, principal: CorrectingFacts
) -> IncidentView:
    """Correct or add facts (awareness, jurisdictions, data categories, counts, events); the
    reporting clocks are recomputed and every change is explained in the timeline."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    return await intake.act(incident_id, IncidentWorkflow.update_facts, update, client=client)
