"""Agents edit, comment and log duplicates in Jira; the incident follows, and writes back.

The whole stack as `make run` starts it on free ports: the Temporal dev server, the Jira sandbox
sending its own signed webhooks, the SMTP sandbox, the worker and the intake. People act through
the `jira` library as the sandbox's `agent` (a BPO agent) and `client` (someone at the demo
client, listed in policies/clients/demo.yaml `jira_users`). Custom fields are found by name
through the field API, as Incident Desk finds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jira import JIRA

from incident_desk.settings import Settings
from incident_desk.stack import Stack
from incidents.lifecycle import Validation
from integrations.temporal import connect
from tests.support.stacks import api_headers, running_stack, wait_for
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA

GDPR_PROCESSOR = "eu_gdpr_art33_processor_to_controller"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


@pytest.fixture(scope="module")
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture(scope="module")
def agent(settings: Settings) -> Iterator[JIRA]:
    client = JIRA(server=settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="module")
def field(agent: JIRA) -> dict[str, str]:
    """Field name → this Jira's id, from the field API (never hard-coded)."""
    return {f["name"]: f["id"] for f in agent.fields()}


def incident(settings: Settings, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{settings.intake_base_url}/api/v1/incidents/{key}", headers=api_headers(settings)
    )
    return response.json() if response.status_code == 200 else {"status": response.status_code}


def new_issue(agent: JIRA, field: dict[str, str], summary: str, **custom: Any) -> str:
    issue = agent.create_issue(
        fields={
            "project": {"key": "SEC"},
            "issuetype": {"name": "Incident"},
            "summary": summary,
            "description": "Logged during the call.",
            "labels": ["client-demo", "channel-phone"],
            **{field[name]: value for name, value in custom.items()},
        }
    )
    return str(issue.key)


def running_incident(settings: Settings, key: str) -> dict[str, Any]:
    """The incident of a new issue, validated (triage is not under test here) and paged."""
    view = wait_for(
        lambda: incident(settings, key), lambda v: v.get("state") not in (None, "REPORTED")
    )
    if view["state"] == "TRIAGE":

        async def validate() -> None:
            client = await connect(settings.temporal_target)
            handle = client.get_workflow_handle(f"incident-{key}")
            await handle.execute_update(IncidentWorkflow.validate, Validation(by="team lead"))

        asyncio.run(validate())
    return wait_for(lambda: incident(settings, key), lambda v: v.get("facts") is not None)


def comments(agent: JIRA, key: str) -> list[str]:
    return [str(c.body) for c in agent.comments(key)]


def test_field_edits_move_the_clocks_and_the_issue_shows_them(
    settings: Settings, agent: JIRA, field: dict[str, str]
) -> None:
    key = new_issue(agent, field, "Customer list mailed to the wrong address")
    before = running_incident(settings, key)
    assert before["facts"]["jurisdictions"] == []

    agent.issue(key).update(
        fields={
            field["Severity"]: {"value": "SEV1"},
            field["Affected Jurisdictions"]: ["DE"],
            field["Data Categories"]: [{"value": "personal"}],
            field["Records Affected"]: 40,
        }
    )
    after = wait_for(
        lambda: incident(settings, key),
        lambda v: any(c["id"] == GDPR_PROCESSOR for c in v["obligations"]),
    )
    assert after["severity"] == "SEV1"
    assert after["facts"]["records_affected"] == 40
    armed = {c["id"] for c in after["obligations"] if c["in_force"]}
    assert GDPR_PROCESSOR in armed
    moved = [e for e in after["timeline"] if e["event"] == "facts_updated"]
    assert moved[-1]["by"] == "Sandbox Agent" and "severity SEV3 → SEV1" in moved[-1]["detail"]

    # Write-back: obligation labels, the next deadline in its field, the issue property.
    def issue() -> Any:
        return agent.issue(key)

    shown = wait_for(issue, lambda i: f"obligation-{GDPR_PROCESSOR}" in i.fields.labels, timeout=30)
    assert {f"obligation-{o}" for o in armed} <= set(shown.fields.labels)

    def deadline_shown(i: Any) -> bool:
        wanted = incident(settings, key)["next_deadline"]
        shown = getattr(i.fields, field["Next Deadline"])
        return bool(wanted and shown and shown[:19] == wanted[:19])

    wait_for(issue, deadline_shown, timeout=30)
    prop = agent.issue_property(key, "incident-desk").raw["value"]
    assert prop["workflowId"] == f"incident-{key}"
    assert GDPR_PROCESSOR in prop["obligations"]
    # Incident Desk's own edits (labels, deadline) came back as webhooks and changed nothing.
    assert [e["event"] for e in incident(settings, key)["timeline"]].count("facts_updated") == 1


