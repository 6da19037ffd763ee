"""A client in a Temporal namespace of its own (issue #12), on one running stack.

`alpha` stays in the deployment's namespace (TEMPORAL_NAMESPACE, `default`); `nord`'s policy
names `nord-ns`. The dev server is started with both, the worker polls both, and the intake
starts, acts on, queries and lists each client's incidents in its own namespace.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from jira import JIRA
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.connection import connect_configured
from incident_desk.namespaces import clients_for
from incident_desk.settings import Settings
from incident_desk.stack import Stack, settings_env
from incident_desk.tokens import Role
from tests.support.stacks import REPO, api_client, make_token, running_stack, wait_for

OWN = "nord-ns"
POLICY = """
id: {id}
name: {id} Ltd
timezone: Europe/Berlin
role: processor
jurisdictions: [DE]
sites: [IE]
contract:
  clause: "DPA clause 8.2"
  notify_within: PT24H
contacts:
  - name: Security Desk
    email: soc@{id}.example
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("namespaces")
    policies = root / "policies"
    shutil.copytree(REPO / "policies" / "sops", policies / "sops")
    (policies / "clients").mkdir()
    (policies / "clients" / "alpha.yaml").write_text(POLICY.format(id="alpha"))
    (policies / "clients" / "nord.yaml").write_text(
        POLICY.format(id="nord") + f"temporal:\n  namespace: {OWN}\n"
    )
    with running_stack(root / "state", policies_dir=policies) as running:
        yield running


