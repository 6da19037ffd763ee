"""HTTP route for ticking an SOP checklist item (`incident-desk checklist tick` calls it).

The workflow decides whether the tick can be taken (an item of the checklist in force, an answer
its fact can read); a refusal is its own reason, answered as 409 like the other incident actions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from incidents.checklist import ChecklistTick, TickedItem
from incidents.lifecycle import IncidentView
from incidents.sop import ITEM_ID
from intake.auth import incident_client
from intake.obligations_api import IncidentId, Ticking
from workflows.incident import IncidentWorkflow

router = APIRouter(tags=["checklist"])

ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=ITEM_ID)]


class Tick(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Field(min_length=1, max_length=200, description="Who did it")
    answer: str | None = Field(
        None, min_length=1, max_length=500, description="The reporter's answer, for a question"
    )
    channel: str = Field("api", pattern=r"^(api|cli)$", description="api, or cli for the CLI")


@router.post("/api/v1/incidents/{incident_id}/checklist/{item}", response_model=IncidentView)
async def tick_checklist(
    incident_id: IncidentId, item: ItemId, tick: Tick, request: Request, principal: Ticking
) -> IncidentView:
    """Mark a checklist item done; an answer that matters to the classification updates the
    incident's facts (severity and reporting clocks follow)."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    ticked = ChecklistTick(
        by=tick.by, channel=tick.channel, items=(TickedItem(id=item, answer=tick.answer),)
    )
    return await intake.act(incident_id, IncidentWorkflow.tick_checklist, ticked, client=client)
