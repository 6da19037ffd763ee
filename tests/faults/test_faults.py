"""Nothing lost, nothing doubled: the whole stack under Jira outages, worker crashes and a
Temporal server restart.

One stack serves the module; each test files its own incidents (distinct external refs) and
counts the effects where they land, in the sandboxes. Every wait is bounded: an incident that
does not get through within its bound fails the test with what was last seen.

The bounds follow from the product's own timeouts, not from guesses: an activity that was
running in a SIGKILLed worker is given up on by Temporal when its heartbeat timeout
(`HEARTBEAT_TIMEOUT`, workflows/options.py; live workers heartbeat, activities/keepalive.py)
or its start-to-close timeout (`EFFECT_TIMEOUT`) passes, whichever comes first, so the crash
test allows for that once per kill; shortening either shortens the test by itself.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_desk.settings import Settings
from incident_desk.stack import Stack
from tests.faults.harness import (
    api_headers,
    count_workflows,
    issues_per_workflow,
    pager_events,
    record_figures,
    report,
    states,
    wait_until,
)
from tests.support.stacks import running_stack
from workflows.options import EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

# How long a killed worker can hold an activity before Temporal retries it elsewhere: every
# activity call of the incident workflow sets both timeouts.
ACTIVITY_TIMEOUT_S = min(EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT).total_seconds()
REPO = Path(__file__).resolve().parents[2]
# A client whose level-1 page times out within the crash test, so every incident has a durable
# timer armed while the worker is being killed; level 2 then waits ten minutes.
KILL_L1_TIMEOUT_S = 10
KILL_CLIENT = f"""
id: killtest
name: Kill Test Ltd
default_severity: SEV3
escalation:
  SEV3:
    - {{targets: [soc-oncall], ack_timeout: PT{KILL_L1_TIMEOUT_S}S}}
    - {{targets: [soc-manager], ack_timeout: PT10M}}
escalation_repeats: 0
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(REPO / "policies" / "clients", policies / "clients")
    (policies / "clients" / "killtest.yaml").write_text(KILL_CLIENT)
    with running_stack(tmp_path_factory.mktemp("faults-state"), policies_dir=policies) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.settings.intake_base_url, headers=api_headers(stack), timeout=30
    ) as client:
        yield client


def file_incidents(
    api: httpx.Client, refs: list[str], between: Any = None, **overrides: Any
) -> dict[str, str]:
    """incident id → workflow id; `between(i)` runs after the i-th report (to crash things)."""
    filed = {}
    for i, ref in enumerate(refs):
        response = api.post("/api/v1/incidents", json=report(ref, **overrides))
        assert response.status_code == 202, response.text
        body = response.json()
        filed[body["incident_id"]] = body["workflow_id"]
        if between is not None:
            between(i)
    return filed


