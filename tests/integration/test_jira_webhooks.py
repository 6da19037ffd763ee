"""Agents work in Jira: the whole stack, with the Jira sandbox sending its own signed webhooks.

Real parts only, as `make run` starts them on free ports: the Temporal dev server, the Jira and
pager stand-ins, the worker and the intake. An agent (the sandbox's `agent` user) drives Jira
through the `jira` library; nothing posts to the intake's webhook route except the sandbox,
apart from the replays that check idempotency.
"""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jira import JIRA

from incident_desk.settings import Settings
from incident_desk.stack import JIRA_WEBHOOK_SECRET_FILE, Stack
from intake.app import create_app
from integrations.temporal import connect
from tests.support.servers import run_app
from tests.support.stacks import api_headers, running_stack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


@pytest.fixture(scope="module")
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture(scope="module")
def agent(stack: Stack, settings: Settings) -> Iterator[JIRA]:
    client = JIRA(server=settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    yield client
    client.close()


def incident(settings: Settings, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{settings.intake_base_url}/api/v1/incidents/{key}", headers=api_headers(settings)
    )
    return response.json() if response.status_code == 200 else {"status": response.status_code}


def pages(settings: Settings, dedup_key: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{settings.pager_sandbox_url}/sandbox/events", params={"dedup_key": dedup_key}
    )
    response.raise_for_status()
    return response.json()


def deliveries(settings: Settings, key: str, event: str | None = None) -> list[dict[str, Any]]:
    params = {"issue": key, **({"event": event} if event else {})}
    response = httpx.get(f"{settings.jira_base_url}/sandbox/webhooks/deliveries", params=params)
    response.raise_for_status()
    return response.json()


def comments(agent: JIRA, key: str) -> list[str]:
    return [str(c.body) for c in agent.comments(key)]


def new_issue(agent: JIRA, summary: str, *labels: str) -> str:
    issue = agent.create_issue(
        fields={
            "project": {"key": "SEC"},
            "issuetype": {"name": "Incident"},
            "summary": summary,
            "description": "Logged during the call by agent 4410.",
            "labels": ["client-demo", "channel-phone", *labels],
        }
    )
    return str(issue.key)


def replay(settings: Settings, delivery: dict[str, Any], url: str | None = None) -> httpx.Response:
    """POST a recorded delivery again, byte for byte: same identifier, same signature."""
    headers = {k: v for k, v in delivery["headers"].items() if k.lower() != "content-length"}
    return httpx.post(
        url or f"{settings.intake_base_url}/webhooks/jira",
        content=delivery["body"].encode("utf-8"),
        headers={**headers, "X-Atlassian-Webhook-Retry": "1"},
    )


async def workflow_status(settings: Settings, workflow_id: str, wait: bool = False) -> str:
    client = await connect(settings.temporal_target)
    handle = client.get_workflow_handle(workflow_id)
    if wait:
        await asyncio.wait_for(handle.result(), 30)
    return (await handle.describe()).status.name


def test_the_default_stack_is_signed_with_a_kept_secret(stack: Stack, settings: Settings) -> None:
    path = settings.state_dir / JIRA_WEBHOOK_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack.settings.jira_webhook_secret is not None
    assert stack.settings.jira_webhook_secret.get_secret_value() == path.read_text().strip()
    unsigned = httpx.post(
        f"{settings.intake_base_url}/webhooks/jira", json={"webhookEvent": "jira:issue_created"}
    )
    assert unsigned.status_code == 401
    part = next(p for p in stack.parts if p.name == "jira-sandbox")
    assert path.read_text().strip() not in " ".join(part.argv)  # kept off the command line


def test_an_agent_runs_an_incident_from_jira(stack: Stack, settings: Settings, agent: JIRA) -> None:
    created_at = datetime.now(UTC)
    key = new_issue(agent, "Caller received an SMS asking for her card PIN")
    workflow_id = f"incident-{key}"

    wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "TRIAGE")
    agent.transition_issue(key, "Validated")
    view = wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "ESCALATED")
    assert view["workflow_id"] == workflow_id
    assert view["jira_key"] == key and view["client"] == "demo"
    trigger = wait_for(lambda: pages(settings, workflow_id), lambda e: len(e) >= 1)[0]
    latency = datetime.fromisoformat(trigger["received_at"]) - created_at
    print(f"\nJira issue created to page at the pager sandbox: {latency.total_seconds():.2f} s")
    assert trigger["payload"]["event_action"] == "trigger"
    first = deliveries(settings, key, "jira:issue_created")[0]
    handled = datetime.fromisoformat(first["attempts"][0]["at"])
    sent_at = datetime.fromisoformat(first["created"])
    started_ms = (handled - sent_at).total_seconds() * 1000
    print(f"Jira webhook sent to workflow started (intake answered): {started_ms:.0f} ms")
    assert any("On-call has been paged" in c for c in comments(agent, key))

    moved_at = datetime.now(UTC)
    agent.transition_issue(key, "In Progress")
    view = wait_for(lambda: incident(settings, key), lambda v: v.get("acknowledged_by") is not None)
    ack_latency = datetime.fromisoformat(view["acknowledged_at"]) - moved_at
    print(f"Jira transition to acknowledged in the workflow: {ack_latency.total_seconds():.2f} s")
    assert view["acknowledged_by"] == "Sandbox Agent"
    ack = next(e for e in view["timeline"] if e["event"] == "acknowledged")
    assert ack["by"] == "Sandbox Agent" and "in Jira" in ack["detail"]

    # The client notice runs beside the lifecycle; once it is out the timeline stands still.
    view = wait_for(
        lambda: incident(settings, key),
        lambda v: any(e["event"] == "obligation_stage_done" for e in v["timeline"]),
    )
    # The same delivery again, to this instance and to a second one that never saw it.
    moved = next(
        d
        for d in deliveries(settings, key, "jira:issue_updated")
        if '"toString":"In Progress"' in d["body"]
    )
    assert replay(settings, moved).json()["outcome"] == "duplicate"
    second = settings.model_copy(update={"jira_webhook_secret": stack.settings.jira_webhook_secret})
    with run_app(create_app(second)) as other_intake:
        wait_for(
            lambda: httpx.get(f"{other_intake}/healthz").json()["dependencies"]["temporal"],
            lambda dep: dep["ready"],
        )
        elsewhere = replay(settings, moved, f"{other_intake}/webhooks/jira")
        # Temporal answered with the first outcome of that update id; it did not run it again.
        assert elsewhere.json()["outcome"] == "acknowledged", elsewhere.text
        created = deliveries(settings, key, "jira:issue_created")[0]
        restarted = replay(settings, created, f"{other_intake}/webhooks/jira")
        assert restarted.json()["outcome"] == "started"  # i.e. running; USE_EXISTING
    time.sleep(0.5)  # anything a replay set off would show by now
    after = incident(settings, key)
    assert after["timeline"] == view["timeline"]
    assert sum("Acknowledged" in c for c in comments(agent, key)) == 1

    agent.transition_issue(key, "Resolved")
    final = wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "REVIEW")
    assert final["resolved_by"] == "Sandbox Agent"
    actions = [e["payload"]["event_action"] for e in pages(settings, workflow_id)]
    assert actions[0] == "trigger" and actions[-1] == "resolve" and "acknowledge" in actions
    assert agent.issue(key).fields.status.name == "Resolved"  # the review follows
    # Incident Desk's own comments came back as webhooks and were ignored (202), not looped.
    sent = deliveries(settings, key)
    assert all(d["state"] == "delivered" for d in sent)
    own = [d for d in sent if d["event"] == "comment_created" and "Sandbox Agent" not in d["body"]]
    assert own and all(d["attempts"][-1]["status"] == 202 for d in own)


