"""The write-back and duplicate-link requests Incident Desk sends, against Atlassian's contracts.

The real gateway (pycontribs/jira underneath) writes an incident's labels, next-deadline field and
issue property, and links a duplicate, against the Jira stand-in; every recorded exchange is then
validated against the Jira Cloud v2 OpenAPI file, and the routes Data Center also has against the
Data Center 10.3 file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from integrations.jira import JiraConfig, JiraGateway
from integrations.jira_writeback import TicketState, link_duplicate, sync_ticket
from sandbox.jira import create_app
from tests.contract.openapi_contract import (
    JIRA_CLOUD_V2,
    JIRA_DC_10_3,
    ExchangeRecorder,
    assert_conform,
)
from tests.support.servers import run_app


@pytest.fixture(scope="module")
def jira(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[JiraGateway, ExchangeRecorder]]:
    db = tmp_path_factory.mktemp("jira-writeback") / "jira.sqlite3"
    recorder = ExchangeRecorder(
        create_app(db, user="sandbox", token="sandbox"), include=lambda p: p.startswith("/rest/")
    )
    with run_app(recorder) as url:
        yield JiraGateway(JiraConfig(url=url, user="sandbox", token=SecretStr("sandbox"))), recorder


def new_issue(gateway: JiraGateway, summary: str) -> str:
    return gateway.create_incident_issue(
        workflow_id=f"incident-{summary}", summary=summary, description="d", labels=[]
    )


def test_write_back_requests_conform_and_repeat_as_no_ops(
    jira: tuple[JiraGateway, ExchangeRecorder],
) -> None:
    gateway, recorder = jira
    key = new_issue(gateway, "wb")
    state = TicketState(
        workflow_id="incident-wb",
        state="ESCALATED",
        obligations=["eu_gdpr_art33_authority", "contract_demo_processor_to_controller"],
        next_deadline=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
    )
    recorder.clear()
    changed = sync_ticket(gateway, key, state, "Next Deadline")
    assert any("labels" in c for c in changed) and any("Next Deadline" in c for c in changed)
    assert sync_ticket(gateway, key, state, "Next Deadline") == []  # idempotent under retry
    fewer = state.model_copy(update={"obligations": ["eu_gdpr_art33_authority"], "state": "CLOSED"})
    assert sync_ticket(gateway, key, fewer, "Next Deadline")
    exchanges = recorder.take()
    routes = {(e.method, e.path.rsplit("/", 1)[-1]) for e in exchanges}
    assert {("GET", "field"), ("PUT", "incident-desk")} <= routes
    edits = [e for e in exchanges if e.method == "PUT" and "/properties/" not in e.path]
    assert len(edits) == 2  # the first sync and the change; the repeat sent none
    assert_conform(JIRA_CLOUD_V2, exchanges)
    assert_conform(
        JIRA_DC_10_3, [e for e in exchanges if JIRA_DC_10_3.has_operation(e.method, e.path)]
    )

    issue = gateway.call("read", lambda client: client.issue(key))
    assert [label for label in issue.fields.labels if label.startswith("obligation-")] == [
        "obligation-eu_gdpr_art33_authority"
    ]
    prop = gateway.call("read", lambda client: client.issue_property(key, "incident-desk"))
    assert prop.raw["value"]["state"] == "CLOSED"


def test_duplicate_link_conforms_and_is_made_once(
    jira: tuple[JiraGateway, ExchangeRecorder],
) -> None:
    gateway, recorder = jira
    original, duplicate = new_issue(gateway, "orig"), new_issue(gateway, "dup")
    recorder.clear()
    assert link_duplicate(gateway, duplicate, original) is True
    assert link_duplicate(gateway, duplicate, original) is False
    exchanges = recorder.take()
    assert ("POST", "/rest/api/2/issueLink") in {(e.method, e.path) for e in exchanges}
    assert_conform(JIRA_CLOUD_V2, exchanges)
    links = gateway.call("read", lambda c: c.issue(original, fields="issuelinks"))
    (link,) = links.raw["fields"]["issuelinks"]
    assert link["type"]["name"] == "Duplicate" and link["inwardIssue"]["key"] == duplicate
