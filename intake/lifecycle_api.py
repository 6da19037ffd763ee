"""HTTP routes for the lifecycle's human stages: validate a report or dismiss it as a false
alarm, record containment, and close after the post-incident review.

Each is a workflow update, so a refusal (resolving before validation, containing before anyone
acknowledged, closing with reporting stages open) is the workflow's own reason, answered as 409.
The token that acted is written into the action's text, as for acknowledge and resolve.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from incident_desk.tokens import Permission, Principal
from incidents.lifecycle import CloseIncident, Containment, FalseAlarm, IncidentView, Validation
from intake.auth import incident_client, requires
from workflows.incident import IncidentWorkflow

router = APIRouter(tags=["incidents"])

IncidentId = Annotated[
    str,
    Path(
        description="The incident id, or the workflow id (`incident-<incident id>`)",
        min_length=1,
        max_length=300,
        pattern=r"^[A-Za-z0-9._:-]+$",
    ),
]
Triaging = Annotated[Principal, Depends(requires(Permission.TRIAGE))]
Containing = Annotated[Principal, Depends(requires(Permission.CONTAIN))]
Closing = Annotated[Principal, Depends(requires(Permission.CLOSE))]
Model = TypeVar("Model", bound=BaseModel)
TEXT_MAX = 4000


def _attributed(action: Model, principal: Principal, field: str, default: str) -> Model:
    """Only the Jira webhook may claim the jira channel; the API is the API (or the CLI)."""
    channel = "cli" if getattr(action, "channel", "api") == "cli" else "api"
    suffix = f" (API token {principal.name})"
    text = getattr(action, field) or default
    return action.model_copy(
        update={"channel": channel, field: text[: TEXT_MAX - len(suffix)] + suffix}
    )


async def _act(request: Request, incident_id: str, principal: Principal, update, action):  # type: ignore[no-untyped-def]
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    return await intake.act(incident_id, update, action, client=client)


@router.post("/api/v1/incidents/{incident_id}/validate", response_model=IncidentView)
async def validate(
    incident_id: IncidentId, validation: Validation, request: Request, principal: Triaging
) -> IncidentView:
    """Confirm the report is a real incident (optionally correcting severity and type): it is
    classified and paged down the escalation chain, and its reporting clocks start."""
    action = _attributed(validation, principal, "note", "Validated")
    return await _act(request, incident_id, principal, IncidentWorkflow.validate, action)


@router.post("/api/v1/incidents/{incident_id}/false-alarm", response_model=IncidentView)
async def false_alarm(
    incident_id: IncidentId, alarm: FalseAlarm, request: Request, principal: Triaging
) -> IncidentView:
    """Dismiss the report with the reason: nobody is paged, the ticket is closed saying why."""
    action = _attributed(alarm, principal, "reason", "False alarm")
    return await _act(request, incident_id, principal, IncidentWorkflow.mark_false_alarm, action)


@router.post("/api/v1/incidents/{incident_id}/contain", response_model=IncidentView)
async def contain(
    incident_id: IncidentId, containment: Containment, request: Request, principal: Containing
) -> IncidentView:
    """Record that the incident is contained and how (after it was acknowledged)."""
    action = _attributed(containment, principal, "note", "Contained")
    return await _act(request, incident_id, principal, IncidentWorkflow.contain, action)


@router.post("/api/v1/incidents/{incident_id}/close", response_model=IncidentView)
async def close(
    incident_id: IncidentId, close: CloseIncident, request: Request, principal: Closing
) -> IncidentView:
    """Close a resolved incident with its post-incident review. Refused while reporting stages
    are open, unless `waive_open_stages` says why they may stay open."""
    action = _attributed(close, principal, "summary", "Closed")
    return await _act(request, incident_id, principal, IncidentWorkflow.close, action)
