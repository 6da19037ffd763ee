"""Jira, pager and SMTP outages on the whole stack: incidents get through once the integration is
back, the clocks already armed fire on time meanwhile, and operations hear once per outage.

Each outage is staged in its sandbox for as long as the test wants (a fault count no test
reaches, then `DELETE /sandbox/faults`), so it looks to the worker like a real one: every call
fails, Temporal's retries back off, and the integration health workflow
(`integration-health-<name>`, fed by the worker's interceptor) declares it degraded once after
`degraded_after_seconds` with no success, and recovered at the first success.

A test client whose chain gives level 1 eight seconds: the outage starts while that timer is
armed, and its firing (level 2 paged, or its `ack_timeout` entry when the pager is the thing
that is down) is timed against the first page. Level 2 waits ten minutes, so nothing else moves.
The Jira test uses a second client whose level 2 also waits eight seconds: level 2 is paged
during the outage, so its timer is armed while its Jira comment cannot be written, and level 3
must still be paged on time.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError

from incident_desk.settings import Settings
from incident_desk.stack import Stack
from integrations.temporal import connect
from tests.faults.harness import (
    api_headers,
    issues_per_workflow,
    record_figures,
    report,
    wait_until,
)
from tests.faults.test_faults import alerts_by_key
from tests.support.stacks import running_stack
from workflows.integration_health import HealthView, IntegrationHealthWorkflow, health_workflow_id

REPO = Path(__file__).resolve().parents[2]
L1_TIMEOUT_S = 8
GRACE_S = 2.0  # degraded_after_seconds for this stack
OPS_EMAIL = "soc-ops@bpo.example"
CLIENT_EMAIL = "security@outage-client.example"
OUTAGE_CLIENT = f"""
id: outagetest
name: Outage Test Ltd
default_severity: SEV3
contract: {{clause: "DPA clause 8.2", notify_within: PT24H}}
contacts:
  - {{name: Security Desk, email: {CLIENT_EMAIL}, language: en}}
escalation:
  SEV3:
    - {{targets: [soc-oncall], ack_timeout: PT{L1_TIMEOUT_S}S}}
    - {{targets: [soc-manager], ack_timeout: PT10M}}
escalation_repeats: 0
"""
JIRA_OUTAGE_CLIENT = f"""
id: outagejira
name: Jira Outage Test Ltd
default_severity: SEV3
escalation:
  SEV3:
    - {{targets: [soc-oncall], ack_timeout: PT{L1_TIMEOUT_S}S}}
    - {{targets: [soc-manager], ack_timeout: PT{L1_TIMEOUT_S}S}}
    - {{targets: [soc-director], ack_timeout: PT10M}}
