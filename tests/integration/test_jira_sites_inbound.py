"""Agents on a second Jira site start and move their own client's incidents, and only those.

The whole stack as `make run` starts it (Temporal dev server, worker, intake, the stack's own
Jira sandbox as the `default` site), plus a second Jira sandbox configured as the JIRA_SITES
entry `harbour`, signing its webhooks to `/webhooks/jira/harbour` with its own secret. Both
sites have a project SEC, so both hand out the same keys: `alpha` is routed to the default
site's SEC, `bravo` to harbour's. Agents act through the `jira` library on each site.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jira import JIRA

from incident_desk.stack import Stack
from integrations.temporal import connect
from sandbox.jira import create_app
from tests.integration.test_jira_webhooks import replay
from tests.support.servers import run_app
from tests.support.stacks import REPO, api_headers, running_stack, wait_for

SITE = "harbour"
SITE_USER, SITE_TOKEN = "incident-desk", "harbour-api-token"
SITE_SECRET = "harbour-webhook-secret-" + uuid.uuid4().hex

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
    email: soc@{id}.example
"""


@dataclass
class TwoSites:
    stack: Stack
    site_url: str  # harbour's Jira

    @property
    def intake(self) -> str:
        return self.stack.settings.intake_base_url

    def incident(self, incident_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.intake}/api/v1/incidents/{incident_id}", headers=api_headers(self.stack)
        )
        return response.json() if response.status_code == 200 else {"status": response.status_code}

    def deliveries(self, key: str, event: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.site_url}/sandbox/webhooks/deliveries", params={"issue": key, "event": event}
        )
        response.raise_for_status()
        return list(response.json())


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoSites]:
    root = tmp_path_factory.mktemp("sites")
    policies = root / "policies"
    shutil.copytree(REPO / "policies" / "sops", policies / "sops")
    (policies / "clients").mkdir()
    (policies / "clients" / "alpha.yaml").write_text(POLICY.format(id="alpha", name="Alpha"))
    (policies / "clients" / "bravo.yaml").write_text(
        POLICY.format(id="bravo", name="Bravo") + f"jira:\n  site: {SITE}\n  project: SEC\n"
    )
    harbour = create_app(root / "harbour-jira.db", user=SITE_USER, token=SITE_TOKEN)
    with run_app(harbour) as site_url:
        configured = {
            SITE: {
                "url": site_url,
                "user": SITE_USER,
                "token": SITE_TOKEN,
                "webhook_secret": SITE_SECRET,
            }
        }
        overrides = {"policies_dir": policies, "jira_sites": configured}
        with running_stack(root / "state", jira_default_client="alpha", **overrides) as stack:
            registered = httpx.post(
                f"{site_url}/sandbox/webhooks",
                json={
                    "url": f"{stack.settings.intake_base_url}/webhooks/jira/{SITE}",
                    "secret": SITE_SECRET,
                },
            )
            assert registered.status_code in (200, 201), registered.text
            yield TwoSites(stack, site_url)


@pytest.fixture(scope="module")
def agents(sites: TwoSites) -> Iterator[tuple[JIRA, JIRA]]:
    """An agent on the default site and one on harbour's."""
    default = JIRA(sites.stack.settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    harbour = JIRA(sites.site_url, basic_auth=("agent", "agent"), max_retries=0)
    yield default, harbour
    default.close()
    harbour.close()


def new_issue(agent: JIRA, summary: str, *labels: str) -> str:
    issue = agent.create_issue(
        fields={
            "project": {"key": "SEC"},
            "issuetype": {"name": "Incident"},
            "summary": summary,
            "description": "Logged during the call.",
            "labels": ["channel-phone", *labels],
        }
    )
    return str(issue.key)


async def runs(stack: Stack, workflow_id: str) -> int:
    client = await connect(stack.settings.temporal_target)
    found = client.list_workflows(f"WorkflowId = '{workflow_id}'")
    return len([w async for w in found])


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, secret: str | None) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
    }
    if secret is not None:
        headers["X-Hub-Signature"] = sign(body, secret)
    return httpx.post(url, content=body, headers=headers, timeout=15)


