"""JiraGateway against the Jira stand-in over real HTTP: idempotence, restarts, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from integrations.jira import (
    PROPERTY_KEY,
    JiraConfig,
    JiraGateway,
    JiraRequestError,
    correlation_label,
)
from sandbox.jira import create_app
from tests.contract.openapi_contract import ExchangeRecorder
from tests.support.servers import free_port, run_app

WORKFLOW_ID = "incident-acme-INC-4711"


@dataclass
class Jira:
    url: str
    recorder: ExchangeRecorder

    def issues(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/sandbox/issues", timeout=10).json()

    def fault(self, **spec: Any) -> None:
        response = requests.post(f"{self.url}/sandbox/faults", json=spec, timeout=10)
        response.raise_for_status()

    def pending_faults(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/sandbox/faults", timeout=10).json()

    def calls(self, method: str, path_part: str) -> int:
        return sum(1 for e in self.recorder.exchanges if e.method == method and path_part in e.path)


def gateway_for(url: str, *, token: str = "sandbox", **overrides: Any) -> JiraGateway:
    settings: dict[str, Any] = {"retry_max_wait_seconds": 2.0, "timeout_seconds": 5.0}
    settings.update(overrides)
    return JiraGateway(JiraConfig(url=url, user="sandbox", token=SecretStr(token), **settings))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jira.sqlite3"


@pytest.fixture
def jira_sandbox(db: Path) -> Iterator[Jira]:
    recorder = ExchangeRecorder(create_app(db), include=lambda path: path.startswith("/rest/"))
    with run_app(recorder) as url:
        yield Jira(url, recorder)


@pytest.fixture
def gateway(jira_sandbox: Jira) -> JiraGateway:
    return gateway_for(jira_sandbox.url)


def create(gateway: JiraGateway, workflow_id: str = WORKFLOW_ID, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "workflow_id": workflow_id,
        "summary": "Suspicious login on payroll system",
        "description": "Reported by the client's SIEM.",
        "labels": ["incident-desk", "client-acme"],
    }
    arguments.update(overrides)
    return gateway.create_incident_issue(**arguments)


# -- creation ------------------------------------------------------------------------------------


def test_create_is_idempotent(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    assert gateway.find_issue_for_workflow(WORKFLOW_ID) is None
    first = create(gateway)
    second = create(gateway)
    assert first == second == "SEC-1"
    (issue,) = jira_sandbox.issues()
    assert issue["summary"] == "Suspicious login on payroll system"
    assert issue["status"] == "To Do"
    assert issue["properties"] == {PROPERTY_KEY: {"workflowId": WORKFLOW_ID}}
    assert issue["labels"] == ["incident-desk", "client-acme", correlation_label(WORKFLOW_ID)]
    assert gateway.find_issue_for_workflow(WORKFLOW_ID) == first
    assert jira_sandbox.calls("POST", "/rest/api/2/issue") == 1

    assert create(gateway, "incident-acme-INC-4712") == "SEC-2"
    assert len(jira_sandbox.issues()) == 2


def test_create_repairs_an_issue_whose_marker_property_was_lost(
    gateway: JiraGateway, jira_sandbox: Jira
) -> None:
    # The issue gets created, then the property write fails: the activity will be retried.
    jira_sandbox.fault(status=500, method="PUT", path="/rest/api/2/issue/")
    with pytest.raises(JiraRequestError) as failed:
        create(gateway)
    assert failed.value.status == 500 and failed.value.retryable
    (orphan,) = jira_sandbox.issues()
    assert orphan["properties"] == {}

    # The retry finds it through the correlation label instead of creating a second one.
    assert gateway.find_issue_for_workflow(WORKFLOW_ID) == orphan["key"]
    assert create(gateway) == orphan["key"]
    (repaired,) = jira_sandbox.issues()
    assert repaired["properties"] == {PROPERTY_KEY: {"workflowId": WORKFLOW_ID}}


def test_create_cleans_input_jira_would_refuse(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    key = create(
        gateway,
        summary="Ransomware note\non file server " + "x" * 300,
        labels=["needs triage", "  ", "vip"],
    )
    (issue,) = jira_sandbox.issues()
    assert issue["key"] == key
    assert "\n" not in issue["summary"] and len(issue["summary"]) == 255
    assert issue["labels"][:2] == ["needs-triage", "vip"]


def test_workflow_ids_are_quoted_in_jql(gateway: JiraGateway) -> None:
    odd = 'incident-"quoted" \\ id'
    key = create(gateway, odd)
    assert gateway.find_issue_for_workflow(odd) == key
    assert gateway.find_issue_for_workflow("incident-quoted") is None


# -- comments and transitions --------------------------------------------------------------------


def test_comment(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    key = create(gateway)
    first = gateway.add_comment(key, "Triage started by the SOC.")
    second = gateway.add_comment(key, "Client notified.")
    assert first.isdigit() and int(second) > int(first)
    (issue,) = jira_sandbox.issues()
    assert [(c["id"], c["body"]) for c in issue["comments"]] == [
        (first, "Triage started by the SOC."),
        (second, "Client notified."),
    ]


def test_transition_to_done(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    key = create(gateway)
    assert gateway.status_of(key) == "To Do"
    gateway.transition_to(key, "In Progress")
    assert gateway.status_of(key) == "In Progress"
    gateway.transition_to(key, "Done")
    assert gateway.status_of(key) == "Done"
    assert jira_sandbox.calls("POST", "/transitions") == 2

    gateway.transition_to(key, "done")  # already there: nothing sent
    assert jira_sandbox.calls("POST", "/transitions") == 2
    assert jira_sandbox.issues()[0]["status"] == "Done"


def test_transition_without_a_route_is_a_clear_permanent_error(gateway: JiraGateway) -> None:
    key = create(gateway)
    with pytest.raises(JiraRequestError) as refused:
        gateway.transition_to(key, "Blocked")
    assert not refused.value.retryable
    assert "Blocked" in str(refused.value) and "Done" in str(refused.value)


def test_unknown_issue_is_a_permanent_error(gateway: JiraGateway) -> None:
    with pytest.raises(JiraRequestError) as missing:
        gateway.status_of("SEC-404")
    assert missing.value.status == 404 and not missing.value.retryable


# -- restarts ------------------------------------------------------------------------------------


def test_issues_and_key_counter_survive_a_restart(db: Path) -> None:
    port = free_port()
    with run_app(create_app(db), port=port) as url:
        gateway = gateway_for(url)
        first = create(gateway)
        second = create(gateway, "incident-acme-INC-4712")
        gateway.add_comment(first, "Before the restart.")
        gateway.transition_to(first, "Done")
    with run_app(create_app(db), port=port) as url:
        # Same gateway object: its pooled connection to the old process is stale now.
        assert gateway.find_issue_for_workflow(WORKFLOW_ID) == first
        assert gateway.find_issue_for_workflow("incident-acme-INC-4712") == second
        assert gateway.status_of(first) == "Done"
        assert create(gateway) == first
        assert create(gateway, "incident-acme-INC-4713") == "SEC-3"
        issues = requests.get(f"{url}/sandbox/issues", timeout=10).json()
    assert [i["key"] for i in issues] == ["SEC-1", "SEC-2", "SEC-3"]
    assert [c["body"] for c in issues[0]["comments"]] == ["Before the restart."]


# -- failures ------------------------------------------------------------------------------------


def test_bad_credentials_are_a_permanent_error_without_the_secret(jira_sandbox: Jira) -> None:
    gateway = gateway_for(jira_sandbox.url, token="not-the-token")
    with pytest.raises(JiraRequestError) as refused:
        gateway.status_of("SEC-1")
    assert refused.value.status == 401 and not refused.value.retryable
    rendered = f"{refused.value} {refused.value!r} {refused.value.message}"
    assert "not-the-token" not in rendered and "Basic " not in rendered
    assert jira_sandbox.calls("GET", "/serverInfo") == 1  # no retries for a 401


def test_503_then_success_is_retried_honouring_retry_after(
    gateway: JiraGateway, jira_sandbox: Jira
) -> None:
    key = create(gateway)
    jira_sandbox.fault(status=503, count=2, retry_after=1)
    started = time.monotonic()
    assert gateway.status_of(key) == "To Do"
    assert time.monotonic() - started >= 2.0  # two waits of Retry-After: 1
    assert jira_sandbox.pending_faults() == []


def test_429_retry_after_is_capped(jira_sandbox: Jira) -> None:
    gateway = gateway_for(jira_sandbox.url, retry_max_wait_seconds=0.2)
    key = create(gateway)
    jira_sandbox.fault(status=429, count=1, retry_after=120)
    started = time.monotonic()
    assert gateway.add_comment(key, "Rate limited once.")
    assert time.monotonic() - started < 5


def test_the_first_call_is_retried_too(jira_sandbox: Jira) -> None:
    # The client is built lazily (serverInfo); that first exchange is covered by the retries.
    gateway = gateway_for(jira_sandbox.url, retry_max_wait_seconds=0.1)
    jira_sandbox.fault(status=502, count=1, path="/rest/api/2/serverInfo")
    assert gateway.find_issue_for_workflow(WORKFLOW_ID) is None


def test_persistent_503_gives_up_after_three_attempts(jira_sandbox: Jira) -> None:
    gateway = gateway_for(jira_sandbox.url, retry_max_wait_seconds=0.1)
    key = create(gateway)
    jira_sandbox.fault(status=503, count=10)
    with pytest.raises(JiraRequestError) as failed:
        gateway.status_of(key)
    assert failed.value.status == 503 and failed.value.retryable
    assert jira_sandbox.pending_faults()[0]["remaining"] == 7


def test_client_errors_are_not_retried(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    key = create(gateway)
    jira_sandbox.fault(status=400, count=3)
    with pytest.raises(JiraRequestError) as failed:
        gateway.add_comment(key, "Refused.")
    assert failed.value.status == 400 and not failed.value.retryable
    assert jira_sandbox.pending_faults()[0]["remaining"] == 2


def test_slow_answers_time_out_and_are_retried(jira_sandbox: Jira) -> None:
    gateway = gateway_for(jira_sandbox.url, timeout_seconds=0.3, retry_max_wait_seconds=0.1)
    key = create(gateway)
    jira_sandbox.fault(delay=1.0, count=1, method="GET")
    started = time.monotonic()
    assert gateway.status_of(key) == "To Do"
    assert time.monotonic() - started < 1.0


def test_unreachable_jira_is_a_retryable_error() -> None:
    gateway = gateway_for(f"http://127.0.0.1:{free_port()}", retry_max_wait_seconds=0.05)
    with pytest.raises(JiraRequestError) as failed:
        gateway.find_issue_for_workflow(WORKFLOW_ID)
    assert failed.value.status is None and failed.value.retryable
