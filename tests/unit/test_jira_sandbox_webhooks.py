"""The Jira stand-in sends webhooks the way Jira Cloud does, to a real receiver over HTTP.

Driven with the `jira` library as the sandbox's human agent; a small recording app on its own
port plays the receiver and can fail or stall on cue.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jira
import pytest
from fastapi import FastAPI, Request, Response

from sandbox.jira import create_app
from tests.support.servers import run_app

SECRET = "sandbox-webhook-secret"


@dataclass
class Receiver:
    """Records every POST; answers `fail_next` of them with 503 and sleeps `delay` first."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            await asyncio.sleep(self.delay)
            body = await request.body()
            with self.lock:
                self.received.append((dict(request.headers), body))
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return Response(status_code=503)
            return Response(status_code=204)

        return app

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"{count} deliveries expected, got {len(self.received)}")

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


@dataclass
class Setup:
    url: str
    receiver: Receiver
    agent: jira.JIRA


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    receiver = Receiver()
    with run_app(receiver.app()) as hook_url:
        app = create_app(
            tmp_path_factory.mktemp("jira-webhooks") / "jira.db",
            webhook_urls=[f"{hook_url}/hook"],
            webhook_secret=SECRET,
            webhook_backoff_seconds=0.02,
        )
        with run_app(app) as url:
            agent = jira.JIRA(server=url, basic_auth=("agent", "agent"), max_retries=0)
            yield Setup(url, receiver, agent)
            agent.close()


@pytest.fixture
def sb(setup: Setup) -> Setup:
    setup.receiver.clear()
    setup.receiver.fail_next = 0
    setup.receiver.delay = 0.0
    httpx.delete(f"{setup.url}/sandbox/webhooks/deliveries")
    return setup


def new_issue(client: jira.JIRA, **extra: Any) -> Any:
    return client.create_issue(
        fields={
            "project": {"key": "SEC"},
            "issuetype": {"name": "Incident"},
            "summary": "Caller reports a phishing SMS",
            "description": "Asked for her card PIN.",
            "labels": ["client-demo", "channel-phone"],
            **extra,
        }
    )


def test_issue_created_is_signed_over_the_exact_bytes_with_jiras_headers(sb: Setup) -> None:
    issue = new_issue(sb.agent)
    headers, body = sb.receiver.wait_for(1)[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature"] == expected
    assert headers["x-atlassian-webhook-retry"] == "0"
    assert headers["x-atlassian-webhook-flow"] == "Primary"
    assert headers["x-atlassian-webhook-identifier"]
    event = json.loads(body)
    assert event["webhookEvent"] == "jira:issue_created"
    assert event["issue_event_type_name"] == "issue_created"
    assert isinstance(event["timestamp"], int)
    assert event["user"]["displayName"] == "Sandbox Agent"
    assert event["issue"]["key"] == issue.key
    fields = event["issue"]["fields"]
    assert fields["labels"] == ["client-demo", "channel-phone"]
    assert fields["reporter"]["displayName"] == "Sandbox Agent"
    assert fields["issuetype"]["name"] == "Incident" and fields["project"]["key"] == "SEC"


def test_transitions_edits_and_comments_send_their_events(sb: Setup) -> None:
    issue = new_issue(sb.agent)
    sb.agent.transition_issue(issue.key, "In Progress")
    sb.agent.transition_issue(issue.key, "Done")
    issue.update(summary="Caller reports a smishing SMS")
    sb.agent.add_comment(issue.key, "Called the customer back.")
    events = [e for e in (json.loads(b) for _, b in sb.receiver.wait_for(6))]
    kinds = [(e["webhookEvent"], e.get("issue_event_type_name")) for e in events]
    assert kinds == [
        ("jira:issue_created", "issue_created"),
        ("jira:issue_updated", "issue_generic"),
        ("jira:issue_updated", "issue_generic"),
        ("jira:issue_updated", "issue_updated"),
        ("jira:issue_updated", "issue_commented"),
        ("comment_created", None),
    ]
    to_progress, to_done = events[1]["changelog"], events[2]["changelog"]
    assert to_progress["items"] == [
        {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10000",
         "fromString": "To Do", "to": "10001", "toString": "In Progress"},
    ]  # fmt: skip
    assert [i["field"] for i in to_done["items"]] == ["status", "resolution"]
    assert int(to_done["id"]) > int(to_progress["id"])
    assert events[2]["issue"]["fields"]["status"]["name"] == "Done"
    summary = events[3]["changelog"]["items"][0]
    assert (summary["field"], summary["toString"]) == ("summary", "Caller reports a smishing SMS")
    assert events[4]["comment"]["body"] == "Called the customer back."
    assert events[5]["comment"]["author"]["displayName"] == "Sandbox Agent"
    assert events[5]["issue"]["key"] == issue.key


def test_failed_deliveries_are_retried_with_the_same_identifier(sb: Setup) -> None:
    sb.receiver.fail_next = 2
    issue = new_issue(sb.agent)
    received = sb.receiver.wait_for(3)
    assert [h["x-atlassian-webhook-retry"] for h, _ in received] == ["0", "1", "2"]
    assert len({h["x-atlassian-webhook-identifier"] for h, _ in received}) == 1
    assert len({body for _, body in received}) == 1
    deliveries = wait_delivered(sb, issue.key)
    assert [a["status"] for a in deliveries[0]["attempts"]] == [503, 503, 204]
    assert deliveries[0]["body"].encode() == received[0][1]


def wait_delivered(sb: Setup, key: str) -> list[dict[str, Any]]:
    for _ in range(200):
        found = httpx.get(f"{sb.url}/sandbox/webhooks/deliveries", params={"issue": key}).json()
        if found and all(d["state"] != "pending" for d in found):
            return found
        time.sleep(0.01)
    raise AssertionError("deliveries still pending")


def test_the_rest_call_does_not_wait_for_the_receiver(sb: Setup) -> None:
    sb.receiver.delay = 1.0
    started = time.monotonic()
    new_issue(sb.agent)
    assert time.monotonic() - started < 0.8
    sb.receiver.wait_for(1, timeout=5)


def test_webhooks_can_be_registered_over_http(sb: Setup, tmp_path: Path) -> None:
    other = Receiver()
    with run_app(other.app()) as hook_url:
        created = httpx.post(
            f"{sb.url}/sandbox/webhooks",
            json={"url": f"{hook_url}/hook", "events": ["comment_created"]},
        )
        assert created.status_code == 201, created.text
        webhook = created.json()
        assert webhook["signed"] is False and webhook["events"] == ["comment_created"]
        issue = new_issue(sb.agent)
        sb.agent.add_comment(issue.key, "noted")
        headers, body = other.wait_for(1)[0]
        assert json.loads(body)["webhookEvent"] == "comment_created"
        assert "x-hub-signature" not in headers
        assert httpx.delete(f"{sb.url}/sandbox/webhooks/{webhook['id']}").status_code == 204
    listed = httpx.get(f"{sb.url}/sandbox/webhooks").json()
    assert [w["signed"] for w in listed] == [True]
    assert "secret" not in listed[0]
    bad = httpx.post(f"{sb.url}/sandbox/webhooks", json={"url": "x", "events": ["nope"]})
    assert bad.status_code == 400
    assert "url" in str(bad.json()) and "unknown event(s) nope" in str(bad.json())
