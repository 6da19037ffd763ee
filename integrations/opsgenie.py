"""Our client for the Opsgenie Alert API v2 (or the local stand-in in `sandbox.opsgenie`).

The dedup key is the alert's `alias`, Opsgenie's own deduplication key: creating an alert with an
open alias only counts it again, and acknowledge and close address the alert by alias
(`identifierType=alias`), so every call is safe to repeat. Opsgenie processes alert requests
asynchronously (202 with a `requestId`); that the request was accepted is all a page needs.
An acknowledge or close for an alias Opsgenie does not know (404) is treated as done: there is
nothing open to act on.

Opsgenie support ends on 2027-04-05 (docs/paging.md); Atlassian moves its customers to Jira
Service Management / Compass operations, whose alert API keeps this shape.
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from incidents.pager_routes import PagerKind
from integrations.pagers import PageContent, post_with_retries

US_API_URL = "https://api.opsgenie.com"
EU_API_URL = "https://api.eu.opsgenie.com"

# Opsgenie's documented field limits (Alert API docs): longer values are cut by Opsgenie.
MESSAGE_MAX_LENGTH = 130
ALIAS_MAX_LENGTH = 512
DESCRIPTION_MAX_LENGTH = 15000
DETAIL_VALUE_MAX_LENGTH = 1000

_PRIORITY_BY_SEVERITY = {"SEV1": "P1", "SEV2": "P2", "SEV3": "P3", "SEV4": "P4"}
_PRIORITY_BY_PAGER_SEVERITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}


def api_url(setting: str | None) -> str:
    """`eu`/`us` name Opsgenie's two regions; anything else is a base URL (e.g. the sandbox)."""
    value = (setting or "").strip()
    if value.lower() == "eu":
        return EU_API_URL
    if value.lower() in ("", "us"):
        return US_API_URL
    return value.rstrip("/")


def priority(our_severity: str | None, pager_severity: str) -> str:
    """The more urgent of our severity and the policy's pager severity, as P1..P5.

    Breach and no-responder alerts are sent `critical` whatever the incident's severity; they
    must not be hidden at P3 because the incident itself is a SEV3.
    """
    candidates = [
        _PRIORITY_BY_SEVERITY.get(our_severity or "", "P5"),
        _PRIORITY_BY_PAGER_SEVERITY.get(pager_severity, "P5"),
    ]
    return min(candidates)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def create_alert_body(page: PageContent, *, source: str = "incident-desk") -> dict[str, Any]:
    """The `CreateAlertPayload`: the summary leads, details and links follow, no free text."""
    details = {
        key: _cut(str(value), DETAIL_VALUE_MAX_LENGTH) for key, value in page.details.items()
    }
    for href, text in page.links:
        details[text] = href
    link_lines = "\n".join(f"{text}: {href}" for href, text in page.links)
    body: dict[str, Any] = {
        "message": _cut(page.summary, MESSAGE_MAX_LENGTH),
        "alias": page.dedup_key,
        "description": _cut(f"{page.summary}\n\n{link_lines}".strip(), DESCRIPTION_MAX_LENGTH),
        "details": details,
        "tags": sorted(
            {"incident-desk", *(page.details.get(k, "") for k in ("client", "severity"))} - {""}
        ),
        "priority": priority(page.details.get("severity"), page.severity),
        "source": source,
    }
    if page.details.get("incident_id"):
        body["entity"] = page.details["incident_id"]
    if page.destination:
        body["responders"] = [{"type": "team", "name": page.destination}]
    return body


class OpsgenieClient:
    """Creates, acknowledges and closes alerts with one API key (an API integration's key)."""

    kind = PagerKind.OPSGENIE

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        max_retry_after: float = 5.0,
        source: str = "incident-desk",
        user: str = "Incident Desk",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = api_url(base_url)
        self._api_key = api_key
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._source = source
        self._user = user
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"OpsgenieClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def trigger(self, page: PageContent) -> str:
        """Create (or count again) the alert whose alias is the page's dedup key."""
        if len(page.dedup_key) > ALIAS_MAX_LENGTH:
            raise ValueError(f"dedup key longer than {ALIAS_MAX_LENGTH} characters")
        await self._post(
            "/v2/alerts", create_alert_body(page, source=self._source), f"create {page.dedup_key}"
        )
        return page.dedup_key

    async def acknowledge(self, dedup_key: str, destination: str | None = None) -> None:
        await self._act(dedup_key, "acknowledge", "Acknowledged in Incident Desk")

    async def resolve(self, dedup_key: str, destination: str | None = None) -> None:
        """Opsgenie calls it closing; a closed alias opens a fresh alert on the next create."""
        await self._act(dedup_key, "close", "Incident resolved in Incident Desk")

    async def _act(self, alias: str, action: str, note: str) -> None:
        path = f"/v2/alerts/{quote(alias, safe='')}/{action}"
        body = {"source": self._source, "user": self._user, "note": note}
        await self._post(
            path, body, f"{action} {alias}", params={"identifierType": "alias"}, missing_ok=True
        )

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        what: str,
        params: dict[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> None:
        await post_with_retries(
            self._http,
            self._base_url + path,
            service="Opsgenie",
            what=what,
            scrub=self._scrub,
            attempts=self._attempts,
            max_retry_after=self._max_retry_after,
            # Nothing to acknowledge or close is not a failure of the page.
            accept=lambda response: (
                response.is_success or (missing_ok and response.status_code == 404)
            ),
            json=body,
            params=params,
            headers={"Authorization": f"GenieKey {self._api_key.get_secret_value()}"},
        )

    def _scrub(self, text: str) -> str:
        secret = self._api_key.get_secret_value()
        return text.replace(secret, "**********") if secret else text
