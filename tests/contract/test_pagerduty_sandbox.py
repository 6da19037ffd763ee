"""The PagerDuty sandbox and our client, held to PagerDuty's published Events API v2 contract.

Every exchange goes over real HTTP to the sandbox (uvicorn on a free port, a tmp database),
is recorded as it crossed the socket, and is checked with openapi-core against
`pagerduty-events-v2-openapi.json`. The spec's server is https://events.pagerduty.com/v2 with
paths /enqueue and /change/enqueue; the sandbox serves them under /v2, so an exchange is judged
as if it had gone to https://events.pagerduty.com + its path (`Contract.host_url`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from integrations.pagerduty import PagerDutyClient, PagerDutyEvent, PagerDutyPayload
from sandbox.pagerduty import create_app
from tests.contract.openapi_contract import (
    Contract,
    Exchange,
    ExchangeRecorder,
    assert_conform,
    validate_exchange,
)
from tests.support.servers import run_app

ROUTING_KEY = SecretStr("0123456789abcdef0123456789abcdef")


def _errors_have_the_error_shape(spec: dict[str, Any]) -> None:
    """Tightening, not relaxing: hold 400 and 429 bodies to the spec's `Error` response.

    In the spec those two entries read `description: "#/components/responses/ArgumentError"` and
    `"#/components/responses/TooManyRequests"`: references written into the description, to
    responses that do not exist, so they declare no body and nothing would be checked. PagerDuty
    answers them with the `Error` shape (`status`, `message`, `errors`), which is the only error
    body the spec defines; without this a sandbox could send anything on a 400.
    """
    for item in spec["paths"].values():
        for status in ("400", "429"):
            item["post"]["responses"][status] = {"$ref": "#/components/responses/Error"}


PAGERDUTY = Contract(
    "pagerduty-events-v2-openapi.json",
    patches=(_errors_have_the_error_shape,),
    label="PagerDuty Events v2",
)


def _is_events_api(path: str) -> bool:
    return not path.startswith("/sandbox/")


@pytest.fixture
def recorder(tmp_path: Path) -> ExchangeRecorder:
    return ExchangeRecorder(create_app(tmp_path / "pagerduty.sqlite3"), include=_is_events_api)


@pytest.fixture
def sandbox(recorder: ExchangeRecorder) -> Iterator[str]:
    with run_app(recorder) as base_url:
        yield base_url


def problems(exchange: Exchange, *, request: bool = True, response: bool = True) -> list[str]:
    return validate_exchange(PAGERDUTY, exchange, request=request, response=response)


async def test_client_lifecycle_matches_contract(sandbox: str, recorder: ExchangeRecorder) -> None:
    async with PagerDutyClient(f"{sandbox}/v2/enqueue", ROUTING_KEY) as client:
        key = await client.trigger(
            dedup_key="incident-SEC-1/page-1",
            summary="Phishing with credential capture reported by ACME",
            severity="critical",
            source="incident-desk",
            custom_details={"jira": "SEC-1", "state": "ESCALATED"},
            links=[("https://jira.example.com/browse/SEC-1", "SEC-1 in Jira")],
            component="mail",
            group="acme",
            class_="phishing",
        )
        assert key == "incident-SEC-1/page-1"
        await client.acknowledge(key)
        await client.resolve(key)
        generated = await client.send(
            PagerDutyEvent(
                event_action="trigger",
                payload=PagerDutyPayload(summary="no key", source="cli", severity="info"),
            )
        )
        assert generated
        await client.change(
            summary="SEC-1 moved to CONTAINED",
            source="incident-desk",
            custom_details={"from": "ESCALATED", "to": "CONTAINED"},
            links=[("https://jira.example.com/browse/SEC-1", "SEC-1")],
        )

    exchanges = recorder.take()
    assert [(e.path, e.status) for e in exchanges] == [("/v2/enqueue", 202)] * 4 + [
        ("/v2/change/enqueue", 202)
    ]
    assert assert_conform(PAGERDUTY, exchanges) == 5

    async with httpx.AsyncClient(base_url=sandbox) as http:
        alerts = (await http.get("/sandbox/alerts")).json()
    by_key = {alert["dedup_key"]: alert for alert in alerts}
    assert (by_key[key]["status"], by_key[key]["severity"]) == ("resolved", "critical")
    assert by_key[generated]["status"] == "triggered"


_TRIGGER = {"routing_key": "r", "event_action": "trigger"}
_PAYLOAD = {"summary": "s", "source": "h", "severity": "info"}

# (case, body, word the sandbox's errors must mention, does the spec's schema refuse it too?)
INVALID_EVENTS: list[tuple[str, dict[str, Any], str, bool]] = [
    ("no routing key", {"event_action": "resolve", "dedup_key": "k"}, "routing_key", True),
    (
        "unknown action",
        {"routing_key": "r", "event_action": "snooze", "dedup_key": "k"},
        "event_action",
        True,
    ),
    ("bad severity", _TRIGGER | {"payload": _PAYLOAD | {"severity": "urgent"}}, "severity", True),
    ("no summary", _TRIGGER | {"payload": {"source": "h", "severity": "info"}}, "summary", True),
    ("no source", _TRIGGER | {"payload": {"summary": "s", "severity": "info"}}, "source", True),
    (
        "timestamp not a date-time",
        _TRIGGER | {"payload": _PAYLOAD | {"timestamp": "today"}},
        "timestamp",
        True,
    ),
    (
        "link without href",
        _TRIGGER | {"payload": _PAYLOAD, "links": [{"text": "nowhere"}]},
        "href",
        True,
    ),
    (
        "custom_details not an object",
        _TRIGGER | {"payload": _PAYLOAD | {"custom_details": "x"}},
        "custom_details",
        True,
    ),
    # The spec states these only in prose ("required unless ... trigger", "required for
    # trigger"), and PagerDuty's docs give the 1024-character summary limit; its schema lets
    # them through, so only the sandbox can hold a client to them.
    (
        "acknowledge without dedup_key",
        {"routing_key": "r", "event_action": "acknowledge"},
        "dedup_key",
        False,
    ),
    ("trigger without payload", _TRIGGER, "payload", False),
    (
        "summary over 1024 characters",
        _TRIGGER | {"payload": _PAYLOAD | {"summary": "x" * 1025}},
        "summary",
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "mentions", "schema_refuses"),
    [case[1:] for case in INVALID_EVENTS],
    ids=[case[0] for case in INVALID_EVENTS],
)
async def test_invalid_events_are_refused_with_the_spec_error_shape(
    sandbox: str,
    recorder: ExchangeRecorder,
    body: dict[str, Any],
    mentions: str,
    schema_refuses: bool,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.post("/v2/enqueue", json=body)
        events = (await http.get("/sandbox/events")).json()

    assert response.status_code == 400
    data = response.json()
    assert (data["status"], data["message"]) == ("invalid event", "Event object is invalid")
    assert any(mentions in error for error in data["errors"]), data
    assert events == [], "a refused event must not be recorded"

    (exchange,) = recorder.take()
    assert problems(exchange, request=False) == []
    assert bool(problems(exchange, response=False)) == schema_refuses


async def test_invalid_change_event_is_refused(sandbox: str, recorder: ExchangeRecorder) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.post(
            "/v2/change/enqueue", json={"routing_key": "r", "payload": {"source": "git"}}
        )
    assert response.status_code == 400
    assert any("summary" in error for error in response.json()["errors"])
    (exchange,) = recorder.take()
    assert problems(exchange, request=False) == []
    assert problems(exchange, response=False) != []


@pytest.mark.parametrize("path", ["/v2/enqueue", "/v2/change/enqueue"])
async def test_non_json_body_is_a_400(sandbox: str, recorder: ExchangeRecorder, path: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.post(
            path, content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["errors"] == ["JSON parse error"]
    (exchange,) = recorder.take()
    assert problems(exchange, request=False) == []


async def test_spec_examples_are_judged_as_the_spec_judges_them(
    sandbox: str, recorder: ExchangeRecorder
) -> None:
    """The sandbox accepts exactly those of PagerDuty's own examples that the schema accepts.

    (The /enqueue example's `timestamp` is `2015-07-17T08:42:58.315+0000`, not an RFC 3339
    date-time, so the schema refuses it, and so does the sandbox.)
    """
    async with httpx.AsyncClient(base_url=sandbox) as http:
        for spec_path, item in PAGERDUTY.document["paths"].items():
            media = item["post"]["requestBody"]["content"]["application/json"]
            for example in media["examples"].values():
                await http.post(f"/v2{spec_path}", json=example["value"])
    exchanges = recorder.take()
    assert len(exchanges) == 3
    for exchange in exchanges:
        assert problems(exchange, request=False) == []
        schema_accepts = problems(exchange, response=False) == []
        assert (exchange.status == 202) == schema_accepts, (str(exchange), exchange.response_body)


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (500, None), (429, 2)])
async def test_staged_faults_answer_in_the_spec_shape(
    sandbox: str, recorder: ExchangeRecorder, status: int, retry_after: int | None
) -> None:
    event = {"routing_key": "r", "event_action": "resolve", "dedup_key": "k"}
    async with httpx.AsyncClient(base_url=sandbox) as http:
        staged = await http.post(
            "/sandbox/faults", json={"status": status, "count": 1, "retry_after": retry_after}
        )
        assert staged.status_code == 201
        failed = await http.post("/v2/enqueue", json=event)
        recovered = await http.post("/v2/enqueue", json=event)
    assert (failed.status_code, recovered.status_code) == (status, 202)
    if retry_after is not None:
        assert failed.headers["retry-after"] == str(retry_after)
    assert assert_conform(PAGERDUTY, recorder.take()) == 2


def test_the_validator_catches_wrong_shapes() -> None:
    """Guards the guard: a broken sandbox or client must make the contract tests fail."""
    trigger = json.dumps(_TRIGGER | {"payload": _PAYLOAD}).encode()

    def exchange(request_body: bytes, status: int, response: dict[str, Any]) -> Exchange:
        return Exchange(
            method="POST",
            path="/v2/enqueue",
            query="",
            request_headers=[("content-type", "application/json")],
            request_body=request_body,
            status=status,
            response_headers=[("content-type", "application/json")],
            response_body=json.dumps(response).encode(),
        )

    # Conforms as is, so each failure below comes from its mutation alone.
    assert problems(exchange(trigger, 202, {"status": "success", "dedup_key": "k"})) == []

    def request_problems(body: bytes) -> str:
        return "\n".join(problems(exchange(body, 202, {"status": "success"}), response=False))

    def response_problems(status: int, body: dict[str, Any]) -> str:
        return "\n".join(problems(exchange(trigger, status, body), request=False))

    assert "is not one of" in request_problems(trigger.replace(b'"info"', b'"urgent"'))
    assert "'routing_key' is a required property" in request_problems(
        b'{"event_action": "resolve"}'
    )
    assert "is not of type 'string'" in response_problems(202, {"status": 1})
    assert "'status' is a required property" in response_problems(202, {"message": "ok"})
    assert "'message' is a required property" in response_problems(503, {"status": "error"})
    assert "'message' is a required property" in response_problems(400, {"status": "invalid"})
    assert "is not of type 'string'" in response_problems(
        429, {"status": "throttled", "message": "m", "errors": [1]}
    )
    assert PAGERDUTY.has_operation("POST", "/v2/enqueue")
    assert not PAGERDUTY.has_operation("POST", "/enqueue"), "the /v2 prefix must be checked"
