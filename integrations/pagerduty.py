"""Our client for the PagerDuty Events API v2 (or the local stand-in in `sandbox.pagerduty`).

Pages are keyed by a dedup_key we choose, so every call here is idempotent: PagerDuty folds a
repeated trigger into the open alert and drops an acknowledge or resolve for an alert that is
no longer open. That is what makes it safe for tenacity to retry a call whose response was lost,
and for Temporal to retry the activity around it.

The routing key authorises paging a service, so it is kept as a SecretStr, added to the body
only when sending, and scrubbed from anything we raise or log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from integrations.http_retry import Transient, parse_retry_after

logger = logging.getLogger(__name__)

# PagerDuty's documented limits (developer docs; the OpenAPI file states none). A longer summary
# would be cut by PagerDuty anyway; cutting it ourselves keeps the marker of the cut visible.
SUMMARY_MAX_LENGTH = 1024
DEDUP_KEY_MAX_LENGTH = 255
DEFAULT_CLIENT_NAME = "Incident Desk"

Severity = Literal["critical", "error", "warning", "info"]
EventAction = Literal["trigger", "acknowledge", "resolve"]

_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def truncate_summary(summary: str) -> str:
    """Fit a summary into PagerDuty's limit, ending in an ellipsis so readers know it was cut."""
    if len(summary) <= SUMMARY_MAX_LENGTH:
        return summary
    return summary[: SUMMARY_MAX_LENGTH - 1] + "…"


Summary = Annotated[str, AfterValidator(truncate_summary)]


class PagerDutyLink(BaseModel):
    href: str
    text: str | None = None


class PagerDutyPayload(BaseModel):
    """The alert content people see on the page; `class` is a Python keyword, hence `class_`."""

    model_config = ConfigDict(populate_by_name=True)

    summary: Summary
    source: str
    severity: Severity
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None


