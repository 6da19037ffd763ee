"""PagerDutyClient against the real sandbox over HTTP: keys, truncation, retries, secrecy."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from integrations.pagerduty import (
    SUMMARY_MAX_LENGTH,
    PagerDutyClient,
    PagerDutyEvent,
    PagerRequestError,
)
from sandbox.pagerduty import create_app
from tests.support.servers import free_port, run_app

ROUTING_KEY = SecretStr("R0UT1NGKEYsecret0123456789abcdef")


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the HTTP attempts the client really makes, so retries are observed, not assumed."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "pagerduty.sqlite3"


@pytest.fixture
def sandbox(db_path: Path) -> Iterator[str]:
    with run_app(create_app(db_path)) as base_url:
        yield base_url


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
async def client(sandbox: str, transport: CountingTransport) -> Any:
    async with PagerDutyClient(
        f"{sandbox}/v2/enqueue", ROUTING_KEY, transport=transport, max_retry_after=3.0
    ) as pager:
        yield pager


async def get(base_url: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def stage_fault(base_url: str, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        (await http.post("/sandbox/faults", json=fault)).raise_for_status()


async def trigger(
    client: PagerDutyClient, dedup_key: str = "incident-SEC-7", **overrides: Any
) -> str:
    arguments: dict[str, Any] = {
        "dedup_key": dedup_key,
        "summary": "Lost laptop with client data (SEC-7)",
        "severity": "error",
        "source": "incident-desk",
        "custom_details": {"jira": "SEC-7"},
        "links": [("https://jira.example.com/browse/SEC-7", "SEC-7")],
    }
    return await client.trigger(**(arguments | overrides))


async def test_dedup_key_round_trips_through_the_lifecycle(
    client: PagerDutyClient, sandbox: str
) -> None:
    assert await trigger(client, "incident-SEC-7/page-1") == "incident-SEC-7/page-1"
    (alert,) = await get(sandbox, "/sandbox/alerts")
    assert (alert["dedup_key"], alert["status"], alert["severity"]) == (
        "incident-SEC-7/page-1",
        "triggered",
        "error",
    )
    await client.acknowledge("incident-SEC-7/page-1")
    assert (await get(sandbox, "/sandbox/alerts"))[0]["status"] == "acknowledged"
    await client.resolve("incident-SEC-7/page-1")
    assert (await get(sandbox, "/sandbox/alerts", status="resolved"))[0]["summary"] == (
        "Lost laptop with client data (SEC-7)"
    )

    events = await get(sandbox, "/sandbox/events", dedup_key="incident-SEC-7/page-1")
    assert [event["payload"]["event_action"] for event in events] == [
        "trigger",
        "acknowledge",
        "resolve",
    ]
    first = events[0]["payload"]
    assert first["links"] == [{"href": "https://jira.example.com/browse/SEC-7", "text": "SEC-7"}]
    assert first["payload"]["custom_details"] == {"jira": "SEC-7"}
    assert "component" not in first["payload"], "None fields are left out of the body"
    assert events[0]["received_at"].endswith("Z")


async def test_trigger_without_key_gets_the_generated_one(client: PagerDutyClient) -> None:
    event = PagerDutyEvent.model_validate(
        {
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "info", "class": "test"},
        }
    )
    key = await client.send(event)
    assert len(key) >= 16


async def test_long_summary_is_truncated_to_the_limit(
    client: PagerDutyClient, sandbox: str
) -> None:
    summary = "Ransomware note found on " + "x" * 5000
    await trigger(client, summary=summary)
    (event,) = await get(sandbox, "/sandbox/events")
    sent = event["payload"]["payload"]["summary"]
    assert len(sent) == SUMMARY_MAX_LENGTH
    assert sent.startswith("Ransomware note found on ")
    assert sent.endswith("…")


async def test_503_twice_then_success_is_retried(
    client: PagerDutyClient, sandbox: str, transport: CountingTransport
) -> None:
    await stage_fault(sandbox, status=503, count=2)
    assert await trigger(client) == "incident-SEC-7"
    assert transport.statuses == [503, 503, 202]
    assert len(await get(sandbox, "/sandbox/events")) == 1


async def test_persistent_5xx_gives_up_as_retryable(
    client: PagerDutyClient, sandbox: str, transport: CountingTransport
) -> None:
    await stage_fault(sandbox, status=500, count=5)
    with pytest.raises(PagerRequestError) as caught:
        await client.resolve("incident-SEC-7")
    assert (caught.value.status, caught.value.retryable) == (500, True)
    assert transport.statuses == [500, 500, 500]


async def test_429_retry_after_is_honoured(
    client: PagerDutyClient, sandbox: str, transport: CountingTransport
) -> None:
    await stage_fault(sandbox, status=429, count=1, retry_after=1)
    started = time.monotonic()
    await trigger(client)
    elapsed = time.monotonic() - started
    assert transport.statuses == [429, 202]
    assert 0.95 <= elapsed < 3


async def test_429_retry_after_is_capped(sandbox: str, transport: CountingTransport) -> None:
    await stage_fault(sandbox, status=429, count=1, retry_after=60)
    async with PagerDutyClient(
        f"{sandbox}/v2/enqueue", ROUTING_KEY, transport=transport, max_retry_after=0.5
    ) as client:
        started = time.monotonic()
        await trigger(client)
    assert transport.statuses == [429, 202]
    assert time.monotonic() - started < 3


async def test_400_is_not_retried(
    client: PagerDutyClient, transport: CountingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PagerRequestError) as caught:
        await client.send(PagerDutyEvent(event_action="acknowledge"))  # no dedup_key
    error = caught.value
    assert (error.status, error.retryable) == (400, False)
    assert "dedup_key" in error.message
    assert transport.statuses == [400]
    secret = ROUTING_KEY.get_secret_value()
    assert secret not in str(error)
    assert secret not in repr(error)
    assert secret not in caplog.text


async def test_network_failure_is_retried_then_retryable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    async with PagerDutyClient(f"http://127.0.0.1:{port}/v2/enqueue", ROUTING_KEY) as client:
        with pytest.raises(PagerRequestError) as caught:
            await client.resolve("incident-SEC-7")
    assert (caught.value.status, caught.value.retryable) == (None, True)
    chained: list[BaseException] = []
    link: BaseException | None = caught.value
    while link is not None:
        chained.append(link)
        link = link.__cause__ or link.__context__
    assert not any(isinstance(exc, httpx.HTTPError) for exc in chained), chained
    assert ROUTING_KEY.get_secret_value() not in str(caught.value)


async def test_routing_key_is_scrubbed_even_if_the_server_echoes_it() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": [f"unknown routing key {request.read().decode()}"],
            },
        )

    client = PagerDutyClient(
        "https://events.example.invalid/v2/enqueue",
        ROUTING_KEY,
        transport=httpx.MockTransport(echo),
    )
    async with client:
        with pytest.raises(PagerRequestError) as caught:
            await client.resolve("incident-SEC-7")
    secret = ROUTING_KEY.get_secret_value()
    assert "unknown routing key" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in repr(client)
    assert secret not in repr(PagerDutyEvent(event_action="resolve", dedup_key="k"))


async def test_change_event_is_recorded(client: PagerDutyClient, sandbox: str) -> None:
    await client.change(summary="SEC-7 contained", source="incident-desk")
    (event,) = await get(sandbox, "/sandbox/events")
    assert event["path"] == "/v2/change/enqueue"
    assert event["payload"]["payload"] == {"summary": "SEC-7 contained", "source": "incident-desk"}


async def test_restart_on_the_same_db_keeps_events_and_alerts(db_path: Path) -> None:
    with run_app(create_app(db_path)) as base_url:
        client = PagerDutyClient(f"{base_url}/v2/enqueue", ROUTING_KEY)
        await trigger(client)
        await client.acknowledge("incident-SEC-7")
    port = int(base_url.rsplit(":", 1)[1])

    # Same address, so the same client (and its pooled connections) carries on after the restart.
    async with client:
        with run_app(create_app(db_path), port=port) as base_url:
            events = await get(base_url, "/sandbox/events")
            assert [event["payload"]["event_action"] for event in events] == [
                "trigger",
                "acknowledge",
            ]
            (alert,) = await get(base_url, "/sandbox/alerts")
            assert alert["status"] == "acknowledged"
            await client.resolve("incident-SEC-7")
            assert (await get(base_url, "/sandbox/alerts"))[0]["status"] == "resolved"
            async with httpx.AsyncClient(base_url=base_url) as http:
                assert (await http.delete("/sandbox/events")).status_code == 204
            assert await get(base_url, "/sandbox/events") == []
            assert await get(base_url, "/sandbox/alerts") == []