def file(api: httpx.Client, settings: Settings, client: str) -> str:
    response = api.post(
        f"{settings.intake_base_url}/api/v1/incidents",
        json={
            "client": client,
            "summary": f"Phishing reported by a {client} customer",
            "description": "A lookalike domain asked for card details.",
            "channel": "phone",
            "validation": {"by": "filing.agent"},  # validated on filing: paged at once
            "reporter": {"name": "Caller", "contact": f"caller-{uuid.uuid4().hex[:6]}@ex.com"},
            "aware_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "category": "phishing",
            "external_ref": f"CALL-{uuid.uuid4().hex[:8]}",
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["workflow_id"])


async def _whereabouts(settings: Settings, workflow_id: str) -> dict[str, str]:
    """Each namespace -> "RUNNING"/"COMPLETED"/... or "absent"."""
    base = await connect_configured(settings)
    found: dict[str, str] = {}
    for namespace, client in clients_for(base, [settings.temporal_namespace, OWN]).items():
        try:
            found[namespace] = (
                await client.get_workflow_handle(workflow_id).describe()
            ).status.name  # type: ignore[union-attr]
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND, exc
            found[namespace] = "absent"
    return found


def whereabouts(settings: Settings, workflow_id: str) -> dict[str, str]:
    return asyncio.run(_whereabouts(settings, workflow_id))


async def _listed(settings: Settings, namespace: str, query: str) -> list[str]:
    base = await connect_configured(settings)
    client = clients_for(base, [namespace])[namespace]
    return [wf.id async for wf in client.list_workflows(query)]


def pages(settings: Settings, dedup_key: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{settings.pager_sandbox_url}/sandbox/events", params={"dedup_key": dedup_key}
    )
    response.raise_for_status()
    return list(response.json())


def test_each_client_runs_and_is_acted_on_in_its_own_namespace(stack: Stack) -> None:
    settings = stack.settings
    base = settings.intake_base_url
    health = httpx.get(f"{base}/healthz").json()
    assert health["ready"] is True, health
    assert OWN in health["dependencies"]["worker"]["detail"]

    with api_client(stack) as api:
        alpha, nord = file(api, settings, "alpha"), file(api, settings, "nord")
        assert whereabouts(settings, alpha) == {"default": "RUNNING", OWN: "absent"}
        assert whereabouts(settings, nord) == {"default": "absent", OWN: "RUNNING"}

        def view(workflow_id: str) -> dict[str, Any]:
            return dict(api.get(f"{base}/api/v1/incidents/{workflow_id}").json())

        for workflow_id, namespace in ((alpha, "default"), (nord, OWN)):
            escalated = wait_for(
                lambda w=workflow_id: view(w),
                lambda v: v.get("state") == "ESCALATED" and v.get("jira_key"),
                timeout=60,
            )
            issues = httpx.get(f"{settings.jira_base_url}/sandbox/issues").json()
            assert escalated["jira_key"] in {i["key"] for i in issues}
            trigger = wait_for(lambda w=workflow_id: pages(settings, w), bool)[0]["payload"]
            # The responder's link opens the incident in its own namespace.
            ui = f"/namespaces/{namespace}/workflows/{workflow_id}"
            assert any(ui in link["href"] for link in trigger["links"]), trigger["links"]

        for workflow_id in (alpha, nord):
            acked = api.post(f"{base}/api/v1/incidents/{workflow_id}/ack", json={"by": "ana"})
            assert acked.status_code == 200, acked.text
            assert acked.json()["acknowledged_by"] == "ana"
            resolved = api.post(
                f"{base}/api/v1/incidents/{workflow_id}/resolve",
                json={"by": "ana", "note": "lookalike domain blocked"},
            )
            assert resolved.status_code == 200, resolved.text
            assert resolved.json()["resolved_at"] is not None
            status = api.get(f"{base}/api/v1/incidents/{workflow_id}/status")
            assert status.status_code == 200, status.text
            assert status.json()["resolved_at"] == resolved.json()["resolved_at"]
            report = api.get(f"{base}/api/v1/incidents/{workflow_id}/report?format=md")
            assert report.status_code == 200, report.text
        assert "/namespaces/nord-ns/workflows/" in report.text


def test_listing_fans_out_over_the_namespaces_a_token_sees(stack: Stack) -> None:
    settings = stack.settings
    base = settings.intake_base_url
    with api_client(stack) as api:
        alpha, nord = file(api, settings, "alpha"), file(api, settings, "nord")

        def listed(headers: dict[str, str], **params: Any) -> set[str]:
            response = httpx.get(f"{base}/api/v1/incidents", headers=headers, params=params)
            assert response.status_code == 200, response.text
            return {s["workflow_id"] for s in response.json()}

        admin = dict(api.headers)
        wait_for(lambda: listed(admin), lambda ids: {alpha, nord} <= ids)
        assert nord in listed(admin, client="nord") and alpha not in listed(admin, client="nord")
        assert len(listed(admin, limit=1)) == 1

    only_nord = make_token(settings, Role.ON_CALL, clients=("nord",))
    only_alpha = make_token(settings, Role.ON_CALL, clients=("alpha",))
    nord_sees = listed(only_nord)
    assert nord in nord_sees and alpha not in nord_sees
    assert all(w.startswith("incident-nord-") for w in nord_sees)
    alpha_sees = listed(only_alpha)
    assert alpha in alpha_sees and nord not in alpha_sees
    # Another client's incident, in another namespace, is "no incident" to a scoped token.
    assert httpx.get(f"{base}/api/v1/incidents/{nord}", headers=only_alpha).status_code == 404
    assert httpx.get(f"{base}/api/v1/incidents/{nord}", headers=only_nord).status_code == 200


def test_search_attributes_are_registered_in_the_clients_namespace(stack: Stack) -> None:
    settings = stack.settings
    with api_client(stack) as api:
        nord = file(api, settings, "nord")
    query = f"IncidentClient = 'nord' AND WorkflowId = '{nord}'"
    found = wait_for(lambda: asyncio.run(_listed(settings, OWN, query)), bool)
    assert found == [nord]
    assert asyncio.run(_listed(settings, "default", "IncidentClient = 'nord'")) == []


def test_an_incident_born_in_jira_is_found_in_its_clients_namespace(stack: Stack) -> None:
    """A Jira event names an issue, not a client: the intake finds the incident by its id in
    whichever namespace holds it, so agents' comments reach `nord`'s incidents too."""
    settings = stack.settings
    agent = JIRA(server=settings.jira_base_url, basic_auth=("agent", "agent"), max_retries=0)
    try:
        key = str(
            agent.create_issue(
                fields={
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Incident"},
                    "summary": "Caller reports a lookalike login page",
                    "description": "Logged during the call.",
                    "labels": ["client-nord", "channel-phone"],
                }
            ).key
        )
        workflow_id = f"incident-{key}"
        wait_for(
            lambda: whereabouts(settings, workflow_id),
            lambda w: w == {"default": "absent", OWN: "RUNNING"},
            timeout=60,
        )
        agent.add_comment(key, "Caller confirms the page asked for the one-time code.")
        with api_client(stack) as api:
            view = wait_for(
                lambda: api.get(f"{settings.intake_base_url}/api/v1/incidents/{key}").json(),
                lambda v: any("one-time code" in e["detail"] for e in v.get("timeline", [])),
                timeout=60,
            )
        assert view["workflow_id"] == workflow_id
    finally:
        agent.close()


def test_metrics_and_the_digest_cli_reach_each_clients_namespace(stack: Stack) -> None:
    settings = stack.settings
    with api_client(stack) as api:
        alpha, nord = file(api, settings, "alpha"), file(api, settings, "nord")
    for workflow_id, namespace in ((alpha, "default"), (nord, OWN)):
        wait_for(
            lambda w=workflow_id, n=namespace: asyncio.run(
                _listed(settings, n, f"WorkflowId = '{w}'")
            ),
            bool,
        )
    env = settings_env(settings)
    runner = CliRunner()
    counted = runner.invoke(app, ["metrics", "--since", "1d", "--format", "json"], env=env)
    assert counted.exit_code == 0, counted.output
    by_client = json.loads(counted.output)["by_client"]
    assert {"alpha", "nord"} <= set(by_client), by_client
    # The worker made nord's digest schedule in nord-ns; the CLI finds it there.
    sent = wait_for(
        lambda: runner.invoke(app, ["digest", "send", "nord"], env=env),
        lambda result: result.exit_code == 0,
    )
    assert "digest-nord: triggered" in sent.output
