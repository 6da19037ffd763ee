"""The Opsgenie sandbox and our client, held to Opsgenie's published Alert API contract.

Opsgenie publishes Swagger 2.0; `tests/contract/swagger2.py` converts it to OpenAPI 3 for
openapi-core. Every exchange crosses real HTTP to the sandbox and is validated as if it had gone
to https://api.opsgenie.com + its path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from integrations.opsgenie import EU_API_URL, US_API_URL, OpsgenieClient, api_url, priority
from integrations.pagers import PageContent, PagingError
from sandbox.opsgenie import DEFAULT_API_KEY, create_app
from tests.contract.openapi_contract import (
    Contract,
    Exchange,
    ExchangeRecorder,
    assert_conform,
    load_spec,
    validate_exchange,
)
from tests.contract.swagger2 import as_openapi3, convert
from tests.support.servers import run_app

OPSGENIE = Contract("opsgenie-api-swagger2.json", patches=(as_openapi3,), label="Opsgenie REST API")
KEY = SecretStr(DEFAULT_API_KEY)

PAGE = PageContent(
    dedup_key="incident-demo-CALL-1~L2",
    summary="Level 2 of 2 (soc-manager): [SEV1] phishing incident for demo: acknowledge in "
    "Incident Desk, id demo-CALL-1",
    severity="critical",
    details={"incident_id": "demo-CALL-1", "client": "demo", "severity": "SEV1"},
    links=(("http://127.0.0.1:8233/namespaces/default/workflows/x", "Incident history"),),
    destination="BPO SOC",
)


def _is_alert_api(path: str) -> bool:
    return path.startswith("/v2/")


@pytest.fixture
def recorder(tmp_path: Path) -> ExchangeRecorder:
    return ExchangeRecorder(create_app(tmp_path / "opsgenie.db"), include=_is_alert_api)


@pytest.fixture
def sandbox(recorder: ExchangeRecorder) -> Iterator[str]:
    with run_app(recorder) as base_url:
        yield base_url


def test_conversion_gives_openapi3_for_the_alert_routes() -> None:
    converted = convert(load_spec("opsgenie-api-swagger2.json"))
    assert converted["openapi"].startswith("3.")
    assert converted["servers"] == [{"url": "https://api.opsgenie.com"}]
    create = converted["paths"]["/v2/alerts"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CreateAlertPayload"}
    assert "#/definitions/" not in json.dumps(converted)
    assert OPSGENIE.has_operation("POST", "/v2/alerts/abc/acknowledge")


async def test_client_lifecycle_matches_contract(sandbox: str, recorder: ExchangeRecorder) -> None:
    async with OpsgenieClient(sandbox, KEY) as client:
        assert await client.trigger(PAGE) == PAGE.dedup_key
        await client.trigger(PAGE)  # retried: counted on the open alert, not a second alert
        await client.acknowledge(PAGE.dedup_key)
        await client.resolve(PAGE.dedup_key)
        await client.acknowledge("incident-unknown")  # nothing to act on: accepted, no error
    exchanges = recorder.take()
    assert [e.status for e in exchanges] == [202] * 5
    assert assert_conform(OPSGENIE, exchanges) == 5
    ack = exchanges[2]
    assert ack.path == "/v2/alerts/incident-demo-CALL-1~L2/acknowledge"
    assert ack.query == "identifierType=alias"
    assert ack.request_header("authorization") == f"GenieKey {DEFAULT_API_KEY}"
    body = json.loads(exchanges[0].request_body)
    assert body["alias"] == PAGE.dedup_key
    assert body["priority"] == "P1"
    assert body["responders"] == [{"type": "team", "name": "BPO SOC"}]
    assert len(body["message"]) <= 130

    async with httpx.AsyncClient() as http:
        alerts = (await http.get(f"{sandbox}/sandbox/alerts")).json()
    assert len(alerts) == 1 and alerts[0]["count"] == 2 and alerts[0]["status"] == "closed"

    # Request status, as a client tracking the asynchronous request would read it.
    request_id = exchanges[4].json()["requestId"]
    async with httpx.AsyncClient() as http:
        status = await http.get(
            f"{sandbox}/v2/alerts/requests/{request_id}",
            headers={"Authorization": f"GenieKey {DEFAULT_API_KEY}"},
        )
    assert status.status_code == 200
    assert status.json()["data"]["isSuccess"] is False
    assert_conform(OPSGENIE, recorder.take())


def test_errors_match_contract(sandbox: str, recorder: ExchangeRecorder) -> None:
    auth = {"Authorization": f"GenieKey {DEFAULT_API_KEY}"}
    assert httpx.post(f"{sandbox}/v2/alerts", json={"message": "x"}).status_code == 401
    assert httpx.post(f"{sandbox}/v2/alerts", json={"alias": "x"}, headers=auth).status_code == 422
    missing = httpx.get(f"{sandbox}/v2/alerts/requests/nope", headers=auth)
    assert missing.status_code == 404
    exchanges = recorder.take()
    # The 401 lacks the credentials the spec requires, and the 422 a required field: only the
    # responses are the sandbox's to get right.
    assert_conform(OPSGENIE, exchanges, request=False)


def test_a_wrong_shape_is_caught() -> None:
    """The validator is not a rubber stamp: a bad priority and a bad answer are both reported."""
    exchange = Exchange(
        method="POST",
        path="/v2/alerts",
        query="",
        request_headers=[
            ("authorization", "GenieKey k"),
            ("content-type", "application/json"),
        ],
        request_body=json.dumps(
            {"message": "m", "priority": "URGENT", "details": {"a": 1}}
        ).encode(),
        status=202,
        response_headers=[("content-type", "application/json")],
        response_body=json.dumps({"result": "ok"}).encode(),
    )
    problems = validate_exchange(OPSGENIE, exchange)
    text = "\n".join(problems)
    assert "request" in text and "response" in text, text
    assert "URGENT" in text or "priority" in text, text


async def test_client_retries_throttling_then_gives_up_on_a_4xx(sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox}/sandbox/faults", json={"status": 429, "count": 1})
    async with OpsgenieClient(sandbox, KEY) as client:
        await client.trigger(PAGE)
    async with OpsgenieClient(sandbox, SecretStr("wrong-key")) as client:
        with pytest.raises(PagingError) as caught:
            await client.trigger(PAGE)
    assert caught.value.status == 401 and not caught.value.retryable
    assert "wrong-key" not in str(caught.value)


def test_region_and_priority_mapping() -> None:
    assert api_url("eu") == EU_API_URL
    assert api_url(None) == US_API_URL == api_url("us")
    assert api_url("http://127.0.0.1:8091/") == "http://127.0.0.1:8091"
    assert priority("SEV2", "error") == "P2"
    assert priority("SEV4", "info") == "P4"
    assert priority("SEV3", "critical") == "P1"  # breach / no-responder alerts stay urgent
    assert priority(None, "unknown") == "P5"
