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

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from intake.pager_acks import MAX_BODY_BYTES, acknowledge_page, answer, parse_delivery, read_limited
from integrations import pagerduty_webhooks as pd

__all__ = ["MAX_BODY_BYTES", "router"]

router = APIRouter(tags=["webhooks"])


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
    secret = request.app.state.intake.settings.pagerduty_webhook_secret
    if secret is None:
        return answer(503, "PagerDuty webhooks are not configured (PAGERDUTY_WEBHOOK_SECRET)")
    body = await read_limited(request)
    if body is None:
        return answer(413, f"body larger than {MAX_BODY_BYTES} bytes")
    header = request.headers.get(pd.SIGNATURE_HEADER)
    if not pd.verify(body, header, secret.get_secret_value()):
        reason = "missing" if not header else "does not match"
        return answer(401, f"{pd.SIGNATURE_HEADER} {reason}")
    delivery = parse_delivery(body, pd.WebhookDelivery, "a PagerDuty v3 webhook")
    if isinstance(delivery, JSONResponse):
        return delivery

    event = delivery.event
    if event.event_type != pd.ACKNOWLEDGED:
        return answer(202, f"ignored: {event.event_type} is not acted on")
    key = event.data.incident_key if event.data else None
    if not key:
        return answer(202, "ignored: the incident has no incident_key (not opened by us)")
    # PagerDuty redelivers on timeouts and its signature carries no timestamp, so the same
    # delivery can arrive again (or be replayed): its event id makes it act once.
    return await acknowledge_page(
        request,
        key=key,
        by=(event.agent.summary if event.agent else None) or "a PagerDuty user",
        pager="PagerDuty",
        update_id=f"pagerduty-{event.id}" if event.id else None,
    )
