"""The escalation chain end to end on the whole stack, with a PagerDuty acknowledgement.

A test client whose SEV1 chain gives level 1 three seconds, so escalation happens in real time
within the test. The acknowledgement goes the way a responder's would: pressed on the pager
(the sandbox), delivered as a signed v3 webhook to the intake, turned into the update.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.settings import Settings
from incident_desk.stack import PAGER_WEBHOOK_SECRET_FILE, Stack
from integrations.temporal import connect
from tests.support.stacks import api_client, running_stack, wait_for

REPO = Path(__file__).resolve().parents[2]
L1_TIMEOUT_S = 3

CHAIN_CLIENT = f"""
id: chaintest
name: Chain Test Ltd
default_severity: SEV3
escalation:
  SEV1:
    - {{targets: [soc-oncall], ack_timeout: PT{L1_TIMEOUT_S}S}}
    - {{targets: [soc-manager, client-cert], ack_timeout: PT10M}}
escalation_repeats: 0
no_responder_target: ops-manager
"""

REPORTER = {"name": "Maria Santos", "contact": "maria.santos@example.com"}
DESCRIPTION = "Maria Santos (+63 917 555 0101) got a call asking for her one-time code."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(REPO / "policies" / "clients", policies / "clients")
    (policies / "clients" / "chaintest.yaml").write_text(CHAIN_CLIENT)
    with running_stack(tmp_path_factory.mktemp("state"), policies_dir=policies) as stack:
        yield stack


@pytest.fixture(scope="module")
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with api_client(stack) as client:
        yield client


def events(settings: Settings, dedup_key: str) -> list[dict]:
    response = httpx.get(
        f"{settings.pager_sandbox_url}/sandbox/events", params={"dedup_key": dedup_key}
    )
    response.raise_for_status()
    return response.json()


def history_event_types(settings: Settings, workflow_id: str) -> list[str]:
    async def fetch() -> list[str]:
        handle = (await connect(settings.temporal_target)).get_workflow_handle(workflow_id)
        history = await handle.fetch_history()
        return [type(e).__name__ + ":" + e.WhichOneof("attributes") for e in history.events]

    return asyncio.run(fetch())


def test_sev1_escalates_on_time_and_a_pagerduty_ack_stops_it(
    stack: Stack, settings: Settings, http: httpx.Client
) -> None:
    api = settings.intake_base_url
    secret_file = settings.state_dir.resolve() / PAGER_WEBHOOK_SECRET_FILE
    assert secret_file.stat().st_mode & 0o777 == 0o600

    accepted = http.post(
        f"{api}/api/v1/incidents",
        json={
            "client": "chaintest",
            "summary": "Maria Santos was asked for her one-time code by phone",
            "description": DESCRIPTION,
            "channel": "phone",
            "validation": {"by": "filing.agent"},  # validated on filing: paged at once
            "reporter": REPORTER,
            "category": "social_engineering",
            "severity": "SEV1",
            "external_ref": "E2E-CHAIN-1",
        },
    )
    assert accepted.status_code == 202, accepted.text
    wf = accepted.json()["workflow_id"]
    level2 = f"{wf}~L2"

    first = wait_for(lambda: events(settings, wf), lambda e: len(e) >= 1)[0]
    second = wait_for(lambda: events(settings, level2), lambda e: len(e) >= 1, timeout=20)[0]
    waited = datetime.fromisoformat(second["received_at"]) - datetime.fromisoformat(
        first["received_at"]
    )
    # On time: not before level 1's timeout, and within a few seconds of it.
    assert L1_TIMEOUT_S <= waited.total_seconds() < L1_TIMEOUT_S + 5, waited
    assert "Level 2 of 2 (soc-manager, client-cert)" in second["payload"]["payload"]["summary"]

    # The responder presses "Acknowledge" on the level-2 page; PagerDuty calls us back.
    pressed = httpx.post(
        f"{settings.pager_sandbox_url}/sandbox/alerts/{level2}/acknowledge",
        json={"by": "Mo Responder"},
    )
    assert pressed.status_code == 200, pressed.text
    assert pressed.json()["webhook"]["delivered"] is True, pressed.json()
    view = http.get(f"{api}/api/v1/incidents/{wf}").json()
    assert view["acknowledged_by"] == "Mo Responder"
    assert view["acknowledged_via"] == "pagerduty"

    # The level-2 timer was cancelled by the acknowledgement: the chain has stopped.
    types = wait_for(
        lambda: history_event_types(settings, wf),
        lambda t: any("timer_canceled" in x for x in t),
        timeout=15,
    )
    assert sum("timer_started" in x for x in types) == 2

    # A later acknowledgement from the CLI is recorded, not refused; then resolve.
    runner = CliRunner(env={"INCIDENT_DESK_STATE_DIR": str(stack.state_dir)})
    again = runner.invoke(app, ["ack", wf, "--by", "ana.oncall", "--url", api])
    assert again.exit_code == 0, again.output
    assert "acknowledged_by: Mo Responder" in again.output
    resolved = runner.invoke(app, ["resolve", wf, "--by", "Mo Responder", "--url", api])
    assert resolved.exit_code == 0, resolved.output
    assert "resolved_by: Mo Responder" in resolved.output

    alerts = wait_for(
        lambda: httpx.get(f"{settings.pager_sandbox_url}/sandbox/alerts").json(),
        lambda a: (
            {x["dedup_key"]: x["status"] for x in a}.get(level2) == "resolved"
            and {x["dedup_key"]: x["status"] for x in a}.get(wf) == "resolved"
        ),
    )
    ours = sorted(x["dedup_key"] for x in alerts if x["dedup_key"].startswith(wf))
    assert ours == [wf, level2]  # nothing beyond level 2 was ever paged
    final = http.get(f"{api}/api/v1/incidents/{wf}").json()
    acks = [(e["event"], e["by"]) for e in final["timeline"] if "acknowledged" in e["event"]]
    assert acks == [("acknowledged", "Mo Responder"), ("also_acknowledged", "ana.oncall")]

    # No page payload carries the reporter or the free text.
    for key in (wf, level2):
        for event in events(settings, key):
            text = str(event["payload"])
            for personal in ("Maria", "Santos", "maria.santos@", "917", "one-time code"):
                assert personal not in text, (key, personal)
