"""PagerDuty v3 webhooks: checking that a delivery really came from PagerDuty, and reading it.

PagerDuty signs each delivery with every active secret of the subscription:
`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>[,v1=<...>]`, several during a secret
rotation. The signature covers the exact bytes received, so it is checked before the body is
parsed: re-serialised JSON would not match, and a forged body must not reach the JSON parser.

Only what we act on is modelled; PagerDuty adds fields freely, so unknown ones are ignored.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_HEADER = "X-PagerDuty-Signature"
ACKNOWLEDGED = "incident.acknowledged"


def signature(body: bytes, secret: str) -> str:
    """The header value PagerDuty sends for `body` under `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """True when any v1 signature in the header matches; constant-time per candidate."""
    if not header or not secret:
        return False
    expected = signature(body, secret)
    candidates = [part.strip() for part in header.split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Agent(_Open):
    id: str | None = None
    type: str | None = None
    summary: str | None = Field(None, description="The user's name as PagerDuty shows it")


class IncidentData(_Open):
    id: str | None = None
    type: str | None = None
    status: str | None = None
    # For incidents opened through the Events API this is the event's dedup_key.
    incident_key: str | None = None
    title: str | None = None


class WebhookEvent(_Open):
    id: str | None = None
    event_type: str = Field(min_length=1)
    resource_type: str | None = None
    occurred_at: str | None = None
    agent: Agent | None = None
    data: IncidentData | None = None


class WebhookDelivery(_Open):
    event: WebhookEvent
