"""Per-site Jira webhook settings, and each site's proof of origin at `/webhooks/jira/<site>`.

The settings part runs start-up validation as an entry point does (`load_settings`). The HTTP
part runs the intake over real HTTP against the session's Temporal dev server with nobody
polling the task queue, as test_jira_webhook_endpoint.py does; the sites' Jira URLs answer
nothing, since nothing here needs a Jira.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from incident_desk.config import ConfigError, load_settings
from incident_desk.jira_sites import sites_env
from tests.support.servers import free_port
from tests.unit.test_jira_webhook_endpoint import (
    PROJECT,
    REPO,
    connected_intake,
    exists,
    issue_created,
    new_key,
    settings_for,
)

TOKEN = "dc-site-webhook-token-0123456789"


def problems(monkeypatch: pytest.MonkeyPatch, sites: dict[str, Any], **env: str) -> str:
    monkeypatch.setenv("JIRA_SITES", json.dumps(sites))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return str(raised.value)


def site(**extra: Any) -> dict[str, Any]:
    return {"url": "https://jira.client.example", "auth": "datacenter", "token": "pat", **extra}


def test_every_problem_with_a_sites_webhook_settings_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = "the-very-same-secret-for-two-sites"
    message = problems(
        monkeypatch,
        {
            "copy": site(webhook_secret=shared),
            "mounted": site(webhook_secret_file="/nope/secret"),
            "short": site(webhook_token="abc"),
            "twin-a": site(webhook_token=TOKEN),
            "twin-b": site(webhook_token=TOKEN),
        },
        JIRA_WEBHOOK_SECRET=shared,
    )
    assert "JIRA_SITES.copy.webhook_secret: the same value as JIRA_WEBHOOK_SECRET" in message
    assert "JIRA_SITES.mounted.webhook_secret_file: cannot read /nope/secret" in message
    assert "JIRA_SITES.short.webhook_token: shorter than 16 characters" in message
    assert "JIRA_SITES.twin-b.webhook_token: the same value as JIRA_SITES.twin-a" in message
    assert shared not in message and TOKEN not in message

    wrong_mode = problems(monkeypatch, {"dc": site(webhook_mode="onprem")})
    assert "JIRA_SITES.dc.webhook_mode" in wrong_mode


def test_a_mounted_webhook_secret_is_read_once_and_kept_out_of_sight(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "dc-webhook-secret"
    secret.write_text("from-the-mount-0123456789\n")
    monkeypatch.setenv("JIRA_SITES", json.dumps({"dc": site(webhook_secret_file=str(secret))}))
    settings = load_settings()
    entry = settings.jira_sites["dc"]
    assert entry.webhook_secret is not None and entry.inbound_mode == "datacenter"
    assert entry.webhook_secret.get_secret_value() == "from-the-mount-0123456789"
    assert "from-the-mount" not in repr(settings.jira_sites)
    child = json.loads(sites_env(settings.jira_sites))["dc"]
    assert child["webhook_secret"] == "from-the-mount-0123456789"


def two_site_settings(env: WorkflowEnvironment, tmp_path: Path) -> Any:
    """The default site plus `dc` (Data Center: a URL token) and `quiet` (Cloud, no secret
    yet); the client `dcclient` is routed to dc's project."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    demo = (policies / "clients" / "demo.yaml").read_text()
    routed = demo.replace("id: demo", "id: dcclient").replace("jira:\n", "jira:\n  site: dc\n")
    assert routed != demo and "site: dc" in routed
    (policies / "clients" / "dcclient.yaml").write_text(routed)
    nowhere = f"http://127.0.0.1:{free_port()}"
    sites = {
        "dc": site(url=nowhere, project=PROJECT, webhook_token=TOKEN),
        "quiet": {"url": nowhere, "user": "desk@bpo.example", "token": "t"},
    }
    return settings_for(env, policies_dir=policies, jira_sites=sites)


async def test_each_site_checks_its_own_proof_of_origin(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    key = new_key()
    payload = issue_created(key)
    payload["issue"]["fields"]["labels"] = ["channel-phone"]  # whose it is: the site decides
    async with connected_intake(two_site_settings(dev_env, tmp_path)) as http:
        # The default site's secret is no proof for dc, and dc's token none for the default site.
        signed = await http.post(
            "/webhooks/jira/dc",
            content=json.dumps(payload).encode(),
            headers={"X-Hub-Signature": "sha256=00"},
        )
        wrong = await http.post(
            "/webhooks/jira/dc", content=json.dumps(payload).encode(), params={"token": "nope"}
        )
        on_default = await http.post(
            "/webhooks/jira", content=json.dumps(payload).encode(), params={"token": TOKEN}
        )
        assert not await exists(dev_env.client, f"incident-{key}.dc")
        good = await http.post(
            "/webhooks/jira/dc", content=json.dumps(payload).encode(), params={"token": TOKEN}
        )
        quiet = await http.post(
            "/webhooks/jira/quiet", content=json.dumps(payload).encode(), params={"token": TOKEN}
        )
    assert signed.status_code == 401 and "missing ?token=" in signed.json()["detail"]
    assert wrong.status_code == 401 and "wrong ?token=" in wrong.json()["detail"]
    assert on_default.status_code == 401 and "X-Hub-Signature" in on_default.json()["detail"]
    assert good.status_code == 200, good.text
    started = good.json()
    assert started["outcome"] == "started" and started["workflow_id"] == f"incident-{key}.dc"
    description = await dev_env.client.get_workflow_handle(f"incident-{key}.dc").describe()
    assert description.search_attributes["IncidentClient"] == ["dcclient"]
    assert description.search_attributes["JiraKey"] == [key]
    assert not await exists(dev_env.client, f"incident-{key}")
    # A Cloud site without its secret refuses everything, naming the setting to set.
    assert quiet.status_code == 503
    assert "JIRA_SITES.quiet.webhook_secret is not set" in quiet.json()["detail"]
