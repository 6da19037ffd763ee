"""A chain whose first level is on Opsgenie, end to end on the whole stack.

The responder acknowledges in the Opsgenie sandbox, which calls the intake back like Opsgenie's
webhook integration; that stops the chain, and resolving closes the Opsgenie alert. No page on
any pager carries the reporter's details or the free text.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from incident_desk.stack import Stack
from integrations.temporal import connect
from tests.support.stacks import api_client, running_stack, wait_for

REPO = Path(__file__).resolve().parents[2]

CLIENT = """
id: opsgenietest
name: Opsgenie Test Ltd
default_severity: SEV3
escalation:
  SEV1:
    - {targets: [soc-oncall], ack_timeout: PT10M}
    - {targets: [soc-manager], ack_timeout: PT10M}
escalation_repeats: 0
pagers:
  targets:
    soc-oncall: {kind: opsgenie, destination: BPO SOC}
"""

REPORTER = {"name": "Maria Santos", "contact": "maria.santos@example.com"}
DESCRIPTION = "Maria Santos (+63 917 555 0101) got a call asking for card 4111 1111 1111 1111."
PII = ("Maria", "Santos", "maria.santos@example.com", "+63 917", "4111", "got a call")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(REPO / "policies" / "clients", policies / "clients")
    (policies / "clients" / "opsgenietest.yaml").write_text(CLIENT)
    with running_stack(tmp_path_factory.mktemp("state"), policies_dir=policies) as stack:
        yield stack


def history_event_types(stack: Stack, workflow_id: str) -> list[str]:
    async def fetch() -> list[str]:
        handle = (await connect(stack.settings.temporal_target)).get_workflow_handle(workflow_id)
        history = await handle.fetch_history()
        return [e.WhichOneof("attributes") or "" for e in history.events]

    return asyncio.run(fetch())


def test_opsgenie_ack_stops_the_chain_and_resolve_closes_the_alert(stack: Stack) -> None:
    s = stack.settings
    api = s.intake_base_url
    opsgenie = s.opsgenie_sandbox_url
    with api_client(stack) as http:
        accepted = http.post(
            f"{api}/api/v1/incidents",
            json={
                "client": "opsgenietest",
                "summary": "Maria Santos was asked for her card number by phone",
                "description": DESCRIPTION,
                "channel": "phone",
                "validation": {"by": "filing.agent"},  # validated on filing: paged at once
                "reporter": REPORTER,
                "category": "social_engineering",
                "severity": "SEV1",
                "external_ref": "E2E-OG-1",
            },
        )
        assert accepted.status_code == 202, accepted.text
        wf = accepted.json()["workflow_id"]

        alerts = wait_for(
            lambda: httpx.get(f"{opsgenie}/sandbox/alerts", params={"alias": wf}).json(),
            lambda a: len(a) == 1,
        )
        assert alerts[0]["priority"] == "P1"
        assert alerts[0]["body"]["responders"] == [{"type": "team", "name": "BPO SOC"}]
        # Level 1 is on Opsgenie only: PagerDuty did not get it.
        pd = httpx.get(f"{s.pager_sandbox_url}/sandbox/events", params={"dedup_key": wf}).json()
        assert pd == []

        pressed = httpx.post(
            f"{opsgenie}/sandbox/alerts/{wf}/acknowledge", json={"by": "mo.responder@bpo.example"}
        )
        assert pressed.status_code == 200, pressed.text
        assert pressed.json()["webhook"]["delivered"] is True, pressed.json()
        view = http.get(f"{api}/api/v1/incidents/{wf}").json()
        assert view["acknowledged_by"] == "mo.responder@bpo.example"
        assert view["acknowledged_via"] == "opsgenie"

        # The chain has stopped: any acknowledgement timer started was cancelled, and the
        # workflow knows of one page only.
        wait_for(
            lambda: history_event_types(stack, wf),
            lambda t: (
                "timer_started_event_attributes" not in t or "timer_canceled_event_attributes" in t
            ),
            timeout=15,
        )
        assert [p["dedup_key"] for p in view.get("pages", [])] in ([], [wf])
        assert httpx.get(f"{opsgenie}/sandbox/alerts", params={"alias": f"{wf}~L2"}).json() == []

        # A wrong token is refused before the body is read.
        refused = httpx.post(
            f"{api}/webhooks/opsgenie",
            content=b"not json",
            headers={"X-Incident-Desk-Token": "wrong"},
        )
        assert refused.status_code == 401

        resolved = http.post(
            f"{api}/api/v1/incidents/{wf}/resolve", json={"by": "mo.responder", "note": "done"}
        )
        assert resolved.status_code == 200, resolved.text

    wait_for(
        lambda: httpx.get(f"{opsgenie}/sandbox/alerts", params={"alias": wf}).json(),
        lambda a: a[0]["status"] == "closed",
    )
    sent = json.dumps(httpx.get(f"{opsgenie}/sandbox/requests").json())
    sent += json.dumps(httpx.get(f"{s.pager_sandbox_url}/sandbox/events").json())
    for fragment in PII:
        assert fragment not in sent, fragment
