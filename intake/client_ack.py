"""Acknowledgement links in client notices: `GET /ack/{token}` asks, `POST /ack/{token}` records.

Outside `/api/v1`: the client has no API token, the link's signature is its authentication. A
GET only shows a confirmation page, because mail gateways and link scanners open every link in
a message; only the button (a POST) acknowledges. The POST becomes the workflow update
`client_acknowledged` under an update id derived from the token, so a double click, a retried
form or a second visit can never record twice, and the page says it was already acknowledged.

Every answer is a small HTML page: a refused link (forged 400, expired or closed incident 410)
says why in words the client's staff understand, and nothing here answers 500. The token is a
bearer credential: it is never logged (the access log shows `/ack/<redacted>`), only its hash.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from incident_desk.tokens import Permission, Principal
from incidents.lifecycle import IncidentView
from incidents.notification import ClientAcknowledgement
from intake.auth import incident_client, requires
from intake.obligations_api import IncidentId
from intake.queries import query_state
from integrations import ack_links
from workflows.incident import IncidentWorkflow

log = logging.getLogger("incident_desk.intake.ack")

router = APIRouter(include_in_schema=False)
ACT_TIMEOUT = 10.0
_TOKEN_IN_PATH = re.compile(r"/ack/[^\s?\"]+")


class _RedactAckTokens(logging.Filter):
    """uvicorn's access log prints the path; the path here is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_PATH.sub("/ack/<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(_RedactAckTokens())


def _page(status: int, title: str, message: str, form: bool = False) -> HTMLResponse:
    button = (
        '<form method="post"><button type="submit">I confirm receipt of this notice</button></form>'
        if form
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{button}</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _already(view: IncidentView) -> HTMLResponse | None:
    sent = view.client_notification
    if sent is None or sent.acknowledgement is None:
        return None
    first = sent.acknowledgement
    when = first.at.isoformat(timespec="seconds") if first.at else "-"
    return _page(
        200,
        "Already acknowledged",
        f"Incident {view.incident_id} was already acknowledged by {first.contact} at {when}. "
        "Nothing more is needed.",
    )


class _Refused(Exception):
    def __init__(self, page: HTMLResponse) -> None:
        self.page = page


def _claims(request: Request, token: str) -> ack_links.AckClaims:
    secret = request.app.state.intake.settings.ack_secret
    client = request.client.host if request.client else "-"
    if secret is None:
        raise _Refused(
            _page(503, "Not available", "Acknowledgement links are not configured here; "
                  "please reply to the notice email instead.")
        )  # fmt: skip
    try:
        return ack_links.verify(secret, token)
    except ack_links.TokenExpired as exc:
        log.warning("expired ack link %s from %s", ack_links.token_id(token), client)
        raise _Refused(
            _page(410, "Link expired", f"{exc}. Please reply to the notice email instead.")
        ) from exc
    except ack_links.TokenError as exc:
        log.warning("refused ack link %s from %s: %s", ack_links.token_id(token), client, exc)
        raise _Refused(_page(400, "Invalid link", f"{exc}. Please use the link from the notice "
                             "email as it was sent, or reply to the email.")) from exc  # fmt: skip


async def _handle(request: Request, claims: ack_links.AckClaims) -> WorkflowHandle[Any, Any]:
    """The link names the workflow, not its client: with clients in namespaces of their own the
    intake looks for it in each (`Intake.locate`)."""
    try:
        return await request.app.state.intake.locate(claims.workflow_id)
    except HTTPException as exc:
        if exc.status_code == 503:
            raise _Refused(
                _page(503, "Try again shortly", "The service is starting; retry.")
            ) from exc
        raise _Refused(_page(409, "Not recorded", f"{exc.detail}.")) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _Refused(_closed()) from exc
        raise _Refused(_page(503, "Try again shortly", "The service is busy; retry.")) from exc


def _closed() -> HTMLResponse:
    return _page(
        410,
        "Incident closed",
        "This incident is closed, so the link no longer records acknowledgements. "
        "Please reply to the notice email if you need anything.",
    )


async def _view(handle: WorkflowHandle[Any, Any]) -> IncidentView:
    try:
        return await asyncio.wait_for(query_state(handle), ACT_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _Refused(_closed()) from exc
        raise _Refused(_page(503, "Try again shortly", "The service is busy; retry.")) from exc
    except Exception as exc:
        log.warning("ack link: state of %s unavailable: %s", handle.id, type(exc).__name__)
        raise _Refused(_page(503, "Try again shortly", "The service is busy; retry.")) from exc


@router.get("/ack/{token}", response_class=HTMLResponse)
async def confirm_page(token: str, request: Request) -> HTMLResponse:
    try:
        claims = _claims(request, token)
        view = await _view(await _handle(request, claims))
    except _Refused as refused:
        return refused.page
    return _already(view) or _page(
        200,
        "Confirm receipt",
        f"Please confirm that {claims.contact} received the security incident notice "
        f"{view.incident_id}.",
        form=True,
    )


@router.post("/ack/{token}", response_class=HTMLResponse)
async def acknowledge(token: str, request: Request) -> HTMLResponse:
    try:
        claims = _claims(request, token)
        handle = await _handle(request, claims)
        view = await _view(handle)
    except _Refused as refused:
        return refused.page
    if (page := _already(view)) is not None:
        return page
    ack = ClientAcknowledgement(
        contact=claims.contact,
        channel="link",
        message_id=claims.message_id,
        token_id=ack_links.token_id(token),
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
    )
    try:
        view = await asyncio.wait_for(
            handle.execute_update(
                IncidentWorkflow.client_acknowledged, ack, id=f"client-ack-{ack.token_id}"
            ),
            ACT_TIMEOUT,
        )
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause)
        return _page(409, "Not recorded", f"Your acknowledgement was not recorded: {reason}.")
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return _closed()
        return _page(503, "Try again shortly", "The service is busy; retry.")
    except Exception as exc:  # a timeout or anything else: the client must get a page
        log.warning("ack link: update of %s failed: %s", handle.id, type(exc).__name__)
        return _page(503, "Try again shortly", "Nothing was recorded yet; please retry.")
    recorded = view.client_notification and view.client_notification.acknowledgement
    if recorded and recorded.token_id != ack.token_id:
        return _already(view) or _page(200, "Already acknowledged", "Nothing more is needed.")
    log.info("client acknowledgement recorded on %s (link %s)", handle.id, ack.token_id)
    return _page(
        200,
        "Thank you",
        f"Your acknowledgement of incident notice {view.incident_id} has been recorded.",
    )


class ApiAcknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact: str = Field(
        min_length=3, max_length=320, description="Who at the client acknowledged (e.g. by phone)"
    )
    reference: str | None = Field(
        None, max_length=998, description="What they acknowledged: a message id, a call ref"
    )


@router.post(
    "/api/v1/incidents/{incident_id}/client-ack",
    response_model=IncidentView,
    include_in_schema=True,
    tags=["incidents"],
)
async def acknowledge_for_client(
    incident_id: IncidentId,
    body: ApiAcknowledgement,
    request: Request,
    principal: Annotated[Principal, Depends(requires(Permission.CLIENT_ACK))],
) -> IncidentView:
    """Record the client's acknowledgement received another way (a call, a reply to the email);
    the first one stops the reminders, later ones are kept beside it."""
    intake = request.app.state.intake
    client = await incident_client(intake, incident_id, principal, request)
    ack = ClientAcknowledgement(contact=body.contact, channel="api", message_id=body.reference)
    return await intake.act(incident_id, IncidentWorkflow.client_acknowledged, ack, client=client)
