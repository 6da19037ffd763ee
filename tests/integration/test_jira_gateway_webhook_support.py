"""What the webhook receiver asks of JiraGateway, against the stand-in and Jira's contract.

Every request and answer crossing the socket is validated against the Jira Cloud v2 OpenAPI
file, as in tests/contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jira import JIRA
from pydantic import SecretStr

from integrations.jira import JiraConfig, JiraGateway
from sandbox.jira import create_app
from tests.contract.openapi_contract import JIRA_CLOUD_V2, ExchangeRecorder, assert_conform
from tests.support.servers import run_app


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[tuple[JiraGateway, ExchangeRecorder]]:
    recorder = ExchangeRecorder(
        create_app(tmp_path / "jira.db"), include=lambda path: path.startswith("/rest/")
    )
    with run_app(recorder) as url:
        gateway = JiraGateway(JiraConfig(url=url, user="sandbox", token=SecretStr("sandbox")))
        yield gateway, recorder
        assert_conform(JIRA_CLOUD_V2, recorder.take())


def new_issue(gateway: JiraGateway, workflow_id: str) -> str:
    return gateway.create_incident_issue(
        workflow_id=workflow_id, summary="Lost laptop", description="On a train.", labels=[]
    )


def test_the_workflow_of_an_issue_is_read_from_its_property(
    jira: tuple[JiraGateway, ExchangeRecorder],
) -> None:
    gateway, _ = jira
    key = new_issue(gateway, "incident-demo-LAPTOP-1")
    assert gateway.workflow_id_of(key) == "incident-demo-LAPTOP-1"
    assert gateway.workflow_id_of("SEC-999") is None  # no such issue: nothing of ours


def test_an_issue_without_the_property_has_no_workflow(
    jira: tuple[JiraGateway, ExchangeRecorder],
) -> None:
    gateway, _ = jira
    agent = JIRA(server=gateway.config.url, basic_auth=("agent", "agent"), max_retries=0)
    born_in_jira = agent.create_issue(
        fields={"project": {"key": "SEC"}, "issuetype": {"name": "Incident"}, "summary": "Phish"}
    )
    agent.close()
    assert gateway.workflow_id_of(born_in_jira.key) is None


def test_myself_names_incident_desks_account(jira: tuple[JiraGateway, ExchangeRecorder]) -> None:
    gateway, _ = jira
    me = gateway.myself()
    assert me.account_id and me.display_name == "sandbox"
    assert me.email_address == "sandbox@sandbox.invalid"


def test_a_comment_with_a_marker_is_posted_once(
    jira: tuple[JiraGateway, ExchangeRecorder],
) -> None:
    gateway, _ = jira
    key = new_issue(gateway, "incident-demo-LAPTOP-3")
    marker = "[Incident Desk ref jira-changelog-10001]"
    first = gateway.add_comment_once(key, f"Refused: acknowledge first.\n{marker}", marker)
    again = gateway.add_comment_once(key, f"Refused: acknowledge first.\n{marker}", marker)
    other = gateway.add_comment_once(key, "Another refusal [ref 2]", "[ref 2]")
    assert first is not None and again is None and other is not None
    agent = JIRA(server=gateway.config.url, basic_auth=("agent", "agent"), max_retries=0)
    bodies = [str(c.body) for c in agent.comments(key)]
    agent.close()
    assert sum(marker in b for b in bodies) == 1 and len(bodies) == 2
