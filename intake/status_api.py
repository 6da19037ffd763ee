"""What a client's own staff may see, and the scoped incident list every role shares.

`GET /api/v1/incidents/{id}/status` is the reduced view a `client-readonly` token gets (every
staff role may read it too): where the incident stands, the deadlines it set off and the
evidence that the client was told. It leaves out what is the BPO's own business or a third
party's: the reporter, the agents' and responders' notes, the timeline, the pages, the checklist,
duplicates and the review. `GET /api/v1/incidents` lists incidents from Temporal's visibility
store, limited in the query itself to the clients in the token's scope, so another client's
incident is never fetched, let alone filtered out afterwards.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from incident_desk.tokens import ALL_CLIENTS, CLIENT_PATTERN, Permission, Principal
from incidents.lifecycle import IncidentState, IncidentView
from intake.auth import incident_client, requires
from intake.obligations_api import IncidentId
from workflows.names import IncidentSearchAttribute as SA
from workflows.names import incident_id_from

__all__ = ["ClientStatus", "IncidentSummary", "client_status", "router"]

router = APIRouter(tags=["incidents"])

Status = Annotated[Principal, Depends(requires(Permission.STATUS))]
ClientId = Annotated[str, Query(min_length=1, max_length=64, pattern=CLIENT_PATTERN)]


class StageStatus(BaseModel):
    stage: str
    status: str
    due_at: datetime | None = None
    breached_at: datetime | None = None
    done_at: datetime | None = None
    reference: str | None = Field(None, description="The proof it was done: a filing number")


class ObligationStatus(BaseModel):
    id: str
    name: str
    owed_by: str = Field(description="'us' (the BPO) or 'client'")
    jurisdiction: str
    in_force: bool
    stages: list[StageStatus]


class NoticeEvidence(BaseModel):
    kind: str
    to: str
    message_id: str
    sent_at: datetime


class AcknowledgementEvidence(BaseModel):
    contact: str
    channel: str
    message_id: str | None = None
    at: datetime | None = None


class ClientStatus(BaseModel):
    """The client's view of one of its incidents: state, deadlines and notice evidence."""

    incident_id: str
    client: str
    state: IncidentState
    severity: str
    category: str
    received_at: datetime
    aware_at: datetime
    acknowledged_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    next_deadline: datetime | None = None
    deadline_breached: bool = False
    obligations: list[ObligationStatus] = Field(default_factory=list)
    notices: list[NoticeEvidence] = Field(default_factory=list)
    acknowledgement: AcknowledgementEvidence | None = None


def client_status(view: IncidentView) -> ClientStatus:
    """Copied field by field, so a field added to IncidentView stays out until chosen here."""
    sent = view.client_notification
    ack = sent.acknowledgement if sent else None
    return ClientStatus(
        incident_id=view.incident_id,
        client=view.client,
        state=view.state,
        severity=str(view.severity),
        category=view.category,
        received_at=view.received_at,
        aware_at=view.aware_at,
        acknowledged_at=view.acknowledged_at,
        contained_at=view.contained_at,
        resolved_at=view.resolved_at,
        closed_at=view.closed_at,
        next_deadline=view.next_deadline,
        deadline_breached=view.deadline_breached,
        obligations=[
            ObligationStatus(
                id=o.id,
                name=o.name,
                owed_by=o.owed_by,
                jurisdiction=o.jurisdiction,
                in_force=o.in_force,
                stages=[
                    StageStatus(
                        stage=s.stage,
                        status=str(s.status),
                        due_at=s.due_at,
                        breached_at=s.breached_at,
                        done_at=s.done_at,
                        reference=s.reference,
                    )
                    for s in o.stages
                ],
            )
            for o in view.obligations
        ],
        notices=[
            NoticeEvidence(kind=n.kind, to=n.to, message_id=n.message_id, sent_at=n.sent_at)
            for n in (sent.notices if sent else [])
        ],
        acknowledgement=(
            AcknowledgementEvidence(
                contact=ack.contact, channel=ack.channel, message_id=ack.message_id, at=ack.at
            )
            if ack
            else None
        ),
    )


@router.get("/api/v1/incidents/{incident_id}/status", response_model=ClientStatus)
async def incident_status(
    incident_id: IncidentId, request: Request, principal: Status
) -> ClientStatus:
    """The incident as its client may see it: state, timestamps, obligations and their
    stages, and the evidence that the client was notified and acknowledged."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    return client_status(await intake.view(incident_id, client))


class IncidentSummary(BaseModel):
    """From the search attributes alone: no query reaches a workflow, no reporter detail."""

    incident_id: str
    workflow_id: str
    client: str | None
    state: str | None
    severity: str | None
    category: str | None
    started_at: datetime | None
    running: bool
    next_deadline: datetime | None = None
    deadline_breached: bool | None = None


def scope_query(principal: Principal, client: str | None, state: IncidentState | None) -> str:
    """The visibility query for the token's scope; client ids are checked against the policy
    id pattern, so nothing can be injected through them."""
    clauses = ["WorkflowType = 'IncidentWorkflow'"]
    if client is not None:
        clauses.append(f"{SA.CLIENT.key.name} = '{client}'")
    if ALL_CLIENTS not in principal.clients:
        wanted = ", ".join(f"'{c}'" for c in sorted(principal.clients))
        clauses.append(f"{SA.CLIENT.key.name} IN ({wanted})")
    if state is not None:
        clauses.append(f"{SA.STATE.key.name} = '{state}'")
    return " AND ".join(clauses)


@router.get("/api/v1/incidents", response_model=list[IncidentSummary])
async def list_incidents(
    request: Request,
    principal: Status,
    client: ClientId | None = None,
    state: IncidentState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentSummary]:
    """Incidents of the clients in the token's scope, newest first. A `client` outside the
    scope lists nothing, as an unknown one does. With clients in namespaces of their own, every
    namespace the scope reaches is asked (at once, each for up to `limit`) and the newest
    `limit` of all are answered."""
    intake = request.app.state.intake
    if client is not None and not principal.sees(client):
        return []
    if client is not None:
        namespaces = [intake.namespaces.of(client)]
    else:
        namespaces = intake.namespaces_for(principal)
    query = scope_query(principal, client, state)
    listed = await asyncio.gather(
        *(_list(intake.namespace_client(ns), query, limit) for ns in namespaces)
    )
    summaries = [s for part in listed for s in part]
    # Visibility orders by start time already on most stores; make it explicit, and merge.
    return sorted(
        summaries, key=lambda s: s.started_at.timestamp() if s.started_at else 0.0, reverse=True
    )[:limit]


async def _list(temporal: Client, query: str, limit: int) -> list[IncidentSummary]:
    summaries: list[IncidentSummary] = []
    try:
        async for wf in temporal.list_workflows(query, limit=limit):
            attrs = wf.typed_search_attributes
            summaries.append(
                IncidentSummary(
                    incident_id=incident_id_from(wf.id),
                    workflow_id=wf.id,
                    client=attrs.get(SA.CLIENT.key),
                    state=attrs.get(SA.STATE.key),
                    severity=attrs.get(SA.SEVERITY.key),
                    category=attrs.get(SA.TYPE.key),
                    started_at=wf.start_time,
                    running=wf.status == WorkflowExecutionStatus.RUNNING,
                    next_deadline=attrs.get(SA.NEXT_DEADLINE.key),
                    deadline_breached=attrs.get(SA.DEADLINE_BREACHED.key),
                )
            )
    except RPCError as exc:
        raise HTTPException(503, f"Temporal error: {exc.message}") from exc
    return summaries