def test_resolving_before_acknowledging_is_explained_in_jira(
    stack: Stack, settings: Settings, agent: JIRA
) -> None:
    key = new_issue(agent, "Employee lost a badge")
    wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "TRIAGE")
    agent.transition_issue(key, "Validated")
    wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "ESCALATED")
    agent.transition_issue(key, "Resolved")

    explained = wait_for(
        lambda: [c for c in comments(agent, key) if "did not resolve" in c], lambda c: c
    )
    assert len(explained) == 1
    assert "acknowledge it first" in explained[0]
    assert 'Move the ticket to "In Progress"' in explained[0]
    view = incident(settings, key)
    assert view["state"] == "ESCALATED" and view["resolved_by"] is None
    assert asyncio.run(workflow_status(settings, f"incident-{key}")) == "RUNNING"

    # Redelivered elsewhere, the refusal is not explained twice.
    done = next(
        d
        for d in deliveries(settings, key, "jira:issue_updated")
        if '"toString":"Resolved"' in d["body"]
    )
    second = settings.model_copy(update={"jira_webhook_secret": stack.settings.jira_webhook_secret})
    with run_app(create_app(second)) as other_intake:
        wait_for(
            lambda: httpx.get(f"{other_intake}/healthz").json()["dependencies"]["temporal"],
            lambda dep: dep["ready"],
        )
        again = replay(settings, done, f"{other_intake}/webhooks/jira")
    assert again.json()["outcome"] == "refused"
    assert len([c for c in comments(agent, key) if "did not resolve" in c]) == 1

    # Following the advice works.
    agent.transition_issue(key, "In Progress")
    wait_for(lambda: incident(settings, key), lambda v: v.get("acknowledged_by"))
    agent.transition_issue(key, "Resolved")
    wait_for(lambda: incident(settings, key), lambda v: v.get("state") == "REVIEW")


