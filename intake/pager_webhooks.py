"""Acknowledgements that come back from the pager: `POST /webhooks/pagerduty` (v3 webhooks).

An engineer who acknowledges on their phone should stop the escalation exactly as the API does,
so the delivery becomes the same `acknowledge` update, with channel "pagerduty".

Answers are chosen for PagerDuty's delivery logic: it retries non-2xx answers and eventually
disables a subscription that keeps failing. So anything that will never succeed (an event type
we do not act on, an incident that is not ours or is already closed) is a 202 saying why, and
only a temporary failure on our side (Temporal unreachable) is a 503 worth retrying. A bad
signature is a 401 before the body is even parsed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from incidents.escalation import workflow_id_from_page_key
from incidents.lifecycle import Action
from integrations import pagerduty_webhooks as pd
from workflows.incident import IncidentWorkflow
from workflows.names import WORKFLOW_ID_PREFIX

log = logging.getLogger("incident_desk.intake.webhooks")

# PagerDuty's v3 deliveries are a few KB; anything far larger is not one of them.
MAX_BODY_BYTES = 256 * 1024

router = APIRouter(tags=["webhooks"])


def _answer(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def _read_limited(request: Request) -> bytes | None:
    """The raw body, or None once it passes the limit (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/webhooks/pagerduty",
    summary="PagerDuty v3 webhook: incident.acknowledged stops the escalation",
    responses={
        200: {"description": "Acknowledgement recorded on the incident"},
        202: {"description": "Accepted but not acted on; the reason is given"},
        400: {"description": "Body is not a PagerDuty v3 webhook"},
        401: {"description": "Missing or wrong X-PagerDuty-Signature"},
        413: {"description": "Body too large"},
        503: {"description": "Not configured, or Temporal unreachable: retry later"},
    },
)
async def pagerduty_webhook(request: Request) -> JSONResponse:
    intake = request.app.state.intake
    secret = intake.settings.pagerduty_webhook_secret
    if secret is None:
        return _answer(503, "PagerDuty webhooks are not configured (PAGERDUTY_WEBHOOK_SECRET)")
    body = await _read_limited(request)
    if body is None:
        return _answer(413, f"body larger than {MAX_BODY_BYTES} bytes")
    header = request.headers.get(pd.SIGNATURE_HEADER)
    if not pd.verify(body, header, secret.get_secret_value()):
        reason = "missing" if not header else "does not match"
        return _answer(401, f"{pd.SIGNATURE_HEADER} {reason}")
    try:
        delivery = pd.WebhookDelivery.model_validate(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _answer(400, "body is not valid JSON")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _answer(400, f"not a PagerDuty v3 webhook: {problems}")

    event = delivery.event
    if event.event_type != pd.ACKNOWLEDGED:
        return _answer(202, f"ignored: {event.event_type} is not acted on")
    key = event.data.incident_key if event.data else None
    if not key:
        return _answer(202, "ignored: the incident has no incident_key (not opened by us)")
    workflow_id = workflow_id_from_page_key(key)
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return _answer(202, f"ignored: '{key}' is not an Incident Desk page")
    by = (event.agent.summary if event.agent else None) or "a PagerDuty user"
    action = Action(by=by[:200], channel="pagerduty", note=f"Acknowledged on PagerDuty ({key})")
    # PagerDuty redelivers on timeouts and its signature carries no timestamp, so the same
    # delivery can arrive again (or be replayed): its event id makes it act once.
    update_id = f"pagerduty-{event.id}" if event.id else None
    try:
        view = await intake.act(workflow_id, IncidentWorkflow.acknowledge, action, update_id)
    except HTTPException as exc:
        if exc.status_code in (404, 409):
            log.info("PagerDuty acknowledgement for %s not applied: %s", key, exc.detail)
            return _answer(202, f"ignored: {exc.detail}")
        return _answer(exc.status_code, str(exc.detail))
    return _answer(
        200,
        "acknowledged",
        workflow_id=workflow_id,
        acknowledged_by=view.acknowledged_by,
        acknowledged_via=view.acknowledged_via,
    )
