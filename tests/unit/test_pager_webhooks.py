"""PagerDuty v3 webhooks: the intake route's answers, and the sandbox that sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from pydantic import SecretStr

from incident_desk.settings import Settings
from incidents.lifecycle import Action
from intake.app import create_app
from intake.pager_webhooks import MAX_BODY_BYTES
from integrations import pagerduty_webhooks as pd
from sandbox.pagerduty import Webhook
from sandbox.pagerduty import create_app as create_sandbox
from tests.support.servers import run_app

SECRET = "s3cret-for-tests"


def sign(body: bytes, secret: str = SECRET) -> str:
    # Written out independently of the code under test.
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(event_type: str = "incident.acknowledged", key: str | None = "incident-demo-1~L2"):
    return {
        "event": {
            "id": "01DEN8M2CY4V8KPV1WBBJQWRVM",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-28T10:00:00Z",
            "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Mo Responder"},
            "client": None,
            "data": {"id": "Q1", "type": "incident", "status": "acknowledged", "incident_key": key},
        }
    }


class FakeIntake:
    """Stands in for the Temporal side of the intake: records the update it would send."""

    def __init__(self, failure: HTTPException | None = None) -> None:
        self.acts: list[tuple[str, Action]] = []
        self.failure = failure

    async def act(
        self, identifier: str, update: Any, action: Action, update_id: str | None = None
    ) -> Any:
        if self.failure is not None:
            raise self.failure
        self.acts.append((identifier, action))
        return type("View", (), {"acknowledged_by": action.by, "acknowledged_via": "pagerduty"})


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        state_dir=tmp_path, policies_dir=tmp_path, pagerduty_webhook_secret=SecretStr(SECRET)
    )
    return create_app(settings)


def post(app: FastAPI, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[pd.SIGNATURE_HEADER] = signature
    return TestClient(app).post("/webhooks/pagerduty", content=body, headers=headers)


def test_signature_helper_matches_an_independent_hmac() -> None:
    body = b'{"event": {}}'
    assert pd.signature(body, SECRET) == sign(body)
    assert pd.verify(body, f"v1=deadbeef, {sign(body)}", SECRET)  # rotation: any may match
    assert not pd.verify(body, sign(body, "other"), SECRET)
    assert not pd.verify(body, None, SECRET)


def test_acknowledged_becomes_the_acknowledge_update(app: FastAPI) -> None:
    fake = FakeIntake()
    app.state.intake.act = fake.act
    body = json.dumps(delivery()).encode()
    answer = post(app, body, sign(body))
    assert answer.status_code == 200, answer.text
    ((workflow_id, action),) = fake.acts
    assert workflow_id == "incident-demo-1"
    assert action.by == "Mo Responder" and action.channel == "pagerduty"


@pytest.mark.parametrize("signature", [None, "v1=00", sign(b"something else"), "garbage"])
def test_missing_or_wrong_signature_is_401_before_parsing(
    app: FastAPI, signature: str | None
) -> None:
    answer = post(app, b"{not json at all", signature)
    assert answer.status_code == 401
    assert pd.SIGNATURE_HEADER in answer.json()["detail"]


def test_bad_bodies_are_400_and_huge_ones_413(app: FastAPI) -> None:
    for body in (b"{not json", b"[]", b'{"event": {"event_type": ""}}', b"\xff\xfe"):
        assert post(app, body, sign(body)).status_code == 400, body
    huge = b" " * (MAX_BODY_BYTES + 1)
    assert post(app, huge, sign(huge)).status_code == 413


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (delivery(event_type="incident.resolved"), "not acted on"),
        (delivery(key=None), "no incident_key"),
        (delivery(key="someone-elses-alert"), "not an Incident Desk page"),
    ],
)
def test_what_we_do_not_act_on_is_202_so_pagerduty_does_not_retry(
    app: FastAPI, body: dict, reason: str
) -> None:
    raw = json.dumps(body).encode()
    answer = post(app, raw, sign(raw))
    assert answer.status_code == 202 and reason in answer.json()["detail"]


def test_closed_incident_is_202_and_temporal_down_is_503(app: FastAPI) -> None:
    raw = json.dumps(delivery()).encode()
    app.state.intake.act = FakeIntake(HTTPException(409, "refused: closed")).act
    assert post(app, raw, sign(raw)).status_code == 202
    app.state.intake.act = FakeIntake(HTTPException(503, "Temporal error")).act
    assert post(app, raw, sign(raw)).status_code == 503


def test_unconfigured_secret_disables_the_route(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, policies_dir=tmp_path))
    raw = json.dumps(delivery()).encode()
    assert post(app, raw, sign(raw)).status_code == 503


def test_sandbox_acknowledge_calls_back_signed_like_pagerduty(tmp_path: Path) -> None:
    received: list[tuple[bytes, str | None]] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        received.append((await request.body(), request.headers.get(pd.SIGNATURE_HEADER)))
        return {"ok": "yes"}

    with run_app(receiver) as url:
        sandbox = create_sandbox(tmp_path / "pd.db", Webhook(url=f"{url}/hook", secret=SECRET))
        with TestClient(sandbox) as pager:
            trigger = {
                "routing_key": "k",
                "event_action": "trigger",
                "dedup_key": "incident-demo-9~L2",
                "payload": {"summary": "s", "source": "incident-desk", "severity": "critical"},
            }
            assert pager.post("/v2/enqueue", json=trigger).status_code == 202
            acked = pager.post("/sandbox/alerts/incident-demo-9~L2/acknowledge", json={"by": "Mo"})
            assert acked.status_code == 200, acked.text
            assert acked.json()["webhook"]["delivered"] is True
            assert acked.json()["alert"]["status"] == "acknowledged"
            assert pager.post("/sandbox/alerts/nope/acknowledge").status_code == 404

    ((raw, signature),) = received
    assert signature == sign(raw)
    event = pd.WebhookDelivery.model_validate_json(raw).event
    assert event.event_type == "incident.acknowledged"
    assert event.data and event.data.incident_key == "incident-demo-9~L2"
    assert event.agent and event.agent.summary == "Mo"
