"""Jira sites and logins as configuration, and the client policy's Jira routing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incident_desk.config import ConfigError, load_settings
from incident_desk.jira_sites import configured_sites, policy_site_problems, sites_env
from incident_desk.stack import settings_env
from incidents.client_routing import JiraRouting
from incidents.policy import PolicyError, load_policy

POLICY = "id: {id}\nname: Acme\n"


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return str(raised.value)


def test_cloud_needs_the_account_email_and_an_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problems(monkeypatch, JIRA_URL="https://bpo.atlassian.net")
    assert "JIRA_TOKEN (or JIRA_TOKEN_FILE) is not" in message
    assert "JIRA_USER is not" in message and "JIRA_AUTH=datacenter" in message


def test_datacenter_needs_a_personal_access_token_and_no_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    message = problems(monkeypatch, JIRA_URL="https://jira.bpo.example", JIRA_AUTH="datacenter")
    assert "personal access token" in message and "JIRA_USER" not in message
    pat = tmp_path / "pat"
    pat.write_text("dc-pat\n")
    monkeypatch.setenv("JIRA_TOKEN_FILE", str(pat))
    settings = load_settings()
    site = configured_sites(settings).site("default")
    assert (site.auth, site.token.get_secret_value()) == ("datacenter", "dc-pat")


def test_every_problem_with_an_extra_site_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sites = {
        "eu": {"url": "https://eu.atlassian.net", "token": "t"},
        "default": {"url": "https://x.example", "auth": "datacenter", "token": "t"},
        "dc": {"url": "jira.client.example", "auth": "datacenter"},
        "mounted": {"url": "https://m.example", "auth": "datacenter", "token_file": "/nope"},
    }
    message = problems(monkeypatch, JIRA_SITES=json.dumps(sites))
    assert "JIRA_SITES.eu.user:" in message
    assert "JIRA_SITES.default: the 'default' site is JIRA_URL" in message
    assert "JIRA_SITES.dc.url: 'jira.client.example' is not an http(s) URL" in message
    assert "JIRA_SITES.dc: needs token or token_file" in message
    assert "JIRA_SITES.mounted.token_file: cannot read /nope" in message


def test_site_secrets_from_files_reach_child_processes_as_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "client-dc-pat"
    secret.write_text("from-the-mount")
    sites = {"client-dc": {"url": "https://jira.client.example/", "auth": "datacenter",
                           "token_file": str(secret), "project": "SECOPS"}}  # fmt: skip
    monkeypatch.setenv("JIRA_SITES", json.dumps(sites))
    settings = load_settings()
    site = configured_sites(settings).site("client-dc")
    assert site.url == "https://jira.client.example" and site.project == "SECOPS"
    child = json.loads(settings_env(settings)["JIRA_SITES"])
    assert (
        child["client-dc"]["token"] == "from-the-mount" and "token_file" not in child["client-dc"]
    )
    assert "from-the-mount" not in repr(site) and "from-the-mount" not in sites_env({})


def test_policies_name_sites_never_credentials(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(POLICY.format(id="acme") + "jira:\n  site: eu\n  token: abc\n")
    with pytest.raises(PolicyError, match=r"acme\.yaml: jira: .*token: Jira URLs and credentials"):
        load_policy(path)
    path.write_text(POLICY.format(id="acme") + "jira:\n  custom_fields: {severity: high}\n")
    with pytest.raises(PolicyError, match="customfield_10050"):
        load_policy(path)


def test_a_policy_routed_to_an_unknown_site_is_reported_with_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "acme.yaml").write_text(
        POLICY.format(id="acme") + "jira:\n  site: eu\n  project: ACME\n"
    )
    (tmp_path / "clients" / "home.yaml").write_text(POLICY.format(id="home"))
    settings = load_settings()
    [problem] = policy_site_problems(tmp_path, configured_sites(settings))
    assert "acme.yaml: jira.site: 'eu' is not configured (configured: default)" in problem


def test_status_names_map_case_blind_and_default_to_ours() -> None:
    routing = JiraRouting(statuses={"done": "Resolved"})
    assert routing.status("Done") == "Resolved" and routing.status("In Progress") == "In Progress"