def test_an_unreadable_value_is_explained_and_changes_nothing(
    settings: Settings, agent: JIRA, field: dict[str, str]
) -> None:
    key = new_issue(agent, field, "Caller reports a vishing attempt")
    before = running_incident(settings, key)
    agent.issue(key).update(fields={field["Severity"]: {"value": "SEV9"}})
    explained = wait_for(
        lambda: comments(agent, key), lambda cs: any("did not take this edit" in c for c in cs)
    )
    text = next(c for c in explained if "did not take this edit" in c)
    assert '"Severity" has "SEV9"' in text and "SEV1" in text
    assert incident(settings, key)["severity"] == before["severity"]


def test_comments_join_the_timeline_and_a_client_comment_acknowledges(
    settings: Settings, agent: JIRA, field: dict[str, str]
) -> None:
    key = new_issue(agent, field, "Phishing mail reported by an employee")
    running_incident(settings, key)
    agent.add_comment(key, "Called the employee back; the link was not clicked.")
    agent.add_comment(key, "[update] Mail purged from all mailboxes.")
    view = wait_for(
        lambda: incident(settings, key),
        lambda v: any(e["event"] == "stakeholder_update" for e in v["timeline"]),
    )
    said = [(e["event"], e["detail"], e["by"]) for e in view["timeline"]]
    assert (
        "comment",
        "Called the employee back; the link was not clicked.",
        "Sandbox Agent",
    ) in said
    assert view["last_stakeholder_update_at"] is not None
    # Both webhooks of each comment (comment_created, issue_updated) counted once.
    assert [e for e, _, _ in said].count("comment") == 1
    # Incident Desk's own comments (paged, clocks armed, ...) are not read back as comments.
    assert all(by != settings.jira_user for _, _, by in said)

    wait_for(
        lambda: incident(settings, key),
        lambda v: (v.get("client_notification") or {}).get("notices"),
        timeout=30,
    )
    client = JIRA(server=settings.jira_base_url, basic_auth=("client", "client"), max_retries=0)
    try:
        client.add_comment(key, "Thanks, we have this and will inform our DPO.")
    finally:
        client.close()
    acked = wait_for(
        lambda: incident(settings, key),
        lambda v: (v["client_notification"] or {}).get("acknowledgement"),
    )
    evidence = acked["client_notification"]["acknowledgement"]
    assert evidence["channel"] == "jira" and evidence["contact"] == "client@sandbox.invalid"
    assert any(e["event"] == "client_comment" for e in acked["timeline"])


def test_a_second_report_from_the_same_caller_is_linked_as_a_duplicate(
    settings: Settings, agent: JIRA, field: dict[str, str]
) -> None:
    first = new_issue(
        agent, field, "Caller's card was charged twice", **{"Reporter Contact": "+63 917 555 0101"}
    )
    running_incident(settings, first)
    second = new_issue(
        agent, field, "Caller rings back about the card", **{"Reporter Contact": "+63-917-5550101"}
    )
    original = wait_for(
        lambda: incident(settings, first), lambda v: second in v.get("duplicates", [])
    )
    assert any(
        e["event"] == "duplicate_report" and second in e["detail"] for e in original["timeline"]
    )
    assert incident(settings, second) == {"status": 404}  # not run as a second incident
    # The original learns of the duplicate first; the link and the comment on the new issue
    # follow from the same webhook delivery, so wait for them rather than race them.
    links = wait_for(
        lambda: agent.issue(second, fields="issuelinks").raw["fields"]["issuelinks"],
        lambda found: bool(found),
    )
    assert [(lk["type"]["name"], lk["outwardIssue"]["key"]) for lk in links] == [
        ("Duplicate", first)
    ]
    wait_for(
        lambda: comments(agent, second),
        lambda found: any("duplicate of issue " + first in c for c in found),
    )

    # Visibility holds keyed digests of the contact, never the contact itself.
    async def report_keys() -> list[str]:
        client = await connect(settings.temporal_target)
        described = await client.get_workflow_handle(f"incident-{first}").describe()
        return list(described.typed_search_attributes.get(SA.REPORT_KEYS.key) or [])

    keys = asyncio.run(report_keys())
    assert keys and all(k.startswith(("rc:", "xr:")) for k in keys)
    assert not any("917" in k or "555" in k for k in keys)