escalation_repeats: 0
"""
# The first timer may fire late by Temporal's timer granularity and one workflow task; a
# clock held back by the outage would be late by the outage (>= 10 s here).
ON_TIME_S = 3.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(REPO / "policies" / "clients", policies / "clients")
    (policies / "clients" / "outagetest.yaml").write_text(OUTAGE_CLIENT)
    (policies / "clients" / "outagejira.yaml").write_text(JIRA_OUTAGE_CLIENT)
    with running_stack(
        tmp_path_factory.mktemp("outages-state"),
        policies_dir=policies,
        ops_email=OPS_EMAIL,
        ops_target="ops-manager",
        degraded_after_failures=3,
        degraded_after_seconds=GRACE_S,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.settings.intake_base_url, headers=api_headers(stack), timeout=30
    ) as client:
        yield client


def health(settings: Settings, integration: str) -> HealthView | None:
    async def query() -> HealthView | None:
        client = await connect(settings.temporal_target)
        handle = client.get_workflow_handle(health_workflow_id(integration))
        try:
            return await handle.query(IntegrationHealthWorkflow.health)
        except RPCError:
            return None  # not started yet: no failure reported so far

    return asyncio.run(query())


def ops_alerts(settings: Settings, integration: str) -> dict[str, list[dict[str, Any]]]:
    prefix = health_workflow_id(integration) + "~"
    return {k: v for k, v in alerts_by_key(settings).items() if k.startswith(prefix)}


def ops_trigger_events(settings: Settings, integration: str) -> int:
    prefix = health_workflow_id(integration) + "~"
    events = httpx.get(f"{settings.pager_sandbox_url}/sandbox/events", timeout=10).json()
    return sum(
        e["dedup_key"].startswith(prefix) and e["payload"].get("event_action") == "trigger"
        for e in events
        if e.get("dedup_key")
    )


def mail(settings: Settings, to: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{settings.smtp_sandbox_url}/sandbox/messages", params={"to": to, "limit": 1000}
    )
    response.raise_for_status()
    return response.json()


def views(api: httpx.Client, incidents: list[str]) -> dict[str, dict[str, Any]]:
    return {i: api.get(f"/api/v1/incidents/{i}").json() for i in incidents}


def paged_levels(view: dict[str, Any]) -> list[int]:
    return sorted(p["level"] for p in view.get("pages", []))


def when(view: dict[str, Any], level: int) -> datetime:
    return datetime.fromisoformat(next(p for p in view["pages"] if p["level"] == level)["paged_at"])


def outage_client_incidents(
    api: httpx.Client, prefix: str, n: int, client: str = "outagetest"
) -> dict[str, str]:
    filed = {}
    for i in range(n):
        # A caller of their own each: the same contact on an open incident is a duplicate.
        caller = {"name": f"Agent {prefix}-{i}", "contact": f"ext {prefix}-{i}"}
        body = report(f"{prefix}-{i}", client=client, reporter=caller)
        response = api.post("/api/v1/incidents", json=body)
        assert response.status_code == 202, response.text
        filed[response.json()["incident_id"]] = response.json()["workflow_id"]
    assert len(filed) == n, f"reports merged as duplicates: {filed}"
    return filed


def paged_at_level_1(api: httpx.Client, incidents: list[str]) -> None:
    wait_until(
        lambda: (
            all(paged_levels(v) == [1] for v in views(api, incidents).values())
            or {i: paged_levels(v) for i, v in views(api, incidents).items()}
        ),
        30,
        "every incident paged at level 1",
    )


def assert_one_outage(settings: Settings, integration: str) -> HealthView:
    view = health(settings, integration)
    assert view is not None and view.status == "healthy", view
    assert view.outage_count == 1, view.outages
    (outage,) = view.outages
    assert outage.recovered_at is not None
    assert (outage.degraded_at - outage.first_failure_at).total_seconds() >= GRACE_S
    return view


def test_jira_outage_delays_comments_not_armed_clocks_and_alerts_once(
    stack: Stack, api: httpx.Client
) -> None:
    settings = stack.settings
    faults = f"{settings.jira_base_url}/sandbox/faults"
    filed = outage_client_incidents(api, "JIRA-OUT", 3, client="outagejira")
    incidents, workflows = list(filed), list(filed.values())
    paged_at_level_1(api, incidents)
    time.sleep(1)  # level 1's Jira comment is in; its ack timer is armed

    started = time.monotonic()
    down = httpx.post(faults, json={"status": 503, "count": 1_000_000, "path": "/rest/api/2"})
    assert down.status_code == 201, down.text
    wait_until(
        lambda: (
            (health(settings, "jira") or HealthView.model_construct(status="?")).status
            == "degraded"
        ),
        30,
        "Jira degraded",
    )
    wait_until(lambda: len(ops_alerts(settings, "jira")) == 1, 30, "operations paged")
    wait_until(
        lambda: (
            all(paged_levels(v) == [1, 2, 3] for v in views(api, incidents).values())
            or {i: paged_levels(v) for i, v in views(api, incidents).items()}
        ),
        2 * L1_TIMEOUT_S + 10,
        "levels 2 and 3 paged while Jira is down",
    )
    assert health(settings, "jira").status == "degraded", "Jira was down all along"  # type: ignore[union-attr]
    # The level-1 timers, armed before the outage, fired on time; so did the level-2 timers,
    # armed during it while their level's Jira comment could not be written.
    for incident, view in views(api, incidents).items():
        for level in (2, 3):
            late = (when(view, level) - when(view, level - 1)).total_seconds() - L1_TIMEOUT_S
            assert 0 <= late < ON_TIME_S, f"{incident}: level {level} paged {late:.1f} s late"
    outage_s = time.monotonic() - started
    assert httpx.delete(faults).status_code == 204

    wait_until(
        lambda: (
            (health(settings, "jira") or HealthView.model_construct(status="?")).status == "healthy"
        ),
        60,
        "Jira recovered",
    )
    view = assert_one_outage(settings, "jira")
    assert len(ops_alerts(settings, "jira")) == 1
    wait_until(lambda: alert_status(settings, "jira") == "resolved", 30, "ops page resolved")
    assert ops_trigger_events(settings, "jira") == 1
    subjects = sorted(m["subject"] for m in mail(settings, OPS_EMAIL) if "Jira" in m["subject"])
    assert subjects == [
        "[Incident Desk] Jira degraded (outage 1)",
        "[Incident Desk] Jira recovered (outage 1)",
    ]
    assert set(issues_per_workflow(settings, workflows).values()) == {1}
    record_figures(
        "outage_jira",
        {
            "incidents": len(incidents),
            "outage_seconds": round(outage_s, 1),
            "failed_calls": view.outages[0].failures,
            "ops_pages": 1,
            "ops_emails": len(subjects),
        },
    )


def alert_status(settings: Settings, integration: str) -> str | None:
    alerts = ops_alerts(settings, integration)
    return next(iter(alerts.values()))[0]["status"] if alerts else None


def test_pager_outage_holds_pages_not_clocks_and_emails_operations_once(
    stack: Stack, api: httpx.Client
) -> None:
    settings = stack.settings
    faults = f"{settings.pager_sandbox_url}/sandbox/faults"
    filed = outage_client_incidents(api, "PAGER-OUT", 3)
    incidents, workflows = list(filed), list(filed.values())
    paged_at_level_1(api, incidents)
    time.sleep(1)

    started = time.monotonic()
    assert httpx.post(faults, json={"status": 503, "count": 1_000_000}).status_code == 201

    def timed_out() -> Any:
        seen = views(api, incidents)
        fired = {
            i: [e for e in v["timeline"] if e["event"] == "ack_timeout"] for i, v in seen.items()
        }
        return True if all(fired.values()) else fired

    wait_until(timed_out, L1_TIMEOUT_S + 10, "every level-1 timer fired")
    wait_until(
        lambda: (
            (health(settings, "pager") or HealthView.model_construct(status="?")).status
            == "degraded"
        ),
        30,
        "pager degraded",
    )
    seen = views(api, incidents)
    for incident, view in seen.items():
        fired = datetime.fromisoformat(
            next(e for e in view["timeline"] if e["event"] == "ack_timeout")["at"]
        )
        late = (fired - when(view, 1)).total_seconds() - L1_TIMEOUT_S
        assert 0 <= late < ON_TIME_S, f"{incident}: level-1 timer fired {late:.1f} s late"
        assert paged_levels(view) == [1], "level 2 cannot be paged while the pager is down"
    wait_until(
        lambda: any("pager degraded" in m["subject"] for m in mail(settings, OPS_EMAIL)),
        30,
        "operations emailed",
    )
    outage_s = time.monotonic() - started
    assert httpx.delete(faults).status_code == 204

    wait_until(
        lambda: (
            all(paged_levels(v) == [1, 2] for v in views(api, incidents).values())
            or "level 2 not paged yet"
        ),
        60,
        "level 2 paged once the pager is back",
    )
    wait_until(
        lambda: (
            (health(settings, "pager") or HealthView.model_construct(status="?")).status
            == "healthy"
        ),
        30,
        "pager recovered",
    )
    view = assert_one_outage(settings, "pager")
    wait_until(
        lambda: any("pager recovered" in m["subject"] for m in mail(settings, OPS_EMAIL)),
        30,
        "recovery emailed",
    )
    subjects = sorted(m["subject"] for m in mail(settings, OPS_EMAIL) if "pager" in m["subject"])
    assert subjects == [
        "[Incident Desk] the pager degraded (outage 1)",
        "[Incident Desk] the pager recovered (outage 1)",
    ]
    assert ops_alerts(settings, "pager") == {}, "a pager outage is not paged through the pager"
    alerts = alerts_by_key(settings)
    for wf in workflows:
        assert len(alerts.get(wf, [])) == 1 and len(alerts.get(f"{wf}~L2", [])) == 1
    record_figures(
        "outage_pager",
        {
            "incidents": len(incidents),
            "outage_seconds": round(outage_s, 1),
            "failed_calls": view.outages[0].failures,
            "ops_emails": len(subjects),
        },
    )


def test_smtp_outage_holds_notices_not_clocks_and_pages_operations_once(
    stack: Stack, api: httpx.Client
) -> None:
    settings = stack.settings
    faults = f"{settings.smtp_sandbox_url}/sandbox/faults"
    before = len(mail(settings, CLIENT_EMAIL))
    assert httpx.post(faults, json={"code": 451, "count": 1_000_000}).status_code == 201
    started = time.monotonic()
    filed = outage_client_incidents(api, "SMTP-OUT", 3)
    incidents, workflows = list(filed), list(filed.values())
    paged_at_level_1(api, incidents)

    wait_until(
        lambda: (
            (health(settings, "smtp") or HealthView.model_construct(status="?")).status
            == "degraded"
        ),
        30,
        "SMTP degraded",
    )
    wait_until(lambda: len(ops_alerts(settings, "smtp")) == 1, 30, "operations paged")
    wait_until(
        lambda: (
            all(paged_levels(v) == [1, 2] for v in views(api, incidents).values())
            or "level 2 not paged yet"
        ),
        L1_TIMEOUT_S + 10,
        "level-1 timers fired during the SMTP outage",
    )
    for incident, view in views(api, incidents).items():
        late = (when(view, 2) - when(view, 1)).total_seconds() - L1_TIMEOUT_S
        assert 0 <= late < ON_TIME_S, f"{incident}: level 2 paged {late:.1f} s late"
    assert len(mail(settings, CLIENT_EMAIL)) == before, "nothing got through a refusing server"
    outage_s = time.monotonic() - started
    assert httpx.delete(faults).status_code == 204

    def notified() -> Any:
        sent = Counter(m["message_id"] for m in mail(settings, CLIENT_EMAIL)[: len(incidents)])
        ours = {m: n for m, n in sent.items() if any(wf in m for wf in workflows)}
        return True if len(ours) == len(workflows) else ours

    wait_until(notified, 60, "every client notice sent once SMTP is back")
    per_message = Counter(
        m["message_id"]
        for m in mail(settings, CLIENT_EMAIL)
        if any(wf in m["message_id"] for wf in workflows)
    )
    assert len(per_message) == len(workflows) and set(per_message.values()) == {1}
    wait_until(
        lambda: (
            (health(settings, "smtp") or HealthView.model_construct(status="?")).status == "healthy"
        ),
        30,
        "SMTP recovered",
    )
    view = assert_one_outage(settings, "smtp")
    wait_until(lambda: alert_status(settings, "smtp") == "resolved", 30, "ops page resolved")
    assert ops_trigger_events(settings, "smtp") == 1
    assert not [m for m in mail(settings, OPS_EMAIL) if "SMTP" in m["subject"]]
    record_figures(
        "outage_smtp",
        {
            "incidents": len(incidents),
            "outage_seconds": round(outage_s, 1),
            "failed_calls": view.outages[0].failures,
            "ops_pages": 1,
        },
    )
