"""Jira Cloud and Data Center logins, and per-client targets, against the stand-in over real HTTP.

The stand-in imitates either product: Cloud takes basic auth with an API token only; Data Center
also takes a personal access token as Bearer, searches the classic way and names users by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from integrations.jira import JiraConfig, JiraGateway, JiraRequestError
from integrations.jira_sites import JiraSite, JiraSites, JiraTarget, UnknownJiraSite
from sandbox.jira import create_app
from tests.support.servers import run_app

PAT = "dc-personal-access-token"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[str]:
    with run_app(create_app(tmp_path / "cloud.db", token="cloud-api-token")) as url:
        yield url


@pytest.fixture
def datacenter(tmp_path: Path) -> Iterator[str]:
    app = create_app(
        tmp_path / "dc.db",
        user="incident-desk",
        token=PAT,
        project_key="SECOPS",
        issue_type="Security Incident",
        flavour="datacenter",
        custom_fields=("customfield_10050",),
    )
    with run_app(app) as url:
        yield url


def issues(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/sandbox/issues", timeout=10).json()


def new_issue(gateway: JiraGateway, workflow_id: str = "incident-acme-1") -> str:
    return gateway.create_incident_issue(
        workflow_id=workflow_id, summary="Phishing wave", description="d", labels=["client-acme"]
    )


def test_datacenter_personal_access_token_does_the_whole_lifecycle(datacenter: str) -> None:
    gateway = JiraGateway(
        JiraConfig(
            url=datacenter,
            auth="datacenter",
            token=SecretStr(PAT),
            project="SECOPS",
            issue_type="Security Incident",
        )
    )
    key = new_issue(gateway)
    assert key == "SECOPS-1"
    # The classic search (Data Center has no /search/jql) finds it: a retry creates nothing.
    assert new_issue(gateway) == key
    assert gateway.find_issue_for_workflow("incident-acme-1") == key
    gateway.add_comment(key, "Acknowledged by on-call")
    gateway.transition_to(key, "Done")
    me = gateway.myself()
    assert (me.name, me.account_id) == ("incident-desk", None)
    [issue] = issues(datacenter)
    assert issue["status"] == "Done" and issue["comments"][0]["body"] == "Acknowledged by on-call"


def test_datacenter_refuses_a_wrong_personal_access_token(datacenter: str) -> None:
    gateway = JiraGateway(JiraConfig(url=datacenter, auth="datacenter", token=SecretStr("nope")))
    with pytest.raises(JiraRequestError) as raised:
        new_issue(gateway)
    assert raised.value.status == 401 and not raised.value.retryable
    assert "nope" not in str(raised.value)


def test_cloud_takes_email_and_api_token_but_no_bearer(cloud: str) -> None:
    basic = JiraGateway(JiraConfig(url=cloud, user="sandbox", token=SecretStr("cloud-api-token")))
    assert new_issue(basic) == "SEC-1"
    bearer = JiraGateway(
        JiraConfig(url=cloud, auth="datacenter", token=SecretStr("cloud-api-token"))
    )
    with pytest.raises(JiraRequestError) as raised:
        bearer.myself()
    assert raised.value.status == 401


def test_sites_route_each_target_to_its_own_site_project_and_fields(
    cloud: str, datacenter: str
) -> None:
    sites = JiraSites(
        {
            "default": JiraSite(url=cloud, user="sandbox", token=SecretStr("cloud-api-token")),
            "client-dc": JiraSite(
                url=datacenter,
                auth="datacenter",
                token=SecretStr(PAT),
                project="SECOPS",
                issue_type="Security Incident",
            ),
        }
    )
    severity = {"value": "Critical"}
    dc_target = JiraTarget(site="client-dc", custom_fields={"customfield_10050": severity})
    assert new_issue(sites.gateway(dc_target), "incident-beta-1") == "SECOPS-1"
    assert new_issue(sites.gateway(), "incident-alpha-1") == "SEC-1"
    assert sites.gateway(dc_target) is sites.gateway(dc_target)  # one session per target
    [dc_issue] = issues(datacenter)
    assert dc_issue["custom_fields"] == {"customfield_10050": severity}
    assert [i["key"] for i in issues(cloud)] == ["SEC-1"]
    with pytest.raises(UnknownJiraSite, match="'eu' is not configured"):
        sites.gateway(JiraTarget(site="eu"))


def test_a_custom_field_the_project_lacks_is_a_permanent_error(cloud: str) -> None:
    gateway = JiraGateway(
        JiraConfig(
            url=cloud,
            user="sandbox",
            token=SecretStr("cloud-api-token"),
            custom_fields={"customfield_99999": "x"},
        )
    )
    with pytest.raises(JiraRequestError) as raised:
        new_issue(gateway)
    assert raised.value.status == 400 and not raised.value.retryable
    assert "customfield_99999" in raised.value.message
