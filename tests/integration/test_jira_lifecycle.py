"""An agent takes an incident from report to closed purely by moving its issue in Jira.

The whole stack on free ports (dev server, Jira and pager sandboxes, worker, intake); the agent
is the sandbox's `agent` user driving Jira through the `jira` library, and every step reaches
the workflow as the sandbox's own signed webhook. Each lifecycle event must show up as a comment
on the issue: Jira is where agents read what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from jira import JIRA

from incident_desk.stack import Stack
from tests.integration.test_jira_webhooks import (
    comments,
    incident,
    new_issue,
    pages,
    workflow_status,
)
from tests.support.stacks import running_stack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


@pytest.fixture(scope="module")
def agent(stack: Stack) -> Iterator[JIRA]:
    client = JIRA(server=stack.settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    yield client
    client.close()


def commented(agent: JIRA, key: str, text: str) -> list[str]:
    return wait_for(lambda: [c for c in comments(agent, key) if text in c], lambda found: found)


def state(stack: Stack, key: str, wanted: str) -> dict:
    return wait_for(lambda: incident(stack.settings, key), lambda v: v.get("state") == wanted)


def test_validate_contain_resolve_review_close_in_jira(stack: Stack, agent: JIRA) -> None:
    settings = stack.settings
    key = new_issue(agent, "Caller says a stranger knew her account number")
    workflow_id = f"incident-{key}"
    state(stack, key, "TRIAGE")
    commented(agent, key, "New report awaiting triage")
    assert pages(settings, workflow_id) == []  # nobody is paged for an unvalidated report

    # Too early: the refusal is explained on the issue and changes nothing.
    agent.transition_issue(key, "Resolved")
    [refusal] = commented(agent, key, "did not resolve the incident")
    assert "not been validated" in refusal and 'Move the ticket to "Validated"' in refusal
    assert incident(settings, key)["state"] == "TRIAGE"

    agent.transition_issue(key, "Validated", comment="Confirmed with the caller: real contact")
    view = state(stack, key, "ESCALATED")
    assert view["validated_by"] == "Sandbox Agent"
    assert "real contact" in view["validation_note"]
    commented(agent, key, "Validated by Sandbox Agent")
    commented(agent, key, "On-call has been paged")

    agent.transition_issue(key, "Contained")
    [early] = commented(agent, key, "did not record containment")
    assert 'Move the ticket to "In Progress"' in early

    agent.transition_issue(key, "In Progress")
    wait_for(lambda: incident(settings, key), lambda v: v.get("acknowledged_by"))
    commented(agent, key, "Acknowledged by Sandbox Agent")
    agent.transition_issue(key, "Contained", comment="Account frozen, caller re-verified")
    view = state(stack, key, "CONTAINED")
    assert view["containment_note"] == "Account frozen, caller re-verified"
    commented(agent, key, "Contained by Sandbox Agent: Account frozen")

    # The client notice runs beside the lifecycle; it discharges the contract's stage.
    wait_for(
        lambda: incident(settings, key),
        lambda v: any(e["event"] == "obligation_stage_done" for e in v["timeline"]),
    )
    agent.transition_issue(key, "Resolved")
    view = state(stack, key, "REVIEW")
    assert view["review_due_at"] is not None
    commented(agent, key, "Resolved by Sandbox Agent")
    [ask] = commented(agent, key, "Post-incident review, due")
    assert "Root cause" in ask and "Training needs" in ask
    assert asyncio.run(workflow_status(settings, workflow_id)) == "RUNNING"

    agent.transition_issue(key, "Done", comment="Review: the caller's details came from a leak")
    assert asyncio.run(workflow_status(settings, workflow_id, wait=True)) == "COMPLETED"
    final = incident(settings, key)
    assert final["state"] == "CLOSED" and final["closed_by"] == "Sandbox Agent"
    assert final["review_summary"] == "Review: the caller's details came from a leak"
    commented(agent, key, "Post-incident review done; closed by Sandbox Agent")
    actions = [e["payload"]["event_action"] for e in pages(settings, workflow_id)]
    assert actions[0] == "trigger" and actions[-1] == "resolve"
    assert agent.issue(key).fields.status.name == "Done"


def test_false_alarm_in_jira_closes_incident_and_issue(stack: Stack, agent: JIRA) -> None:
    settings = stack.settings
    key = new_issue(agent, "Caller reports a suspicious email")
    workflow_id = f"incident-{key}"
    state(stack, key, "TRIAGE")

    # Without a reason the move is refused: the reason is the only record of the decision.
    agent.transition_issue(key, "False Alarm")
    [refusal] = commented(agent, key, "did not mark the report a false alarm")
    assert "needs its reason" in refusal
    agent.transition_issue(key, "To Do")
    agent.transition_issue(key, "False Alarm", comment="It was the bank's real newsletter")

    assert asyncio.run(workflow_status(settings, workflow_id, wait=True)) == "COMPLETED"
    final = incident(settings, key)
    assert final["state"] == "CLOSED" and final["false_alarm_by"] == "Sandbox Agent"
    assert final["false_alarm_reason"] == "It was the bank's real newsletter"
    assert final["obligations"] == [] and pages(settings, workflow_id) == []
    commented(agent, key, "Closed as a false alarm by Sandbox Agent")
    assert agent.issue(key).fields.status.name == "Done"