class PagerDutyEvent(BaseModel):
    """An Events v2 alert event without its routing key, so it can be logged or stored freely."""

    event_action: EventAction
    dedup_key: str | None = Field(default=None, max_length=DEDUP_KEY_MAX_LENGTH)
    payload: PagerDutyPayload | None = None
    links: list[PagerDutyLink] | None = None
    client: str | None = None
    client_url: str | None = None

    def to_body(self, routing_key: SecretStr) -> dict[str, Any]:
        """The wire body: PagerDuty rejects nulls in places, so unset fields are left out."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["routing_key"] = routing_key.get_secret_value()
        return body


class PagerDutyChangePayload(BaseModel):
    summary: Summary
    source: str | None = None
    timestamp: datetime | None = None
    custom_details: dict[str, Any] | None = None


class PagerDutyChangeEvent(BaseModel):
    """A change event: shown beside incidents on the service, never pages anyone."""

    payload: PagerDutyChangePayload
    links: list[PagerDutyLink] | None = None

    def to_body(self, routing_key: SecretStr) -> dict[str, Any]:
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["routing_key"] = routing_key.get_secret_value()
        return body


class PagerRequestError(Exception):
    """A page that did not go through; `retryable` tells the caller whether trying later helps.

    A 400 means the event itself is wrong and will be refused every time; throttling, 5xx and
    network failures that outlasted our brief retries are worth another go later (Temporal).
    `status` is None when no HTTP response was received at all.
    """

    def __init__(self, status: int | None, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"PagerDuty request failed ({status or 'no response'}): {message}")
        self.status = status
        self.message = message
        self.retryable = retryable


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if not isinstance(data, Mapping):
        return str(data)[:500]
    message = str(data.get("message") or data.get("status") or response.reason_phrase)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        message = f"{message}: {'; '.join(str(error) for error in errors)}"
    return message


class PagerDutyClient:
    """Sends alert events; one instance per routing key, reused so connections are pooled.

    Retries here are deliberately short (a few attempts within seconds): they smooth over a
    blip or a throttle, while anything longer is left to the caller's retry policy, which
    survives worker restarts.
    """

    def __init__(
        self,
        enqueue_url: str,
        routing_key: SecretStr,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        max_retry_after: float = 5.0,
        client_name: str = DEFAULT_CLIENT_NAME,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._enqueue_url = enqueue_url
        self._change_url = _change_url_for(enqueue_url)
        self._routing_key = routing_key
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._client_name = client_name
        self._backoff = wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"PagerDutyClient(enqueue_url={self._enqueue_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def trigger(
        self,
        *,
        dedup_key: str,
        summary: str,
        severity: str,
        source: str,
        custom_details: dict[str, str],
        links: list[tuple[str, str]],
        component: str | None = None,
        group: str | None = None,
        class_: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Open (or refresh) the alert for dedup_key and return the key PagerDuty used."""
        event = PagerDutyEvent(
            event_action="trigger",
            dedup_key=dedup_key,
            payload=PagerDutyPayload(
                summary=summary,
                source=source,
                severity=severity,  # type: ignore[arg-type]  # validated by pydantic
                timestamp=timestamp,
                component=component,
                group=group,
                class_=class_,
                custom_details=custom_details or None,
            ),
            links=[PagerDutyLink(href=href, text=text) for href, text in links] or None,
            client=self._client_name,
        )
        return await self.send(event)

    async def acknowledge(self, dedup_key: str) -> None:
        """Stop the escalation: PagerDuty treats the alert as being worked on."""
        await self.send(PagerDutyEvent(event_action="acknowledge", dedup_key=dedup_key))

    async def resolve(self, dedup_key: str) -> None:
        """Close the page; later events with this key start a fresh alert."""
        await self.send(PagerDutyEvent(event_action="resolve", dedup_key=dedup_key))

    async def send(self, event: PagerDutyEvent) -> str:
        """The escape hatch for events the helpers don't shape (e.g. a trigger PagerDuty keys).

        Returns the dedup_key from the 202, since only PagerDuty knows a key it generated.
        """
        data = await self._post(
            self._enqueue_url, event.to_body(self._routing_key), event.event_action, event.dedup_key
        )
        key = data.get("dedup_key") if isinstance(data, Mapping) else None
        return str(key or event.dedup_key or "")

    async def change(
        self,
        *,
        summary: str,
        source: str | None = None,
        custom_details: dict[str, str] | None = None,
        links: list[tuple[str, str]] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Record a change (e.g. an incident state change) on the service's timeline."""
        event = PagerDutyChangeEvent(
            payload=PagerDutyChangePayload(
                summary=summary, source=source, timestamp=timestamp, custom_details=custom_details
            ),
            links=[PagerDutyLink(href=href, text=text) for href, text in links or []] or None,
        )
        await self._post(self._change_url, event.to_body(self._routing_key), "change", None)

    async def _post(
        self, url: str, body: dict[str, Any], action: str, dedup_key: str | None
    ) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            reraise=True,
        )
        failure: Transient | None = None
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(url, body, action, dedup_key)
        except Transient as exc:
            failure = exc
        # Raised outside the handler so nothing from the attempts is chained onto it.
        if failure is None:  # pragma: no cover - tenacity either returns or reraises
            raise RuntimeError("PagerDuty retry loop ended without an outcome")
        raise PagerRequestError(failure.status, failure.message, retryable=True)

    async def _post_once(
        self, url: str, body: dict[str, Any], action: str, dedup_key: str | None
    ) -> Any:
        network_failure = ""
        try:
            response: httpx.Response | None = await self._http.post(url, json=body)
        except httpx.TransportError as exc:
            logger.warning("PagerDuty %s %s: %s", action, dedup_key, type(exc).__name__)
            network_failure = f"{type(exc).__name__}: {self._scrub(str(exc))}"
            response = None
        if response is None:
            # Raised outside the handler: httpx exceptions hold the request, which holds the key,
            # so they must not ride along as __context__ into logs or Temporal failures.
            raise Transient(None, network_failure, None)
        status = response.status_code
        if 200 <= status < 300:
            logger.info("PagerDuty %s %s accepted (%s)", action, dedup_key, status)
            try:
                return response.json()
            except ValueError:
                return {}
        message = self._scrub(_error_message(response))
        logger.warning("PagerDuty %s %s refused (%s): %s", action, dedup_key, status, message)
        if status in _TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Transient(status, message, retry_after)
        raise PagerRequestError(status, message, retryable=False)

    def _wait(self, state: RetryCallState) -> float:
        """Honour Retry-After when PagerDuty sends one, but never wait past a few seconds."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_retry_after)
        return self._backoff(state)

    def _scrub(self, text: str) -> str:
        secret = self._routing_key.get_secret_value()
        return text.replace(secret, "**********") if secret else text


def _change_url_for(enqueue_url: str) -> str:
    """PagerDuty serves change events beside alert events: …/v2/enqueue → …/v2/change/enqueue."""
    base, sep, _ = enqueue_url.rstrip("/").rpartition("/enqueue")
    return f"{base}/change/enqueue" if sep else f"{enqueue_url.rstrip('/')}/change/enqueue"
