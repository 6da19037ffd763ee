"""A generic signed webhook pager, for chat tools and in-house pagers.

Each event is one JSON POST:

    {"event": "trigger" | "acknowledge" | "resolve", "dedup_key": "...", "sent_at": "...",
     "summary": "...", "severity": "critical", "details": {...}, "links": [{"href", "text"}]}

(`summary`, `severity`, `details` and `links` on triggers only), with

    X-Incident-Desk-Timestamp: <unix seconds>
    X-Incident-Desk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>
    X-Incident-Desk-Event-Id:  <dedup_key>:<event>   (the same on every retry of one event)

The timestamp is inside the signature, so a receiver that refuses stale timestamps (see
`verify_signature`, five minutes by default) cannot be fed an old delivery again; the event id
lets it drop the redeliveries our own retries make. Receivers should ignore acknowledge and
resolve events for keys they never saw a trigger for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any, Literal, Self

import httpx
from pydantic import SecretStr

from incidents.pager_routes import PagerKind
from integrations.pagers import PageContent, PagingError, post_with_retries

SIGNATURE_HEADER = "X-Incident-Desk-Signature"
TIMESTAMP_HEADER = "X-Incident-Desk-Timestamp"
EVENT_ID_HEADER = "X-Incident-Desk-Event-Id"
DEFAULT_TOLERANCE_S = 300

Event = Literal["trigger", "acknowledge", "resolve"]


def sign(body: bytes, timestamp: str, secret: str) -> str:
    """The header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    secret: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver runs before parsing: a fresh timestamp and a matching MAC.

    Several comma-separated signatures are accepted so a secret can be rotated without a gap.
    """
    if not timestamp or not signature or not secret:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    expected = sign(body, timestamp, secret)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


class WebhookPager:
    """Posts signed page events; the destination of a route overrides the configured URL."""

    kind = PagerKind.WEBHOOK

    def __init__(
        self,
        url: str | None,
        secret: SecretStr,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        max_retry_after: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"WebhookPager(url={self._url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def trigger(self, page: PageContent) -> str:
        await self._send(
            "trigger",
            page.dedup_key,
            page.destination,
            {
                "summary": page.summary,
                "severity": page.severity,
                "details": dict(page.details),
                "links": [{"href": href, "text": text} for href, text in page.links],
            },
        )
        return page.dedup_key

    async def acknowledge(self, dedup_key: str, destination: str | None = None) -> None:
        await self._send("acknowledge", dedup_key, destination, {})

    async def resolve(self, dedup_key: str, destination: str | None = None) -> None:
        await self._send("resolve", dedup_key, destination, {})

    async def _send(
        self, event: Event, dedup_key: str, destination: str | None, fields: dict[str, Any]
    ) -> None:
        url = destination or self._url
        if not url:
            raise PagingError("Webhook pager", None, "no URL: set WEBHOOK_PAGER_URL")
        payload = {
            "event": event,
            "dedup_key": dedup_key,
            "sent_at": datetime.now(UTC).isoformat(),
            **fields,
        }
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        # Signed per attempt would need a hook in the retry loop; five minutes of tolerance
        # comfortably covers our few seconds of retries.
        timestamp = str(int(time.time()))
        await post_with_retries(
            self._http,
            url,
            service="Webhook pager",
            what=f"{event} {dedup_key}",
            attempts=self._attempts,
            max_retry_after=self._max_retry_after,
            content=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(body, timestamp, self._secret.get_secret_value()),
                EVENT_ID_HEADER: f"{dedup_key}:{event}",
            },
        )
