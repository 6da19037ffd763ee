"""The whole stack as `make run` starts it, on free ports and its own state directory.

Real parts only: the Temporal dev server from the venv, the Jira and PagerDuty stand-ins, the
worker and the intake server as separate processes, driven over HTTP and read back with the
`jira` library and the Temporal client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jira import JIRA
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.settings import Settings
from incident_desk.stack import Stack, StackError
from integrations.temporal import connect
from tests.support.servers import free_port
from tests.support.stacks import api_client, running_stack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


@pytest.fixture(scope="module")
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with api_client(stack) as client:
        yield client


def report(**overrides: object) -> dict:
    # One caller per report: repeat reports from one contact are linked as duplicates.
    ref = str(overrides.get("external_ref", "none")).lower()
    return {
        "client": "demo",
        "summary": "Caller reports a phishing email asking for her bank PIN",
        "description": "Maria Santos forwarded the mail from a lookalike domain.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        "reporter": {"name": "Maria Santos", "contact": f"maria+{ref}@example.com"},
        # Relative to now, so that no clock is already overdue on the day the suite runs.
        "aware_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "category": "phishing",
        **overrides,
    }


def pages(settings: Settings, dedup_key: str) -> list[dict]:
    response = httpx.get(
        f"{settings.pager_sandbox_url}/sandbox/events", params={"dedup_key": dedup_key}
    )
    response.raise_for_status()
    return response.json()


def jira_client(settings: Settings) -> JIRA:
    return JIRA(
        server=settings.jira_base_url,
        basic_auth=(settings.jira_user, settings.jira_token.get_secret_value()),
        max_retries=0,
    )


def test_incident_from_intake_to_ticket_page_and_resolution(
    stack: Stack, settings: Settings, http: httpx.Client
) -> None:
    api = settings.intake_base_url
    health = httpx.get(f"{api}/healthz").json()
    assert health["ready"] is True
    assert set(health["dependencies"]) >= {"temporal", "worker", "jira", "pager"}

    posted_at = datetime.now(UTC)
    accepted = http.post(f"{api}/api/v1/incidents", json=report(external_ref="CALL-1001"))
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    workflow_id = body["workflow_id"]
    assert workflow_id == "incident-demo-CALL-1001"
    assert body["incident_id"] == "demo-CALL-1001"

    events = wait_for(lambda: pages(settings, workflow_id), lambda e: len(e) >= 1)
    trigger = events[0]["payload"]
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == workflow_id
    assert "Maria" not in str(trigger) and "maria+" not in str(trigger)
    page_latency = datetime.fromisoformat(events[0]["received_at"]) - posted_at
    print(f"\nPOST to page at the pager sandbox: {page_latency.total_seconds() * 1000:.0f} ms")

    view = wait_for(
        lambda: http.get(body["status_url"]).json(), lambda v: v.get("jira_key") is not None
    )
    key = view["jira_key"]
    jira = jira_client(settings)
    found = jira.search_issues(f'issue.property[incident-desk].workflowId = "{workflow_id}"')
    assert [issue.key for issue in found] == [key]
    assert "phishing" in jira.issue(key).fields.summary

    # The same client + external_ref again is the same incident, not a second one.
    again = http.post(f"{api}/api/v1/incidents", json=report(external_ref="CALL-1001"))
    assert again.status_code == 202
    assert again.json()["workflow_id"] == workflow_id

    # Visible to operations by its search attributes (visibility is eventually consistent).
    async def listed() -> list[str]:
        client = await connect(settings.temporal_target)
        query = f"IncidentClient = 'demo' AND JiraKey = '{key}'"
        for _ in range(100):
            ids = [wf.id async for wf in client.list_workflows(query)]
            if ids:
                return ids
            await asyncio.sleep(0.2)
        return []

    assert asyncio.run(listed()) == [workflow_id]

    refused = http.post(f"{api}/api/v1/incidents/{workflow_id}/resolve", json={"by": "ana"})
    assert refused.status_code == 409
    assert "acknowledge it first" in refused.json()["detail"]

    acked = http.post(f"{api}/api/v1/incidents/demo-CALL-1001/ack", json={"by": "ana"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "ana"
    resolved = http.post(
        f"{api}/api/v1/incidents/{workflow_id}/resolve", json={"by": "ana", "note": "contained"}
    )
    assert resolved.status_code == 200, resolved.text
    # Resolution opens the post-incident review; the incident ends when it is closed with it.
    closed = http.post(
        f"{api}/api/v1/incidents/{workflow_id}/close",
        json={
            "by": "lead",
            "review": {"root_cause": "Social engineering of a new agent"},
            "waive_open_stages": "not under test here",
        },
    )
    assert closed.status_code == 200, closed.text

    async def final_status() -> str:
        handle = (await connect(settings.temporal_target)).get_workflow_handle(workflow_id)
        await handle.result()
        return (await handle.describe()).status.name

    assert asyncio.run(asyncio.wait_for(final_status(), 30)) == "COMPLETED"
    late = http.post(f"{api}/api/v1/incidents/{workflow_id}/ack", json={"by": "bob"})
    assert late.status_code == 409
    assert "is closed" in late.json()["detail"]
    actions = [e["payload"]["event_action"] for e in pages(settings, workflow_id)]
    assert actions == ["trigger", "acknowledge", "resolve"]
    assert jira.issue(key).fields.status.name == "Done"
    assert (
        len(jira.search_issues(f'issue.property[incident-desk].workflowId = "{workflow_id}"')) == 1
    )


def test_bad_input_is_refused_with_the_field_named(
    stack: Stack, settings: Settings, http: httpx.Client
) -> None:
    api = settings.intake_base_url
    bad = http.post(f"{api}/api/v1/incidents", json=report(channel="fax", aware_at="yesterday"))
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"channel", "aware_at"}

    not_json = http.post(
        f"{api}/api/v1/incidents", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["errors"][0]["field"] == "body"
    assert "not valid JSON" in not_json.json()["detail"]

    unknown = http.post(f"{api}/api/v1/incidents", json=report(client="nobody"))
    assert unknown.status_code == 422
    assert "nobody" in unknown.json()["detail"] and "demo" in unknown.json()["detail"]

    assert http.get(f"{api}/api/v1/incidents/demo-does-not-exist").status_code == 404
    assert httpx.get(f"{api}/docs").status_code == 200
    paths = httpx.get(f"{api}/openapi.json").json()["paths"]
    assert "/api/v1/incidents/{incident_id}/ack" in paths


def test_open_incidents_survive_a_restart(
    stack: Stack, settings: Settings, http: httpx.Client
) -> None:
    api = settings.intake_base_url
    accepted = http.post(f"{api}/api/v1/incidents", json=report(external_ref="CALL-2002"))
    status_url = accepted.json()["status_url"]
    before = wait_for(lambda: http.get(status_url).json(), lambda v: v.get("jira_key"))

    stack.stop()
    stack.start()

    after = http.get(status_url).json()
    assert after["state"] == "ESCALATED"
    assert after["jira_key"] == before["jira_key"]
    acked = http.post(f"{api}/api/v1/incidents/demo-CALL-2002/ack", json={"by": "ben"})
    assert acked.status_code == 200, acked.text
    assert jira_client(settings).issue(before["jira_key"]).fields.summary


def test_the_api_needs_a_token_and_make_run_keeps_one_for_the_cli(
    stack: Stack, settings: Settings, http: httpx.Client
) -> None:
    api = settings.intake_base_url
    assert stack.admin_token_path == stack.state_dir / "admin-token"
    assert stack.admin_token_path.stat().st_mode & 0o777 == 0o600
    assert "Admin API token" in stack.urls()
    anonymous = httpx.post(f"{api}/api/v1/incidents", json=report(external_ref="ANON-1"))
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "authentication required"}

    filed = http.post(f"{api}/api/v1/incidents", json=report(external_ref="AUDIT-1"))
    assert filed.status_code == 202, filed.text
    wait_for(lambda: http.get(filed.json()["status_url"]).json(), lambda v: v.get("jira_key"))
    acked = http.post(f"{api}/api/v1/incidents/demo-AUDIT-1/ack", json={"by": "ana"})
    assert acked.status_code == 200, acked.text
    entry = next(e for e in acked.json()["timeline"] if e["event"] == "acknowledged")
    assert entry["by"] == "ana" and "API token local-admin" in entry["detail"]

    audit = [
        json.loads(line) for line in (stack.state_dir / "audit.jsonl").read_text().splitlines()
    ]
    mine = [(e["token"], e["method"], e["path"], e["client"], e["status"]) for e in audit]
    assert ("local-admin", "POST", "/api/v1/incidents", "demo", 202) in mine
    assert ("local-admin", "POST", "/api/v1/incidents/demo-AUDIT-1/ack", "demo", 200) in mine
    assert (None, "POST", "/api/v1/incidents", None, 401) in mine


def test_a_second_stack_on_the_same_ports_is_refused(stack: Stack, settings: Settings) -> None:
    with pytest.raises(StackError, match="ports already in use"):
        Stack(settings).start()


def test_cli_files_an_incident_and_shows_its_status(stack: Stack, settings: Settings) -> None:
    # No --token: the CLI finds the stack's admin token in its state dir, as after `make run`.
    runner = CliRunner(env={"INCIDENT_DESK_STATE_DIR": str(stack.state_dir)})
    api = settings.intake_base_url
    filed = runner.invoke(
        app,
        [
            "report", "--url", api,
            "--summary", "Employee lost an unencrypted USB stick",
            "--description", "Contained a call-recording export.",
            "--reporter-name", "Floor manager", "--reporter-contact", "ext 1200",
            "--channel", "walk_in", "--category", "lost_or_stolen_device",
            "--external-ref", "USB-7",
        ],
    )  # fmt: skip
    assert filed.exit_code == 0, filed.output
    assert "incident_id: demo-USB-7" in filed.output
    key = filed.output.split("jira_key: ")[1].split()[0]
    assert key.startswith(f"{settings.jira_project}-")

    shown = runner.invoke(app, ["status", "demo-USB-7", "--url", api])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["jira_key"] == key

    missing = runner.invoke(app, ["status", "demo-nope", "--url", api])
    assert missing.exit_code == 1
    assert "no incident 'demo-nope'" in missing.output


def test_cli_says_clearly_when_the_api_is_unreachable() -> None:
    result = CliRunner().invoke(app, ["status", "x", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "cannot reach the intake API" in result.output


def test_reporting_clocks_through_the_api(settings: Settings, http: httpx.Client) -> None:
    """EU personal data: the GDPR and contract clocks show with due instants, and a stage is
    marked done through the API with its evidence; refusals are 409, bad bodies 422."""
    api = settings.intake_base_url
    aware = datetime.now(UTC).replace(microsecond=0)
    filed = http.post(
        f"{api}/api/v1/incidents",
        json=report(
            external_ref="CALL-CLOCKS",
            aware_at=aware.isoformat(),
            data_categories=["personal"],
            jurisdictions=["DE"],
        ),
    )
    assert filed.status_code == 202, filed.text
    status_url = filed.json()["status_url"]
    view = wait_for(lambda: http.get(status_url).json(), lambda v: v.get("obligations"))
    due = {
        (o["id"], s["stage"]): s["due_at"]
        for o in view["obligations"]
        for s in o["stages"]
        if s["due_at"]
    }
    gdpr = datetime.fromisoformat(due[("eu_gdpr_art33_authority", "initial")])
    assert gdpr - aware == timedelta(hours=72)
    contract = ("contract_demo_processor_to_controller", "notification")
    assert datetime.fromisoformat(due[contract]) - aware == timedelta(hours=24)

    # Emailing the client's contacts discharges the contract stage by itself, with the
    # Message-IDs as evidence; then the GDPR clock is the next one.
    def stage_of(view: dict, key: tuple[str, str]) -> dict:
        obligation = next(o for o in view["obligations"] if o["id"] == key[0])
        return next(s for s in obligation["stages"] if s["stage"] == key[1])

    view = wait_for(
        lambda: http.get(status_url).json(), lambda v: stage_of(v, contract)["status"] == "done"
    )
    assert "@" in stage_of(view, contract)["reference"]
    assert datetime.fromisoformat(view["next_deadline"]) == gdpr

    authority = ("eu_gdpr_art33_authority", "initial")
    done_url = f"{status_url}/obligations/{authority[0]}/{authority[1]}/done"
    evidence = {"by": "client.dpo", "reference": "DPA case 2026-1142"}
    done = http.post(done_url, json=evidence)
    assert done.status_code == 200, done.text
    stage = stage_of(done.json(), authority)
    assert (stage["status"], stage["done_by"]) == ("done", "client.dpo")

    again = http.post(done_url, json=evidence)
    assert again.status_code == 409 and "already done" in again.json()["detail"]
    unknown = http.post(f"{status_url}/obligations/{authority[0]}/nope/done", json=evidence)
    assert unknown.status_code == 409 and "no stage 'nope'" in unknown.json()["detail"]
    assert http.post(done_url, json={"by": ""}).status_code == 422

    facts = http.post(f"{status_url}/facts", json={"by": "ana", "records_affected": 40})
    assert facts.status_code == 200, facts.text
    assert facts.json()["facts"]["records_affected"] == 40
    bad = http.post(f"{status_url}/facts", json={"by": "ana", "events": {"awareness": "x"}})
    assert bad.status_code == 422
