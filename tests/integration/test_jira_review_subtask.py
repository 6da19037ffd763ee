"""The post-incident review as a Jira sub-task, end to end on the running stack.

Dev server, Jira and pager sandboxes, worker and intake on free ports; the agent is the
sandbox's `agent` user working through the `jira` library. Resolving the incident opens a review
sub-task under its issue; moving it to Done without answers is explained on the sub-task and
changes nothing; with the answers written (description and a comment) the same move closes the
incident with them, and the incident's own issue goes to Done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from jira import JIRA

from incident_desk.stack import Stack
from tests.integration.test_jira_webhooks import comments, incident, new_issue, workflow_status
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


def test_review_subtask_done_with_answers_closes_the_incident(stack: Stack, agent: JIRA) -> None:
    settings = stack.settings
    key = new_issue(agent, "Caller says a stranger knew her account number")
    workflow_id = f"incident-{key}"
    state(stack, key, "TRIAGE")
    agent.transition_issue(key, "Validated", comment="Confirmed with the caller")
    state(stack, key, "ESCALATED")
    agent.transition_issue(key, "In Progress")
    # The client notice discharges the contract's stage; no reporting stage is left open.
    wait_for(
        lambda: incident(settings, key),
        lambda v: (
            v.get("acknowledged_by")
            and any(e["event"] == "obligation_stage_done" for e in v["timeline"])
        ),
    )
    agent.transition_issue(key, "Resolved")
    state(stack, key, "REVIEW")

    [ref] = wait_for(lambda: agent.issue(key).fields.subtasks, lambda found: found)
    sub = agent.issue(ref.key)
    assert sub.fields.issuetype.name == "Sub-task" and sub.fields.parent.key == key
    assert sub.fields.summary == f"Post-incident review — {key}"
    assert "h3. Root cause" in sub.fields.description
    assert "incident-desk-review" in sub.fields.labels
    [ask] = commented(agent, key, "Post-incident review, due")
    assert f"review sub-task {sub.key}" in ask

    # Done without answers: refused on the sub-task, naming each missing answer.
    agent.transition_issue(sub.key, "Done")
    [refusal] = commented(agent, sub.key, "did not close the incident")
    for heading in ("Root cause", "What went well", "What to improve", "Training needs"):
        assert heading in refusal
    assert incident(settings, key)["state"] == "REVIEW"
    assert asyncio.run(workflow_status(settings, workflow_id)) == "RUNNING"

    # Answers in the description and in a comment; the comment's answer wins where both are.
    agent.transition_issue(sub.key, "In Progress")
    filled = (
        sub.fields.description.replace("(What let this happen?)", "Account number in a leaked CSV")
        .replace("(In detecting, reporting and handling it.)", "Agent flagged it at once")
        .replace("(Process, tooling, client communication.)", "Ask a second factor")
    )
    sub.update(fields={"description": filled})
    agent.add_comment(sub.key, "h3. Training needs\nVerification refresher for team 4 by Friday")
    agent.transition_issue(sub.key, "Done")

    assert asyncio.run(workflow_status(settings, workflow_id, wait=True)) == "COMPLETED"
    final = incident(settings, key)
    assert final["state"] == "CLOSED" and final["closed_by"] == "Sandbox Agent"
    assert final["review"] == {
        "root_cause": "Account number in a leaked CSV",
        "went_well": "Agent flagged it at once",
        "to_improve": "Ask a second factor",
        "training_needs": "Verification refresher for team 4 by Friday",
    }
    assert wait_for(lambda: agent.issue(key).fields.status.name, lambda s: s == "Done")
    assert agent.issue(sub.key).fields.status.name == "Done"
