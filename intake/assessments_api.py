"""HTTP route for answering an obligation's open questions (`needs_assessment`).

The workflow decides whether the answer can be taken (a known obligation still awaiting one); a
refusal is its own reason, answered as 409 like the other incident actions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from incidents.assessments import ObligationAssessment
from incidents.lifecycle import IncidentView
from intake.auth import incident_client
from intake.obligations_api import Assessing, IncidentId, ObligationId
from workflows.incident import IncidentWorkflow

router = APIRouter(tags=["obligations"])


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    applies: bool = Field(description="true: the obligation applies and its stages run")
    by: Annotated[str, Field(min_length=1, max_length=200, description="Who decided")]
    reason: Annotated[
        str, Field(min_length=1, max_length=2000, description="Why; kept in the timeline")
    ]
    channel: str = Field("api", pattern=r"^(api|cli)$", description="api, or cli for the CLI")


@router.post(
    "/api/v1/incidents/{incident_id}/assessments/{obligation}", response_model=IncidentView
)
async def assess_obligation(
    incident_id: IncidentId,
    obligation: ObligationId,
    answer: Answer,
    request: Request,
    principal: Assessing,
) -> IncidentView:
    """Answer an obligation's open questions: it applies (its stages run from the original
    trigger, so a late answer may remind or breach at once) or it does not (it is dropped)."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    assessment = ObligationAssessment(obligation=obligation, **answer.model_dump())
    return await intake.act(
        incident_id, IncidentWorkflow.assess_obligation, assessment, client=client
    )
