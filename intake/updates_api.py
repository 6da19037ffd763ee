"""`POST /api/v1/incidents/{id}/updates`: a stakeholder update from the API or the CLI.

It restarts the incident's status-update cadence (workflows/cadence.py) and is posted to the
Jira ticket, as an update written in Jira with the update marker would be. Same token, scope,
client check and audit line as every other action; the token that posted it is named beside the
author.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from incident_desk.tokens import Permission, Principal
from incidents.lifecycle import IncidentView
from incidents.status_updates import UPDATE_MAX, StakeholderUpdate
from intake.auth import incident_client, requires
from intake.lifecycle_api import IncidentId
from workflows.incident import IncidentWorkflow

router = APIRouter(tags=["incidents"])

Acting = Annotated[Principal, Depends(requires(Permission.UPDATE))]


@router.post("/api/v1/incidents/{incident_id}/updates", response_model=IncidentView)
async def post_update(
    incident_id: IncidentId,
    update: Annotated[StakeholderUpdate, Body()],
    request: Request,
    principal: Acting,
) -> IncidentView:
    """Post a stakeholder update (`by`, `text`): the owner's reminders count from it."""
    channel = "cli" if update.channel == "cli" else "api"
    suffix = f" (API token {principal.name})"
    attributed = update.model_copy(
        update={"channel": channel, "text": update.text[: UPDATE_MAX - len(suffix)] + suffix}
    )
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    return await intake.act(incident_id, IncidentWorkflow.post_update, attributed, client=client)