def same_key_on_both_sites(sites: TwoSites, agents: tuple[JIRA, JIRA]) -> str:
    """One new issue on each site with the same key (both sites count SEC-1, SEC-2, ...)."""
    default, harbour = agents
    mine = new_issue(harbour, "Caller says her card was used abroad")
    theirs = new_issue(default, "Caller says her card was used abroad")
    while theirs != mine:  # one site is behind (an earlier test filed there only): catch up
        behind = default if int(theirs.split("-")[1]) < int(mine.split("-")[1]) else harbour
        made = new_issue(behind, "Caller says her card was used abroad")
        theirs, mine = (made, mine) if behind is default else (theirs, made)
    return mine


def test_an_issue_on_the_second_site_starts_its_clients_incident_there(
    sites: TwoSites, agents: tuple[JIRA, JIRA]
) -> None:
    default, harbour = agents
    key = same_key_on_both_sites(sites, agents)
    ours = wait_for(
        lambda: sites.incident(f"{key}.{SITE}"), lambda v: v.get("jira_key"), timeout=60
    )
    assert ours["client"] == "bravo" and ours["jira_key"] == key
    assert ours["workflow_id"] == f"incident-{key}.{SITE}"
    # The default site's issue with the same key is its own incident, for its own client.
    theirs = wait_for(lambda: sites.incident(key), lambda v: v.get("jira_key"), timeout=60)
    assert theirs["client"] == "alpha" and theirs["workflow_id"] == f"incident-{key}"

    # The worker writes about bravo's incident on harbour's issue, and never on the default one.
    def ours_on_harbour() -> list[str]:
        return [
            str(c.body)
            for c in harbour.comments(key)
            if c.author.emailAddress == f"{SITE_USER}@sandbox.invalid"
        ]

    wait_for(ours_on_harbour, bool, timeout=60)
    prop = harbour.issue_property(key, "incident-desk").raw["value"]
    assert prop["workflowId"] == f"incident-{key}.{SITE}"
    on_default = [str(c.body) for c in default.comments(key)]
    assert not any(f"{key}.{SITE}" in body for body in on_default)
    assert default.issue_property(key, "incident-desk").raw["value"]["workflowId"] == (
        f"incident-{key}"
    )

    # A redelivery, even under a new delivery id (so past this instance's memory), starts
    # nothing new: the same workflow, one run.
    created = sites.deliveries(key, "jira:issue_created")
    assert len(created) == 1 and created[0]["url"].endswith(f"/webhooks/jira/{SITE}")
    again = dict(created[0])
    again["headers"] = {**again["headers"], "X-Atlassian-Webhook-Identifier": str(uuid.uuid4())}
    answer = replay(sites.stack.settings, again, f"{sites.intake}/webhooks/jira/{SITE}")
    assert answer.status_code == 200 and answer.json()["workflow_id"] == f"incident-{key}.{SITE}"
    assert asyncio.run(runs(sites.stack, f"incident-{key}.{SITE}")) == 1


def test_a_delivery_is_only_accepted_on_its_own_sites_route(
    sites: TwoSites, agents: tuple[JIRA, JIRA]
) -> None:
    _, harbour = agents
    key = new_issue(harbour, "Lost laptop reported by a branch manager")
    delivery = wait_for(lambda: sites.deliveries(key, "jira:issue_created"), bool)[0]
    body = delivery["body"].encode()
    default_secret = sites.stack.settings.jira_webhook_secret
    assert default_secret is not None

    # harbour's body signed with the default site's secret, on harbour's route: refused.
    forged = post(f"{sites.intake}/webhooks/jira/{SITE}", body, default_secret.get_secret_value())
    assert forged.status_code == 401
    assert f"JIRA_SITES.{SITE}.webhook_secret" in forged.json()["detail"]
    # harbour's own signature, sent to the default site's routes: refused on both.
    for route in ("/webhooks/jira", "/webhooks/jira/default"):
        crossed = post(f"{sites.intake}{route}", body, SITE_SECRET)
        assert crossed.status_code == 401, route
        assert "JIRA_WEBHOOK_SECRET" in crossed.json()["detail"]
    # A site nobody configured.
    unknown = post(f"{sites.intake}/webhooks/jira/nowhere", body, SITE_SECRET)
    assert unknown.status_code == 404
    assert "'nowhere'" in unknown.json()["detail"]
    assert f"default, {SITE}" in unknown.json()["detail"]


