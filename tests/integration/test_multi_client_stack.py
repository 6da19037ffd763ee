"""Two clients on one running stack, each on its own Jira site and project, through the real worker.

`alpha` stays on the stack's own Jira (the `default` site, a Cloud stand-in, project SEC);
`beta` is routed by its policy to the `beta-dc` site, a second stand-in that imitates Jira Data
Center (personal access token as Bearer, project BETA), configured as JIRA_SITES the way an
operator would. The policies name only the site id; the URL and token come from configuration.
What follows the ticket (comments, status names, sender identity) is covered activity by activity
in test_client_routing_activities.py: on today's lifecycle those wait for an agent to validate
the report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_desk.stack import Stack, settings_env
from sandbox.jira import create_app
from tests.support.servers import run_app
from tests.support.stacks import REPO, api_client, running_stack, stack_settings, wait_for

BETA_PAT = "beta-dc-personal-access-token"

POLICY = """
id: {id}
name: {name}
timezone: Europe/Dublin
role: processor
jurisdictions: [IE]
sites: [IE]
contract:
  clause: "DPA clause 8.2"
  notify_within: PT24H
contacts:
  - name: Security Desk
    email: {contact}
"""


@dataclass
class MultiClient:
    stack: Stack
    beta_jira: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiClient]:
    root = tmp_path_factory.mktemp("multi")
    policies = root / "policies"
    shutil.copytree(REPO / "policies" / "sops", policies / "sops")
    (policies / "clients").mkdir()
    (policies / "clients" / "alpha.yaml").write_text(
        POLICY.format(id="alpha", name="Alpha Retail", contact="soc@alpha.example")
    )
    (policies / "clients" / "beta.yaml").write_text(
        POLICY.format(id="beta", name="Beta Insurance", contact="soc@beta.example")
        + "jira:\n  site: beta-dc\n  project: BETA\n"
        + "  custom_fields: {customfield_10050: {value: Security}}\n"
    )
    beta = create_app(
        root / "beta-jira.db",
        user="incident-desk",
        token=BETA_PAT,
        project_key="BETA",
        flavour="datacenter",
        custom_fields=("customfield_10050",),
    )
    with run_app(beta) as beta_url:
        sites = {"beta-dc": {"url": beta_url, "auth": "datacenter", "token": BETA_PAT}}
        with running_stack(root / "state", policies_dir=policies, jira_sites=sites) as stack:
            yield MultiClient(stack, beta_url)


def jira_issues(url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/sandbox/issues", timeout=10).json()


def file(api: httpx.Client, stack: Stack, client: str) -> str:
    response = api.post(
        f"{stack.settings.intake_base_url}/api/v1/incidents",
        json={
            "client": client,
            "summary": f"Phishing reported by a {client} customer",
            "description": "A lookalike domain asked for card details.",
            "channel": "phone",
            "validation": {"by": "filing.agent"},  # validated on filing: paged at once
            "reporter": {"name": "Caller", "contact": "caller@example.com"},
            "aware_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "category": "phishing",
            "external_ref": f"CALL-{uuid.uuid4().hex[:8]}",
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["incident_id"])


def test_each_client_lands_on_its_own_site_and_project(setup: MultiClient) -> None:
    stack, beta_url = setup.stack, setup.beta_jira
    base = stack.settings.intake_base_url
    with api_client(stack) as api:
        alpha_id, beta_id = file(api, stack, "alpha"), file(api, stack, "beta")

        def view(incident: str) -> dict[str, Any]:
            return api.get(f"{base}/api/v1/incidents/{incident}").json()

        alpha_key = wait_for(lambda: view(alpha_id).get("jira_key"), bool, timeout=60)
        beta_key = wait_for(lambda: view(beta_id).get("jira_key"), bool, timeout=60)
        assert alpha_key.startswith("SEC-") and beta_key.startswith("BETA-")

        default_issues = jira_issues(stack.settings.jira_base_url)
        beta_issues = jira_issues(beta_url)
        assert [i["key"] for i in beta_issues] == [beta_key]
        assert alpha_key in {i["key"] for i in default_issues}
        assert beta_key not in {i["key"] for i in default_issues}
        assert "client-beta" not in {label for i in default_issues for label in i["labels"]}
        assert beta_issues[0]["custom_fields"] == {"customfield_10050": {"value": "Security"}}
        assert "client-beta" in beta_issues[0]["labels"]


def test_a_policy_naming_an_unconfigured_site_stops_the_worker_at_start(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies" / "sops", policies / "sops")
    (policies / "clients").mkdir()
    (policies / "clients" / "gamma.yaml").write_text(
        POLICY.format(id="gamma", name="Gamma", contact="soc@gamma.example")
        + "jira:\n  site: nowhere\n"
    )
    settings = stack_settings(tmp_path / "state", policies_dir=policies)
    result = subprocess.run(
        [sys.executable, "-m", "worker"],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode != 0
    assert "gamma.yaml: jira.site: 'nowhere' is not configured" in result.stderr
    assert "Traceback" not in result.stderr
