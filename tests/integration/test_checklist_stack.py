"""The SOP checklist end to end: an agent works it in Jira, and containment waits for it.

The whole stack on free ports (dev server, Jira sandbox with its signed webhooks, pager and SMTP
sandboxes, worker, intake). The agent drives Jira through the `jira` library: setting the
Incident Type classifies the incident and the checklist appears as a comment; a move to
"Contained" before the required items are ticked is refused with a comment naming them; ticks
written as `done <id>: <answer>` comments lift the gate. The API and the CLI tick too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from jira import JIRA
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.stack import Stack
from tests.integration.test_jira_lifecycle import commented, state
from tests.integration.test_jira_webhooks import incident, new_issue
from tests.support.stacks import api_headers, running_stack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


@pytest.fixture(scope="module")
def agent(stack: Stack) -> Iterator[JIRA]:
    client = JIRA(server=stack.settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    yield client
    client.close()


def checklist(stack: Stack, key: str, predicate) -> dict:
    return wait_for(
        lambda: incident(stack.settings, key),
        lambda v: v.get("checklist") is not None and predicate(v["checklist"]),
    )


def test_agent_ticks_in_jira_and_containment_gate_lifts(stack: Stack, agent: JIRA) -> None:
    settings = stack.settings
    key = new_issue(agent, "Caller got a fake 'password expired' mail")
    state(stack, key, "TRIAGE")
    agent.transition_issue(key, "Validated", comment="Real: the link goes to a lookalike domain")
    state(stack, key, "ESCALATED")
    # A Jira-born report has no type yet; the agent classifies it in the issue's field.
    field = {f["name"]: f["id"] for f in agent.fields()}
    agent.issue(key).update(fields={field["Incident Type"]: {"value": "phishing"}})
    [posted] = commented(agent, key, "SOP checklist: Phishing email (phishing)")
    assert "[ ] credentials_entered:" in posted and "done <id>" in posted
    checklist(stack, key, lambda c: c["incident_type"] == "phishing")

    agent.transition_issue(key, "In Progress")
    wait_for(lambda: incident(settings, key), lambda v: v.get("acknowledged_by"))
    agent.transition_issue(key, "Contained", comment="Mailbox purged")
    [refusal] = commented(agent, key, "did not record containment")
    assert "required items still open before contain" in refusal
    assert "credentials_entered" in refusal and "message_headers" in refusal
    assert incident(settings, key)["state"] != "CONTAINED"

    # A typo is explained in Jira and ticks nothing.
    agent.add_comment(key, "done link_clikced: yes")
    [typo] = commented(agent, key, "Checklist not updated")
    assert "'link_clikced' is not on the phishing checklist" in typo

    agent.add_comment(
        key,
        "done link_clicked: yes\ndone credentials_entered: yes, her email password\n"
        "done sender_address: it-desk@examp1e.test",
    )
    view = checklist(stack, key, lambda c: c["items"][1]["done_at"] is not None)
    ticked = {i["id"]: i for i in view["checklist"]["items"]}
    assert ticked["credentials_entered"]["done_by"] == "Sandbox Agent"
    assert ticked["credentials_entered"]["channel"] == "jira"
    # The answer is a fact: credentials are now among the data categories, severity at least SEV2.
    view = wait_for(
        lambda: incident(settings, key),
        lambda v: "credentials" in ((v.get("facts") or {}).get("data_categories") or []),
    )
    assert view["severity"] in ("SEV1", "SEV2")

    # The rest from the API and the CLI.
    response = httpx.post(
        f"{settings.intake_base_url}/api/v1/incidents/{key}/checklist/keep_message",
        json={"by": "ana.agent"},
        headers=api_headers(settings),
    )
    assert response.status_code == 200, response.text
    bad = httpx.post(
        f"{settings.intake_base_url}/api/v1/incidents/{key}/checklist/Not-An-Id",
        json={"by": "ana.agent"},
        headers=api_headers(settings),
    )
    assert bad.status_code == 422
    refused = httpx.post(
        f"{settings.intake_base_url}/api/v1/incidents/{key}/checklist/no_forwarding",
        json={"by": "ana.agent"},
        headers=api_headers(settings),
    )
    assert refused.status_code == 409 and "never to do" in refused.text
    token = api_headers(settings).get("Authorization", "").removeprefix("Bearer ")
    runner = CliRunner()
    args = ["checklist", "tick", key, "message_headers", "--by", "ana.agent"]
    args += ["--url", settings.intake_base_url] + (["--token", token] if token else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "required_open: none" in result.output
    commented(agent, key, "SOP checklist complete")

    # The refused move left the issue in "Contained"; the agent moves it again.
    agent.transition_issue(key, "In Progress")
    agent.transition_issue(key, "Contained", comment="Mailbox purged")
    view = state(stack, key, "CONTAINED")
    assert view["containment_note"] == "Mailbox purged"
