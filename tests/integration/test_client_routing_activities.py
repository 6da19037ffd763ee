"""The Jira and notice activities route by client, run as Temporal runs them (ActivityEnvironment)
against two Jira stand-ins and the SMTP stand-in over real HTTP and SMTP.

The stack test (test_multi_client_stack.py) shows tickets landing per client through the real
worker; this one covers what follows the ticket: comments and status changes on the client's own
site, the client's status names, the client's sender identity, and the client read from the
workflow when the request does not name it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.jira import CommentRequest, JiraActivities, TicketRequest, TransitionRequest
from activities.notify import NoticeRequest, NotifyActivities
from activities.policy_files import PolicyFiles
from incidents.notification import NoticeContent, Recipient
from integrations.jira_sites import JiraSite, JiraSites
from integrations.smtp import Mailer, SmtpConfig
from sandbox.jira import create_app as jira_app
from sandbox.smtp import MessageStore
from sandbox.smtp import create_app as smtp_app
from tests.support.servers import free_port, run_app

PAT = "beta-pat"


@dataclass
class World:
    home: str
    beta: str
    policies: Path
    lookups: list[str]

    def activities(self) -> JiraActivities:
        sites = JiraSites(
            {
                "default": JiraSite(url=self.home, user="sandbox", token=SecretStr("sandbox")),
                "beta-dc": JiraSite(
                    url=self.beta, auth="datacenter", token=SecretStr(PAT), project="BETA"
                ),
            }
        )

        async def client_of(workflow_id: str) -> str | None:
            # Stands in for the IncidentClient search attribute read from Temporal.
            self.lookups.append(workflow_id)
            return workflow_id.split("-")[1]

        return JiraActivities(sites, PolicyFiles(self.policies), client_of)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clients = tmp_path / "policies" / "clients"
    clients.mkdir(parents=True)
    (clients / "alpha.yaml").write_text("id: alpha\nname: Alpha\n")
    (clients / "beta.yaml").write_text(
        "id: beta\nname: Beta\njira:\n  site: beta-dc\n  statuses: {Done: In Progress}\n"
        "notice_sender: {address: beta-desk@bpo.example, name: Beta Security Desk}\n"
    )
    beta = jira_app(tmp_path / "beta.db", token=PAT, project_key="BETA", flavour="datacenter")
    with run_app(jira_app(tmp_path / "home.db")) as home, run_app(beta) as beta_url:
        yield World(home, beta_url, tmp_path / "policies", [])


def issues(url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/sandbox/issues", timeout=10).json()


def env_for(workflow_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id)
    return env


async def test_comments_and_transitions_follow_the_client_to_its_site(world: World) -> None:
    acts = world.activities()
    env = env_for("incident-beta-7")
    key = await env.run(
        acts.create_jira_ticket,
        TicketRequest(workflow_id="incident-beta-7", summary="s", description="d", labels=[]),
    )
    assert key == "BETA-1"
    await env.run(acts.comment_jira_ticket, CommentRequest(key=key, body="Paged on-call"))
    await env.run(acts.transition_jira_ticket, TransitionRequest(key=key, status="Done"))
    [issue] = issues(world.beta)
    assert issue["status"] == "In Progress"  # beta's name for our "Done"
    assert [c["body"] for c in issue["comments"]] == ["Paged on-call"]
    assert issues(world.home) == []
    assert world.lookups == ["incident-beta-7"]  # looked up once, then remembered


async def test_a_client_named_in_the_request_needs_no_lookup(world: World) -> None:
    acts = world.activities()
    key = await env_for("incident-x").run(
        acts.create_jira_ticket,
        TicketRequest(
            workflow_id="incident-x", summary="s", description="d", labels=[], client="alpha"
        ),
    )
    assert key == "SEC-1" and world.lookups == []
    await env_for("incident-x").run(
        acts.transition_jira_ticket, TransitionRequest(key=key, status="Done", client="alpha")
    )
    assert issues(world.home)[0]["status"] == "Done"


async def test_the_deployment_done_status_applies_unless_the_policy_names_its_own(
    world: World,
) -> None:
    """JIRA_DONE_STATUS renames our "Done" for clients whose policy does not."""
    sites = JiraSites(
        {"default": JiraSite(url=world.home, user="sandbox", token=SecretStr("sandbox"))}
    )
    acts = JiraActivities(sites, PolicyFiles(world.policies), None, done_status="Closed")
    env = env_for("incident-alpha-9")
    key = await env.run(
        acts.create_jira_ticket,
        TicketRequest(
            workflow_id="incident-alpha-9", summary="s", description="d", labels=[], client="alpha"
        ),
    )
    await env.run(acts.transition_jira_ticket, TransitionRequest(key=key, status="done"))
    assert issues(world.home)[0]["status"] == "Closed"


async def test_a_policy_naming_an_unconfigured_site_fails_without_retries(world: World) -> None:
    (world.policies / "clients" / "gamma.yaml").write_text(
        "id: gamma\nname: Gamma\njira: {site: nowhere}\n"
    )
    with pytest.raises(ApplicationError) as raised:
        await env_for("incident-gamma-1").run(
            world.activities().comment_jira_ticket, CommentRequest(key="SEC-1", body="x")
        )
    assert raised.value.non_retryable and "'nowhere' is not configured" in str(raised.value)


def sent_from(smtp_http: str) -> list[tuple[str, str]]:
    """(name, address) of each message's From header, as the client's mail program reads it."""
    senders = []
    for message in httpx.get(f"{smtp_http}/sandbox/messages", timeout=5).json():
        raw = httpx.get(f"{smtp_http}/sandbox/messages/{message['id']}/raw", timeout=5).text
        senders.append(parseaddr(message_from_string(raw)["From"]))
    return senders


async def test_notices_come_from_the_clients_sender_identity(world: World, tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "smtp.db")
    port = free_port()
    with run_app(smtp_app(store, "127.0.0.1", port)) as smtp_http:
        mailer = Mailer(SmtpConfig(host="127.0.0.1", port=port, sender="desk@bpo.example"))

        async def client_of(workflow_id: str) -> str | None:
            return workflow_id.split("-")[1]

        notify = NotifyActivities(
            mailer, None, "http://intake", policies=PolicyFiles(world.policies), client_of=client_of
        )
        now = datetime.now(UTC)
        for workflow_id in ("incident-beta-1", "incident-alpha-1"):
            content = NoticeContent(
                kind="notification",
                incident_id=workflow_id.removeprefix("incident-"),
                client_name="Client",
                jira_key=None,
                severity="SEV2",
                incident_type="phishing",
                aware_at=now,
                received_at=now,
                timezone="UTC",
                link_expires_at=now + timedelta(days=1),
            )
            await env_for(workflow_id).run(
                notify.send_client_notice,
                NoticeRequest(
                    workflow_id=workflow_id,
                    purpose="notification",
                    recipient=Recipient(name="SOC", email="soc@client.example", language="en"),
                    content=content,
                ),
            )
        senders = sent_from(smtp_http)
    assert sorted(senders) == [
        ("", "desk@bpo.example"),
        ("Beta Security Desk", "beta-desk@bpo.example"),
    ]
