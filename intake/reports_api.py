"""HTTP routes for an incident's report and its regulator notification drafts.

Both are read-only views of the workflow's state, so they need only the READ permission and the
same client-scope check as `GET /api/v1/incidents/{id}`: another client's incident is a 404. The
report text is untrusted (agents and callers typed it), so HTML answers also carry a Content
Security Policy that forbids scripts, in case a browser opens one directly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError

from incident_desk.tokens import Permission, Principal
from incidents.documents import MEDIA_TYPES, Document, render
from incidents.lifecycle import IncidentView
from incidents.notification_drafts import drafts_document, drafts_for
from incidents.regimes import load_catalogue
from incidents.report import StartIncident
from incidents.report_export import ReportLinks, build_report
from intake.auth import incident_client, requires

if TYPE_CHECKING:
    from intake.app import Intake

log = logging.getLogger("incident_desk.intake")

router = APIRouter(tags=["reports"])

IncidentId = Annotated[
    str,
    Path(
        description="The incident id, or the workflow id (`incident-<incident id>`)",
        min_length=1,
        max_length=300,
        pattern=r"^[A-Za-z0-9._:-]+$",
    ),
]
Reading = Annotated[Principal, Depends(requires(Permission.READ))]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


async def started_with(
    intake: Intake, identifier: str, client: str | None = None
) -> StartIncident | None:
    """The report the workflow was started with (summary, channel, reporter), from the first
    event of its history: the state query does not carry it. None when it cannot be read; the
    report then says less rather than failing."""
    try:
        handle = await intake.locate(identifier, client)
        async for event in handle.fetch_history_events():
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                return None
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            values = await intake.client(client).data_converter.decode(payloads, [StartIncident])
            start = values[0] if values else None
            return start if isinstance(start, StartIncident) else None
    except (RPCError, ValueError, TypeError) as exc:
        log.warning("report input of %s not readable: %s", identifier, exc)
    return None


def links_for(intake: Intake, client: str | None = None) -> ReportLinks:
    """The incident's Temporal UI link names its client's namespace."""
    settings = intake.settings
    return ReportLinks(
        temporal_ui=settings.temporal_ui,
        namespace=intake.namespaces.of(client),
        jira_base_url=settings.jira_base_url,
    )


async def _gather(
    intake: Intake, incident_id: str, principal: Principal, request: Request
) -> tuple[IncidentView, StartIncident | None]:
    client = await incident_client(intake, incident_id, principal, request)
    view = await intake.view(incident_id, client)
    return view, await started_with(intake, incident_id, client)


def _answer(document: Document, fmt: str, filename: str) -> Response:
    try:
        body = render(document, fmt)  # type: ignore[arg-type]
    except Exception as exc:  # a rendering bug must not hide the incident: say so, no 500
        log.exception("rendering %s as %s failed", filename, fmt)
        raise HTTPException(
            503, f"the {fmt} rendering failed ({type(exc).__name__}); try format=md or html"
        ) from exc
    headers = {
        "Content-Disposition": f'inline; filename="{filename}.{fmt}"',
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "html":
        headers["Content-Security-Policy"] = CSP
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


_FILE_SAFE = str.maketrans({c: "_" for c in ':"\\/'})


@router.get(
    "/api/v1/incidents/{incident_id}/report",
    response_class=Response,
    responses={
        200: {
            "content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()},
            "description": "The report",
        }
    },
)
async def incident_report(
    incident_id: IncidentId,
    request: Request,
    principal: Reading,
    format: Annotated[
        Literal["md", "html", "pdf"], Query(description="md, html (prints well) or pdf")
    ] = "html",
) -> Response:
    """A self-contained report of the incident for audits: summary, classification, timeline in
    UTC and the client's time zone, paging, client notifications, every obligation with its
    stages and whether each was met, decisions and links."""
    intake = request.app.state.intake
    view, start = await _gather(intake, incident_id, principal, request)
    document = build_report(
        view,
        now=datetime.now(UTC),
        links=links_for(intake, view.client),
        policy=intake.policies.get(view.client),
        catalogue=load_catalogue(),
        start=start,
    )
    return _answer(document, format, f"incident-report-{view.incident_id}".translate(_FILE_SAFE))


@router.get(
    "/api/v1/incidents/{incident_id}/drafts",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/markdown": {},
                "text/html": {},
                "application/json": {},
            },
            "description": "One draft per notice owed to an authority",
        }
    },
)
async def notification_drafts(
    incident_id: IncidentId,
    request: Request,
    principal: Reading,
    format: Annotated[Literal["md", "html", "json"], Query(description="md, html or json")] = "md",
) -> Response:
    """Drafts of the notices owed to authorities, filled from the incident's facts; what the
    record does not say is listed as a question, never invented."""
    intake = request.app.state.intake
    view, start = await _gather(intake, incident_id, principal, request)
    policy = intake.policies.get(view.client)
    now = datetime.now(UTC)
    drafts = drafts_for(view, catalogue=load_catalogue(), now=now, policy=policy, start=start)
    if format == "json":
        body: list[dict[str, Any]] = [
            d.model_dump(mode="json") | {"questions": d.questions} for d in drafts
        ]
        return JSONResponse(body)
    document = drafts_document(view, drafts, now=now, policy=policy)
    return _answer(document, format, f"drafts-{view.incident_id}".translate(_FILE_SAFE))
