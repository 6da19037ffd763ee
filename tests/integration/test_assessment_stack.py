"""An obligation's open question, asked and answered on the running stack: the question appears
as a Jira comment, an agent answers it with a comment in the agreed form (or through the API),
and the incident drops or keeps the obligation. Real parts throughout: the Temporal dev server,
the Jira sandbox sending its own signed webhooks, the intake and the worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jira import JIRA
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.settings import Settings
from incident_desk.stack import Stack
from tests.integration.test_jira_inbound_stack import comments, incident, new_issue
from tests.integration.test_jira_inbound_stack import running_incident as validated
from tests.support.stacks import api_headers, running_stack, wait_for

ART33 = "eu_gdpr_art33_authority"
ART34 = "eu_gdpr_art34_data_subjects"
UK = "uk_gdpr_art33_ico"


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
    return {f["name"]: f["id"] for f in agent.fields()}


def clock(view: dict[str, Any], obligation: str) -> dict[str, Any] | None:
    return next((c for c in view.get("obligations", []) if c["id"] == obligation), None)


def asked_about(key: str, obligation: str):
    return lambda cs: any(f"[{obligation}]" in c and "Assessment needed" in c for c in cs)


@pytest.fixture(scope="module")
def key(settings: Settings, agent: JIRA, field: dict[str, str]) -> str:
    """An incident whose facts (personal data of people in Germany and the UK) raise the EU and
    UK GDPR's questions."""
    key = new_issue(agent, field, "Customer list mailed to the wrong address")
    validated(settings, key)
    agent.issue(key).update(
        fields={
            field["Affected Jurisdictions"]: ["DE", "GB"],
            field["Data Categories"]: [{"value": "personal"}],
        }
    )
    wait_for(lambda: comments(agent, key), asked_about(key, ART33), timeout=30)
    return key


def test_a_jira_comment_answers_the_question(settings: Settings, agent: JIRA, key: str) -> None:
    question = next(c for c in comments(agent, key) if f"[{ART33}]" in c)
    assert "likely to result in a risk" in question and f"assess {ART33}: no" in question

    agent.add_comment(key, f"assess {ART33}: maybe — still checking")
    explained = wait_for(
        lambda: comments(agent, key),
        lambda cs: any("Assessment not recorded" in c for c in cs),
        timeout=30,
    )
    assert any("neither yes nor no" in c for c in explained)
    assert clock(incident(settings, key), ART33)["in_force"]

    agent.add_comment(key, f"assess {ART33}: no — names only, no risk to anyone (Art. 33(5))")
    view = wait_for(
        lambda: incident(settings, key), lambda v: not clock(v, ART33)["in_force"], timeout=30
    )
    dropped = next(e for e in view["timeline"] if e["event"] == "obligation_dropped")
    assert dropped["by"] == "Sandbox Agent" and "via jira" in dropped["detail"]
    assert "names only" in clock(view, ART33)["cancelled_reason"]
    # The answer is not also kept as talk.
    assert not any(
        e["event"] == "comment" and e["detail"].startswith("assess") for e in view["timeline"]
    )
    wait_for(
        lambda: comments(agent, key),
        lambda cs: any("Assessment recorded" in c and ART33 in c for c in cs),
        timeout=30,
    )


def test_the_api_answers_and_refuses_clearly(settings: Settings, key: str) -> None:
    base = f"{settings.intake_base_url}/api/v1/incidents/{key}/assessments"
    body = {"applies": True, "by": "dpo.liaison", "reason": "high risk: credentials included"}
    assert httpx.post(f"{base}/{UK}", json=body).status_code == 401

    headers = api_headers(settings)
    unknown = httpx.post(f"{base}/nope", json=body, headers=headers)
    assert unknown.status_code == 409 and "no obligation 'nope'" in unknown.text
    bad = httpx.post(f"{base}/{UK}", json={"applies": "perhaps", "by": "x"}, headers=headers)
    assert bad.status_code == 422

    answered = httpx.post(f"{base}/{UK}", json=body, headers=headers)
    assert answered.status_code == 200, answered.text
    uk = clock(answered.json(), UK)
    assert uk["in_force"] and uk["needs_assessment"] == []
    again = httpx.post(f"{base}/{UK}", json=body, headers=headers)
    assert again.status_code == 409 and "already assessed by dpo.liaison" in again.text


def test_the_cli_answers(settings: Settings, key: str) -> None:
    token = api_headers(settings)["Authorization"].removeprefix("Bearer ")
    common = ["--url", settings.intake_base_url, "--token", token, "--by", "dpo.liaison"]
    cli = CliRunner()
    ok = cli.invoke(
        app, ["assess", key, ART34, "--does-not-apply", "--reason", "no high risk", *common]
    )
    assert ok.exit_code == 0, ok.output
    assert "in_force: false" in ok.output
    view = incident(settings, key)
    assert "via cli: no high risk" in clock(view, ART34)["cancelled_reason"]
    refused = cli.invoke(app, ["assess", key, ART34, "--applies", "--reason", "x", *common])
    assert refused.exit_code == 1 and "already assessed" in refused.output