def test_issues_opened_by_incident_desk_do_not_start_a_second_workflow(
    stack: Stack, settings: Settings
) -> None:
    api = settings.intake_base_url
    accepted = httpx.post(
        f"{api}/api/v1/incidents",
        headers=api_headers(settings),
        json={
            "client": "demo",
            "summary": "SIEM flagged mass download",
            "description": "DLP alert on a supervisor account.",
            "channel": "monitoring",
            "reporter": {"name": "SIEM", "contact": "siem@bpo.example"},
            "external_ref": "DLP-77",
            "validation": {"by": "soc.analyst", "note": "DLP rule confirmed"},
        },
    )
    assert accepted.status_code == 202, accepted.text
    view = wait_for(lambda: incident(settings, "demo-DLP-77"), lambda v: v.get("jira_key"))
    key = view["jira_key"]
    created = wait_for(
        lambda: deliveries(settings, key, "jira:issue_created"),
        lambda d: d and d[0]["state"] == "delivered",
    )
    assert created[0]["attempts"][-1]["status"] == 202  # ignored: Incident Desk made it
    assert replay(settings, created[0]).json()["outcome"] == "duplicate"
    assert incident(settings, key) == {"status": 404}  # no `incident-<KEY>` workflow

    # Agents can still move it: the issue property names the API-born workflow.
    agent = JIRA(server=settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    agent.transition_issue(key, "In Progress")
    acked = wait_for(lambda: incident(settings, "demo-DLP-77"), lambda v: v.get("acknowledged_by"))
    assert acked["acknowledged_by"] == "Sandbox Agent"

    # Resolved and closed through the API, the workflow moves the ticket to Done itself; that
    # change comes back as a webhook from Incident Desk's own account and is ignored.
    resolved = httpx.post(
        f"{api}/api/v1/incidents/demo-DLP-77/resolve",
        json={"by": "ana"},
        headers=api_headers(settings),
    )
    assert resolved.status_code == 200, resolved.text
    closed = httpx.post(
        f"{api}/api/v1/incidents/demo-DLP-77/close",
        json={
            "by": "ana",
            "review": {"root_cause": "Supervisor exported a report to a personal drive"},
            "waive_open_stages": "not under test here",
        },
        headers=api_headers(settings),
    )
    assert closed.status_code == 200, closed.text
    assert asyncio.run(workflow_status(settings, "incident-demo-DLP-77", wait=True)) == "COMPLETED"
    to_done = wait_for(
        lambda: [
            d
            for d in deliveries(settings, key, "jira:issue_updated")
            if '"toString":"Done"' in d["body"] and d["state"] != "pending"
        ],
        lambda found: found,
    )
    assert [d["attempts"][-1]["status"] for d in to_done] == [202]
    assert not [c for c in comments(agent, key) if "did not" in c]
    agent.close()
