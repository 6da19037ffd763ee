"""Acknowledgements from Opsgenie: `POST /webhooks/opsgenie` (the outgoing Webhook integration).

Opsgenie does not sign its webhook deliveries; the integration can add custom headers, so it is
set up to send our shared token in `X-Incident-Desk-Token` (or, where headers cannot be set, as
`?token=`). The token is compared in constant time and checked before the body is parsed.

As with PagerDuty (intake/pager_webhooks.py), an `Acknowledge` becomes the workflow's
`acknowledge` update with channel "opsgenie"; anything that will never succeed is a 202 saying
why (Opsgenie would otherwise retry it), and only Temporal being unreachable is a 503.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from incidents.escalation import workflow_id_from_page_key
from incidents.lifecycle import Action
from intake.pager_webhooks import MAX_BODY_BYTES, _read_limited
from workflows.incident import IncidentWorkflow
from workflows.names import WORKFLOW_ID_PREFIX

log = logging.getLogger("incident_desk.intake.webhooks")

TOKEN_HEADER = "X-Incident-Desk-Token"
ACKNOWLEDGE = "Acknowledge"

router = APIRouter(tags=["webhooks"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OpsgenieAlert(_Open):
    alertId: str | None = None
    alias: str | None = None
    username: str | None = None
    userFullName: str | None = None


class OpsgenieDelivery(_Open):
    action: str
    alert: OpsgenieAlert | None = None


def _answer(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def token_matches(given: str | None, expected: str) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@router.post(
    "/webhooks/opsgenie",
    summary="Opsgenie webhook integration: Acknowledge stops the escalation",
    responses={
        200: {"description": "Acknowledgement recorded on the incident"},
        202: {"description": "Accepted but not acted on; the reason is given"},
        400: {"description": "Body is not an Opsgenie webhook"},
        401: {"description": "Missing or wrong token"},
        413: {"description": "Body too large"},
        503: {"description": "Not configured, or Temporal unreachable: retry later"},
    },
)
async def opsgenie_webhook(request: Request) -> JSONResponse:
    intake = request.app.state.intake
    secret = getattr(intake.settings, "opsgenie_webhook_token", None)
    if secret is None:
        return _answer(503, "Opsgenie webhooks are not configured (OPSGENIE_WEBHOOK_TOKEN)")
    given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
    if not token_matches(given, secret.get_secret_value()):
        return _answer(401, f"{TOKEN_HEADER} {'does not match' if given else 'missing'}")
    body = await _read_limited(request)
    if body is None:
        return _answer(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        delivery = OpsgenieDelivery.model_validate(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _answer(400, "body is not valid JSON")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _answer(400, f"not an Opsgenie webhook: {problems}")

    if delivery.action != ACKNOWLEDGE:
        return _answer(202, f"ignored: {delivery.action[:50]} is not acted on")
    alert = delivery.alert
    key = alert.alias if alert else None
    if not key:
        return _answer(202, "ignored: the alert has no alias (not opened by us)")
    workflow_id = workflow_id_from_page_key(key)
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return _answer(202, f"ignored: '{key[:200]}' is not an Incident Desk page")
    by = (alert.userFullName or alert.username or "an Opsgenie user") if alert else ""
    action = Action(by=by[:200], channel="opsgenie", note=f"Acknowledged on Opsgenie ({key})")
    # Opsgenie retries deliveries and sends no event id: one acknowledgement per alert acts once.
    update_id = f"opsgenie-ack-{alert.alertId or key}" if alert else None
    try:
        view = await intake.act(workflow_id, IncidentWorkflow.acknowledge, action, update_id)
    except HTTPException as exc:
        if exc.status_code in (404, 409):
            log.info("Opsgenie acknowledgement for %s not applied: %s", key, exc.detail)
            return _answer(202, f"ignored: {exc.detail}")
        return _answer(exc.status_code, str(exc.detail))
    return _answer(
        200,
        "acknowledged",
        workflow_id=workflow_id,
        acknowledged_by=view.acknowledged_by,
        acknowledged_via=view.acknowledged_via,
    )
