"""One small interface over every pager, so an escalation level can target any of them.

The workflow knows pages only by dedup key; which tool carries a page is a deployment and policy
matter (`incidents.pager_routes`), decided in the paging activity. Each pager here keys its alert
by that dedup key (PagerDuty `dedup_key`, Opsgenie `alias`, the webhook's `dedup_key`), so a
retried trigger refreshes the same alert and acknowledge/resolve find it again without any state
of ours.

Every HTTP pager shares `post_with_retries`: tenacity smooths a throttle or a 5xx over a few
seconds (honouring Retry-After), anything longer is left to Temporal's retry policy, and a 4xx
other than 429 fails at once because sending it again cannot help.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from incidents.pager_routes import PagerKind, PagerRoute
from integrations.http_retry import Transient, parse_retry_after
from integrations.pagerduty import PagerDutyClient, PagerRequestError

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PageContent:
    """What every pager shows: already free of personal data (built by `incidents.notices`)."""

    dedup_key: str
    summary: str
    severity: str  # the pager severity of the policy: critical | error | warning | info
    details: Mapping[str, str] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()
    destination: str | None = None


@runtime_checkable
class Pager(Protocol):
    """Trigger, acknowledge and resolve one alert, identified by our dedup key."""

    kind: PagerKind

    async def trigger(self, page: PageContent) -> str: ...

    async def acknowledge(self, dedup_key: str, destination: str | None = None) -> None: ...

    async def resolve(self, dedup_key: str, destination: str | None = None) -> None: ...

    async def aclose(self) -> None: ...


class PagingError(PagerRequestError):
    """A `PagerRequestError` that names its pager, so the activity treats all pagers alike."""

    def __init__(
        self, service: str, status: int | None, message: str, *, retryable: bool = False
    ) -> None:
        Exception.__init__(self, f"{service} request failed ({status or 'no response'}): {message}")
        self.status = status
        self.message = message
        self.retryable = retryable


def error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(data, Mapping):
        return str(data.get("message") or data.get("detail") or response.reason_phrase)[:300]
    return str(data)[:300]


async def post_with_retries(
    http: httpx.AsyncClient,
    url: str,
    *,
    service: str,
    what: str,
    scrub: Callable[[str], str] = lambda text: text,
    attempts: int = 3,
    max_retry_after: float = 5.0,
    accept: Callable[[httpx.Response], bool] = lambda response: response.is_success,
    **request: Any,
) -> httpx.Response:
    """POST until accepted, a permanent refusal, or `attempts` transient failures.

    `scrub` removes secrets from anything raised or logged; httpx errors are never chained onto
    what is raised, because they hold the request and so its credentials.
    """
    backoff = wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, max_retry_after)
        return backoff(state)

    async def once() -> httpx.Response:
        failure = ""
        try:
            response: httpx.Response | None = await http.post(url, **request)
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {scrub(str(exc))}"
            response = None
        if response is None:
            logger.warning("%s %s: %s", service, what, failure)
            raise Transient(None, failure, None)
        if accept(response):
            logger.info("%s %s accepted (%s)", service, what, response.status_code)
            return response
        message = scrub(error_message(response))
        logger.warning("%s %s refused (%s): %s", service, what, response.status_code, message)
        if response.status_code in TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Transient(response.status_code, message, retry_after)
        raise PagingError(service, response.status_code, message, retryable=False)

    outcome: Transient | None = None
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait,
            retry=retry_if_exception_type(Transient),
            reraise=True,
        ):
            with attempt:
                return await once()
    except Transient as exc:
        outcome = exc
    if outcome is None:  # pragma: no cover - tenacity either returns or reraises
        raise RuntimeError(f"{service} retry loop ended without an outcome")
    raise PagingError(service, outcome.status, outcome.message, retryable=True)


class PagerDutyPager:
    """The Events v2 client behind the common interface; it has one service, so no destination."""

    kind = PagerKind.PAGERDUTY

    def __init__(self, client: PagerDutyClient, *, source: str = "incident-desk") -> None:
        self._client = client
        self._source = source

    async def trigger(self, page: PageContent) -> str:
        return await self._client.trigger(
            dedup_key=page.dedup_key,
            summary=page.summary,
            severity=page.severity,
            source=self._source,
            custom_details=dict(page.details),
            links=list(page.links),
        )

    async def acknowledge(self, dedup_key: str, destination: str | None = None) -> None:
        await self._client.acknowledge(dedup_key)

    async def resolve(self, dedup_key: str, destination: str | None = None) -> None:
        await self._client.resolve(dedup_key)

    async def aclose(self) -> None:
        await self._client.aclose()


class PagerSet:
    """The pagers this worker can reach, by kind; a route naming a missing one is an error."""

    def __init__(self, pagers: Mapping[PagerKind, Pager]) -> None:
        self._pagers = dict(pagers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._pagers

    def for_route(self, route: PagerRoute) -> Pager:
        pager = self._pagers.get(route.kind)
        if pager is None:
            # Not retryable: only a configuration change (and a new worker) can fix it.
            raise PagingError(
                route.kind.value, None, f"{route.kind.value} is not configured on this worker"
            )
        return pager

    async def aclose(self) -> None:
        for pager in self._pagers.values():
            await pager.aclose()


def build_pagers(settings: Any, pagerduty: PagerDutyClient) -> PagerSet:
    """Every pager the settings make reachable; the webhook pager only once it can sign.

    `settings` is `incident_desk.settings.Settings` (not imported: integrations stay below the
    entry points).
    """
    from integrations.opsgenie import OpsgenieClient
    from integrations.webhook_pager import WebhookPager

    pagers: dict[PagerKind, Pager] = {
        PagerKind.PAGERDUTY: PagerDutyPager(pagerduty),
        PagerKind.OPSGENIE: OpsgenieClient(settings.opsgenie_base_url, settings.opsgenie_api_key),
    }
    if settings.webhook_pager_secret is not None:
        pagers[PagerKind.WEBHOOK] = WebhookPager(
            settings.webhook_pager_url, settings.webhook_pager_secret
        )
    return PagerSet(pagers)
