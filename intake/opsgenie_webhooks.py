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

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from intake.pager_acks import MAX_BODY_BYTES, acknowledge_page, answer, parse_delivery, read_limited

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
    secret = getattr(request.app.state.intake.settings, "opsgenie_webhook_token", None)
    if secret is None:
        return answer(503, "Opsgenie webhooks are not configured (OPSGENIE_WEBHOOK_TOKEN)")
    given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
    if not token_matches(given, secret.get_secret_value()):
        return answer(401, f"{TOKEN_HEADER} {'does not match' if given else 'missing'}")
    body = await read_limited(request)
    if body is None:
        return answer(413, f"body larger than {MAX_BODY_BYTES} bytes")
    delivery = parse_delivery(body, OpsgenieDelivery, "an Opsgenie webhook")
    if isinstance(delivery, JSONResponse):
        return delivery

    if delivery.action != ACKNOWLEDGE:
        return answer(202, f"ignored: {delivery.action[:50]} is not acted on")
    alert = delivery.alert
    if alert is None or not alert.alias:
        return answer(202, "ignored: the alert has no alias (not opened by us)")
    # Opsgenie retries deliveries and sends no event id: one acknowledgement per alert acts once.
    return await acknowledge_page(
        request,
        key=alert.alias,
        by=alert.userFullName or alert.username or "an Opsgenie user",
        pager="Opsgenie",
        update_id=f"opsgenie-ack-{alert.alertId or alert.alias}",
    )