def alerts_by_key(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    response = httpx.get(f"{settings.pager_sandbox_url}/sandbox/alerts", timeout=10)
    response.raise_for_status()
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in response.json():
        out.setdefault(alert["dedup_key"], []).append(alert)
    return out


def all_escalated(settings: Settings, stack: Stack, incidents: list[str]) -> Any:
    seen = states(settings, stack, incidents)
    waiting = {i: s for i, s in seen.items() if s != "ESCALATED"}
    return True if not waiting else waiting


def assert_exactly_once(
    settings: Settings, workflows: list[str], levels: int = 1
) -> dict[str, int]:
    """One Jira issue per incident and one page (alert) per level up to `levels`, none beyond."""
    issues = issues_per_workflow(settings, workflows)
    assert {wf: n for wf, n in issues.items() if n != 1} == {}, "Jira issues per incident"
    alerts = alerts_by_key(settings)
    for wf in workflows:
        assert len(alerts.get(wf, [])) == 1, f"level-1 alerts for {wf}: {alerts.get(wf)}"
        wanted = {f"{wf}~L{level}" for level in range(2, levels + 1)}
        for key in wanted:
            assert len(alerts.get(key, [])) == 1, f"alerts for {key}: {alerts.get(key)}"
        extra = [k for k in alerts if k.startswith(wf + "~") and k not in wanted]
        assert extra == [], f"{wf} was paged beyond level {levels}: {extra}"
    ours = set(workflows) | {f"{wf}~L{level}" for wf in workflows for level in range(2, levels + 1)}
    triggers = [
        e
        for e in pager_events(settings)
        if e["dedup_key"] in ours and e["payload"].get("event_action") == "trigger"
    ]
    # A retried trigger after a crash is harmless (same dedup key, one alert); report it.
    return {"incidents": len(workflows), "trigger_events": len(triggers)}


def test_jira_503_outage_and_429_bursts_still_give_each_incident_one_ticket(
    stack: Stack, api: httpx.Client
) -> None:
    settings = stack.settings
    faults = f"{settings.jira_base_url}/sandbox/faults"
    # An outage of Jira's REST API, then throttling in bursts with Retry-After.
    outage = httpx.post(faults, json={"status": 503, "count": 12, "path": "/rest/api/2"})
    assert outage.status_code == 201, outage.text
    for _ in range(3):
        burst = httpx.post(
            faults, json={"status": 429, "count": 3, "retry_after": 1, "path": "/rest/api/2"}
        )
        assert burst.status_code == 201, burst.text

    started = time.monotonic()
    filed = file_incidents(api, [f"JIRA-FAULT-{i}" for i in range(5)])
    incidents, workflows = list(filed), list(filed.values())
    took = wait_until(
        lambda: all_escalated(settings, stack, incidents), 60, "every incident ESCALATED"
    )
    assert httpx.get(faults).json() == [], "every injected fault was consumed"

    views = [api.get(f"/api/v1/incidents/{i}").json() for i in incidents]
    assert all(v["jira_key"] for v in views), [v["timeline"] for v in views if not v["jira_key"]]
    assert not any(e["event"] == "jira_ticket_failed" for v in views for e in v["timeline"])
    counts = assert_exactly_once(settings, workflows)
    # Paging waits for the ticket (or TICKET_DEADLINE): during a short outage the page comes
    # as soon as Jira answers again, well within that bound.
    pages = {e["dedup_key"]: e["received_at"] for e in pager_events(settings)}
    assert set(workflows) <= set(pages)
    record_figures(
        "faults_jira",
        {
            **counts,
            "faults": "503 x12, then 3 bursts of 429 x3 (Retry-After 1 s)",
            "seconds_to_all_paged": round(time.monotonic() - started, 1),
            "seconds_to_all_escalated": round(took, 1),
        },
    )


def chain_done(api: httpx.Client, incidents: list[str]) -> Any:
    """True once every incident's level-1 timer fired and level 2 was paged."""
    waiting = {}
    for incident in incidents:
        view = api.get(f"/api/v1/incidents/{incident}").json()
        levels = sorted(p["level"] for p in view.get("pages", []))
        fired = [e for e in view.get("timeline", []) if e["event"] == "ack_timeout"]
        if levels != [1, 2] or len(fired) != 1:
            waiting[incident] = (levels, len(fired))
    return True if not waiting else waiting


def test_worker_sigkilled_mid_flight_loses_and_doubles_nothing(
    stack: Stack, api: httpx.Client
) -> None:
    """50 incidents, three SIGKILLs while they are filed, ticketed, paged and their level-1
    timers armed: each gets one ticket, one page per level, and its timer fires."""
    settings = stack.settings
    n = int(os.environ.get("FAULTS_INCIDENTS", "50"))
    kills_at = {n // 5, n // 2}
    kills: list[float] = []

    def crash(i: int) -> None:
        if i in kills_at:
            before = time.monotonic()
            stack.restart("worker", hard=True)  # SIGKILL, then a new worker process
            kills.append(time.monotonic() - before)

    started = time.monotonic()
    refs = [f"KILL-{i}" for i in range(n)]
    filed = file_incidents(api, refs, between=crash, client="killtest")
    time.sleep(0.3)  # the last ones are now mid-activity in the new worker
    crash(next(iter(kills_at)))  # a third kill, with work in flight everywhere
    incidents, workflows = list(filed), list(filed.values())
    # Each kill can hold an activity for one start-to-close timeout, and the kills overlap.
    bound = len(kills) * ACTIVITY_TIMEOUT_S + KILL_L1_TIMEOUT_S + 30
    took = wait_until(lambda: chain_done(api, incidents), bound, "every level-1 timer fired")
    counts = assert_exactly_once(settings, workflows, levels=2)

    late = []
    for incident in incidents:
        view = api.get(f"/api/v1/incidents/{incident}").json()
        first = datetime.fromisoformat(
            next(p for p in view["pages"] if p["level"] == 1)["paged_at"]
        )
        fired = next(e for e in view["timeline"] if e["event"] == "ack_timeout")
        late.append((datetime.fromisoformat(fired["at"]) - first).total_seconds())
    # A durable timer never fires early, even across crashes.
    assert min(late) >= KILL_L1_TIMEOUT_S, late

    # They go on: every one can be acknowledged and resolved, and each page follows.
    for incident in incidents:
        acked = api.post(f"/api/v1/incidents/{incident}/ack", json={"by": "ana.oncall"})
        assert acked.status_code == 200, acked.text
        done = api.post(f"/api/v1/incidents/{incident}/resolve", json={"by": "ana.oncall"})
        assert done.status_code == 200, done.text
    wait_until(
        lambda: (
            all(
                alerts_by_key(settings)[key][0]["status"] == "resolved"
                for wf in workflows
                for key in (wf, f"{wf}~L2")
            )
            or "pages still open"
        ),
        60,
        "every page resolved",
    )
    record_figures(
        "faults_worker_kill",
        {
            **counts,
            "sigkills": len(kills),
            "seconds_to_all_escalated": round(took, 1),
            "timer_fired_after_s_max": round(max(late), 1),
            "timer_set_s": KILL_L1_TIMEOUT_S,
            "activity_timeout_s": ACTIVITY_TIMEOUT_S,
            "start_to_close_s": EFFECT_TIMEOUT.total_seconds(),
            "seconds_total": round(time.monotonic() - started, 1),
        },
    )


def test_temporal_server_restart_on_its_sqlite_file_loses_nothing(
    stack: Stack, api: httpx.Client
) -> None:
    settings = stack.settings
    before_count = count_workflows(settings)
    started = time.monotonic()
    filed = file_incidents(api, [f"TEMPORAL-{i}" for i in range(10)])
    stack.restart("temporal")  # SIGTERM, then the same --db-filename and ports
    down = time.monotonic() - started
    incidents, workflows = list(filed), list(filed.values())

    assert count_workflows(settings) == before_count + len(filed)
    took = wait_until(
        lambda: all_escalated(settings, stack, incidents),
        ACTIVITY_TIMEOUT_S + 30,
        "every incident ESCALATED after the restart",
    )
    counts = assert_exactly_once(settings, workflows)
    # An incident filed after the restart goes through as well.
    later = file_incidents(api, ["TEMPORAL-after"])
    wait_until(
        lambda: all_escalated(settings, stack, list(later)), 30, "the new incident ESCALATED"
    )
    record_figures(
        "faults_temporal_restart",
        {
            **counts,
            "restart_seconds": round(down, 1),
            "seconds_to_all_escalated": round(took, 1),
        },
    )
