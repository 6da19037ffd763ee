"""`POST /webhooks/jira` over real HTTP, against the session's real Temporal dev server.

The intake runs in uvicorn on a free port; workflows it starts go to a task queue no worker
polls, so what a delivery started can be read back without anything running it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from incident_desk.settings import Settings
from intake.app import create_app
from tests.support.servers import free_port, run_app
from tests.unit.test_jira_payloads import example

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-webhook-secret"
PROJECT = "WHK"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def issue_created(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": 1764370000000,
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": {"accountId": "acc-agent", "displayName": "Agent 4410"},
        "issue": {
            "id": str(abs(hash(key)) % 100000),
            "key": key,
            "fields": {
                "summary": "Caller got an SMS asking for her card PIN",
                "description": "Lookalike sender.",
                "labels": ["client-demo", "channel-phone"],
                "issuetype": {"name": "Incident"},
                "project": {"key": PROJECT},
                "reporter": {"displayName": "Agent 4410", "emailAddress": "a4410@bpo.example"},
                "created": "2026-11-28T09:15:00.000+0800",
                **fields,
            },
        },
    }


def settings_for(env: WorkflowEnvironment, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "policies_dir": REPO / "policies",
        "temporal_address": env.client.service_client.config.target_host,
        "temporal_namespace": env.client.namespace,
        # Nobody polls this queue: started workflows stay as the webhook left them.
        "task_queue": f"webhook-test-{uuid.uuid4().hex[:8]}",
        "jira_project": PROJECT,
        "jira_sandbox_port": free_port(),  # no Jira: nothing here may need one
        "pager_sandbox_port": free_port(),
        "jira_webhook_secret": SecretStr(SECRET),
        "jira_webhook_max_bytes": 65_536,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def connected_intake(
    settings: Settings, app: FastAPI | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An intake that has connected to Temporal (it connects in the background)."""
    with run_app(app or create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(200):
                health = (await http.get("/healthz")).json()
                if health["dependencies"]["temporal"]["ready"]:
                    break
                await _sleep(0.05)
            yield http


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def post(
    http: httpx.AsyncClient,
    payload: dict[str, Any] | bytes,
    *,
    secret: str | None = SECRET,
    delivery: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json"}
    if secret is not None:
        sent["X-Hub-Signature"] = sign(body, secret)
    sent["X-Atlassian-Webhook-Identifier"] = delivery or str(uuid.uuid4())
    sent.update(headers or {})
    return await http.post("/webhooks/jira", content=body, headers=sent, params=params)


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def new_key() -> str:
    return f"{PROJECT}-{uuid.uuid4().int % 10**9}"


# -- authentication ------------------------------------------------------------------------------


async def test_missing_or_wrong_signature_is_401_and_starts_nothing(
    dev_env: WorkflowEnvironment,
) -> None:
    key = new_key()
    payload = issue_created(key)
    async with connected_intake(settings_for(dev_env)) as http:
        missing = await post(http, payload, secret=None)
        wrong = await post(http, payload, secret="not-the-secret")
        malformed = await post(http, payload, secret=None, headers={"X-Hub-Signature": "md5=ab"})
        tampered_body = json.dumps(payload).encode()
        tampered = await http.post(
            "/webhooks/jira",
            content=tampered_body.replace(b"PIN", b"PUK"),
            headers={"X-Hub-Signature": sign(tampered_body)},
        )
    assert missing.status_code == 401
    assert "missing X-Hub-Signature" in missing.json()["detail"]
    assert wrong.status_code == 401
    assert "does not match" in wrong.json()["detail"]
    assert malformed.status_code == 401 and "sha256=" in malformed.json()["detail"]
    assert tampered.status_code == 401
    assert not await exists(dev_env.client, f"incident-{key}")


async def test_cloud_mode_without_a_secret_refuses_everything_with_503(
    dev_env: WorkflowEnvironment,
) -> None:
    key = new_key()
    async with connected_intake(settings_for(dev_env, jira_webhook_secret=None)) as http:
        refused = await post(http, issue_created(key), secret=None)
        signed = await post(http, issue_created(key), secret="anything")
    for response in (refused, signed):
        assert response.status_code == 503
        assert "JIRA_WEBHOOK_SECRET is not set" in response.json()["detail"]
    assert not await exists(dev_env.client, f"incident-{key}")


async def test_datacenter_mode_checks_the_url_token_when_one_is_set(
    dev_env: WorkflowEnvironment,
) -> None:
    dc = settings_for(
        dev_env,
        jira_webhook_mode="datacenter",
        jira_webhook_secret=None,
        jira_webhook_token=SecretStr("dc-token"),
    )
    key = new_key()
    async with connected_intake(dc) as http:
        no_token = await post(http, issue_created(key), secret=None)
        bad_token = await post(http, issue_created(key), secret=None, params={"token": "nope"})
        assert not await exists(dev_env.client, f"incident-{key}")
        good = await post(http, issue_created(key), secret=None, params={"token": "dc-token"})
    assert no_token.status_code == 401 and "token" in no_token.json()["detail"]
    assert bad_token.status_code == 401
    assert good.status_code == 200, good.text
    assert good.json()["outcome"] == "started"
    assert await exists(dev_env.client, f"incident-{key}")

    open_dc = settings_for(dev_env, jira_webhook_mode="datacenter", jira_webhook_secret=None)
    other = new_key()
    async with connected_intake(open_dc) as http:
        unsigned = await post(http, issue_created(other), secret=None)
    assert unsigned.status_code == 200 and unsigned.json()["outcome"] == "started"


# -- bounds and parsing --------------------------------------------------------------------------


async def test_oversized_bodies_are_413_whether_announced_or_streamed(
    dev_env: WorkflowEnvironment,
) -> None:
    big = json.dumps(issue_created(new_key(), description="x" * 70_000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    async with connected_intake(settings_for(dev_env)) as http:
        announced = await post(http, big)
        streamed = await http.post(  # chunked: no Content-Length to trust
            "/webhooks/jira", content=chunks(), headers={"X-Hub-Signature": sign(big)}
        )
    assert announced.status_code == 413
    assert streamed.status_code == 413
    assert "JIRA_WEBHOOK_MAX_BYTES" in announced.json()["detail"]


async def test_bad_bodies_are_400_naming_the_problem(dev_env: WorkflowEnvironment) -> None:
    missing_key = issue_created(new_key())
    del missing_key["issue"]["key"]
    bad_time = issue_created(new_key(), created="yesterday")
    async with connected_intake(settings_for(dev_env)) as http:
        not_json = await post(http, b"{not json")
        not_object = await post(http, b"[1, 2]")
        no_event = await post(http, {"issue": {"key": "WHK-1"}})
        no_key = await post(http, missing_key)
        bad_created = await post(http, bad_time)
        no_issue = await post(http, {"webhookEvent": "jira:issue_created"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]
    assert not_object.status_code == 400 and "JSON object" in not_object.json()["detail"]
    assert no_event.status_code == 400 and "webhookEvent" in no_event.json()["detail"]
    assert no_key.status_code == 400 and "issue.key" in no_key.json()["detail"]
    assert bad_created.status_code == 400
    assert "issue.fields.created" in bad_created.json()["detail"]
    assert no_issue.status_code == 400 and "without an 'issue'" in no_issue.json()["detail"]


async def test_unknown_and_unhandled_events_are_202(dev_env: WorkflowEnvironment) -> None:
    async with connected_intake(settings_for(dev_env)) as http:
        unknown = await post(http, {"webhookEvent": "sprint_started", "sprint": {"id": 1}})
        other_project = await post(
            http, issue_created(new_key(), project={"key": "HR"}, issuetype={"name": "Task"})
        )
    assert unknown.status_code == 202
    assert unknown.json()["outcome"] == "ignored"
    assert other_project.status_code == 202
    assert "Incident Desk handles Incident issues in WHK" in other_project.json()["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "jira-issue_created.json",
        "jira-issue_updated-status-changed.json",
        "jira-issue_updated-issue_commented.json",
        "comment_created.json",
        "comment_updated.json",
    ],
)
async def test_the_example_payloads_are_accepted(dev_env: WorkflowEnvironment, name: str) -> None:
    # Their projects are not ours, so each is understood and then deliberately ignored.
    async with connected_intake(settings_for(dev_env)) as http:
        response = await post(http, example(name))
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "ignored"


async def test_the_example_issue_becomes_an_incident_where_its_project_is_configured(
    dev_env: WorkflowEnvironment,
) -> None:
    payload = example("jira-issue_created.json")
    payload["issue"]["key"] = key = f"BBCOM-{uuid.uuid4().int % 10**6}"
    settings = settings_for(dev_env, jira_project="BBCOM", jira_issue_type="Task")
    async with connected_intake(settings) as http:
        response = await post(http, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "outcome": "started",
        "detail": f"incident {key} for client demo is running",
        "issue_key": key,
        "workflow_id": f"incident-{key}",
    }
    handle = dev_env.client.get_workflow_handle(f"incident-{key}")
    description = await handle.describe()
    assert description.search_attributes["JiraKey"] == [key]
    history = await handle.fetch_history()
    start = history.events[0].workflow_execution_started_event_attributes
    started = json.loads(start.input.payloads[0].data)
    assert started["jira_key"] == key
    assert started["report"]["reporter"]["name"] == "Иванов Иван Иванович"
    assert started["report"]["aware_at"].startswith("2018-01-11T10:08:03.317")
    await handle.terminate("test over")


# -- idempotency ---------------------------------------------------------------------------------


async def test_a_redelivery_starts_nothing_new(dev_env: WorkflowEnvironment) -> None:
    key = new_key()
    payload = issue_created(key)
    settings = settings_for(dev_env)
    async with connected_intake(settings) as http:
        first = await post(http, payload, delivery="delivery-1")
        replay = await post(http, payload, delivery="delivery-1")
    # Another instance has not seen the delivery; Temporal's id policy keeps it one incident.
    async with connected_intake(settings) as http:
        elsewhere = await post(http, payload, delivery="delivery-1")
    assert first.json()["outcome"] == "started"
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    assert elsewhere.json()["outcome"] == "started"
    runs = [
        wf.run_id async for wf in dev_env.client.list_workflows(f"WorkflowId = 'incident-{key}'")
    ]
    assert len(set(runs)) <= 1  # visibility may lag; never two runs
    handle = dev_env.client.get_workflow_handle(f"incident-{key}")
    history = await handle.fetch_history()
    assert (
        sum(1 for e in history.events if e.HasField("workflow_execution_started_event_attributes"))
        == 1
    )
    await handle.terminate("test over")


async def test_issues_created_by_incident_desk_start_nothing(dev_env: WorkflowEnvironment) -> None:
    key = new_key()
    ours = issue_created(key, labels=["incident-desk", "client-demo"])
    async with connected_intake(settings_for(dev_env)) as http:
        response = await post(http, ours)
    assert response.status_code == 202
    assert "created by Incident Desk" in response.json()["detail"]
    assert not await exists(dev_env.client, f"incident-{key}")


async def test_changes_by_incident_desks_own_account_are_ignored(
    dev_env: WorkflowEnvironment,
) -> None:
    moved = {
        "timestamp": 1764370000000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"name": "sandbox", "displayName": "Incident Desk"},
        "issue": copy.deepcopy(issue_created(new_key())["issue"]),
        "changelog": {
            "id": "10001",
            "items": [{"field": "status", "fieldtype": "jira", "fromString": "To Do",
                       "toString": "Done", "from": "1", "to": "3"}],
        },
    }  # fmt: skip
    unmapped = copy.deepcopy(moved)
    unmapped["user"] = {"name": "ana"}
    unmapped["changelog"]["items"][0]["toString"] = "Waiting for customer"
    async with connected_intake(settings_for(dev_env)) as http:
        own = await post(http, moved)
        other = await post(http, unmapped)
    assert own.status_code == 202 and own.json()["detail"] == "Incident Desk's own change"
    assert other.status_code == 202
    assert "'Waiting for customer' is not mapped" in other.json()["detail"]


async def test_a_transition_nobody_can_run_is_503_so_jira_retries(
    dev_env: WorkflowEnvironment,
) -> None:
    key = new_key()
    moved = {
        "timestamp": 1764370000000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"displayName": "Ana Cruz"},
        # As app webhooks carry it: no Jira needed to find the workflow.
        "issue": {
            **issue_created(key)["issue"],
            "properties": [{"key": "incident-desk", "value": {"workflowId": f"incident-{key}"}}],
        },
        "changelog": {
            "id": "20001",
            "items": [{"field": "status", "fieldtype": "jira", "fromString": "To Do",
                       "toString": "In Progress", "from": "1", "to": "3"}],
        },
    }  # fmt: skip
    settings = settings_for(dev_env, jira_user="incident-desk-bot")
    app = create_app(settings)
    app.state.jira_webhooks.update_timeout = 0.5
    async with connected_intake(settings, app) as http:
        assert (await post(http, issue_created(key))).json()["outcome"] == "started"
        response = await post(http, moved, delivery="d-1")  # no worker polls the queue
        retried = await post(http, moved, delivery="d-1")
    assert response.status_code == 503
    assert "is a worker running?" in response.json()["detail"]
    assert retried.status_code == 503  # a failed delivery is not remembered as handled
    await dev_env.client.get_workflow_handle(f"incident-{key}").terminate("test over")