def test_a_move_on_one_site_moves_only_that_sites_incident(
    sites: TwoSites, agents: tuple[JIRA, JIRA]
) -> None:
    _, harbour = agents
    key = same_key_on_both_sites(sites, agents)
    for incident_id in (key, f"{key}.{SITE}"):
        wait_for(lambda i=incident_id: sites.incident(i).get("state"), lambda s: s == "TRIAGE")

    harbour.transition_issue(key, "41")  # Validated, on harbour only
    moved = wait_for(
        lambda: sites.incident(f"{key}.{SITE}"), lambda v: v.get("validated_by") is not None
    )
    assert moved["validated_by"] == "Sandbox Agent"
    # The status change on harbour's issue reached harbour's incident, not its namesake.
    still = sites.incident(key)
    assert still["state"] == "TRIAGE" and still["validated_by"] is None

    # A comment there joins the same incident's timeline, and only that one.
    harbour.add_comment(key, "Card blocked with the bank while on the call.")
    wait_for(
        lambda: sites.incident(f"{key}.{SITE}"),
        lambda v: any(e["event"] == "comment" for e in v["timeline"]),
    )
    assert not any(e["event"] == "comment" for e in sites.incident(key)["timeline"])


def test_an_issue_outside_the_sites_scope_is_ignored_with_the_reason(sites: TwoSites) -> None:
    payload = {
        "timestamp": 1764370000000,
        "webhookEvent": "jira:issue_created",
        "user": {"accountId": "acc-agent", "displayName": "Agent 4410"},
        "issue": {
            "id": "99001",
            "key": "OPS-7",
            "fields": {
                "summary": "Printer jam",
                "labels": ["client-bravo"],
                "issuetype": {"name": "Incident"},
                "project": {"key": "OPS"},
                "created": "2026-11-28T09:15:00.000+0800",
            },
        },
    }
    answer = post(f"{sites.intake}/webhooks/jira/{SITE}", json.dumps(payload).encode(), SITE_SECRET)
    assert answer.status_code == 202, answer.text
    detail = answer.json()["detail"]
    assert "project OPS" in detail and f"site '{SITE}'" in detail
    assert "Incident issues in SEC" in detail
    assert sites.incident(f"OPS-7.{SITE}") == {"status": 404}


def test_an_issue_labelled_for_another_sites_client_is_explained_on_its_own_site(
    sites: TwoSites, agents: tuple[JIRA, JIRA]
) -> None:
    _, harbour = agents
    key = new_issue(harbour, "Caller reports a phishing SMS", "client-alpha")

    def explained() -> list[str]:
        return [str(c.body) for c in harbour.comments(key)]

    said = wait_for(explained, lambda cs: any("did not open an incident" in c for c in cs))
    assert any("client 'alpha' keeps its incidents in Jira site 'default'" in c for c in said)
    assert sites.incident(f"{key}.{SITE}") == {"status": 404}


def test_an_issue_property_naming_another_sites_incident_moves_nothing(
    sites: TwoSites, agents: tuple[JIRA, JIRA]
) -> None:
    default, harbour = agents
    theirs = new_issue(default, "Invoice fraud attempt reported by finance")
    wait_for(lambda: sites.incident(theirs).get("state"), lambda s: s == "TRIAGE")
    # On harbour, someone points an issue at alpha's incident, then validates it. (The issue
    # is one that started nothing, so no incident of harbour's writes its own property there.)
    key = new_issue(harbour, "Suspicious login alert", "client-alpha")
    wait_for(lambda: [str(c.body) for c in harbour.comments(key)], bool)
    harbour.add_issue_property(key, "incident-desk", {"workflowId": f"incident-{theirs}"})
    harbour.transition_issue(key, "41")

    def moved() -> list[dict[str, Any]]:
        return [
            d for d in sites.deliveries(key, "jira:issue_updated") if '"Validated"' in d["body"]
        ]

    delivery = wait_for(moved, lambda ds: ds and ds[0]["state"] != "pending")[0]
    assert delivery["state"] == "delivered"
    # Asked again (past this instance's memory of the delivery): what the intake made of it.
    again = {**delivery, "headers": {**delivery["headers"]}}
    again["headers"]["X-Atlassian-Webhook-Identifier"] = str(uuid.uuid4())
    answer = replay(sites.stack.settings, again, f"{sites.intake}/webhooks/jira/{SITE}")
    assert answer.status_code == 202, answer.text
    assert f"kept on Jira site 'default', not '{SITE}'" in answer.json()["detail"]
    view = sites.incident(theirs)
    assert view["state"] == "TRIAGE" and view["validated_by"] is None
