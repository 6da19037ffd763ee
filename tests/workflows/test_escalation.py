"""The escalation chain on real Temporal servers, with virtual time; Jira and pager are doubles.

Chain used throughout: level 1 (soc-oncall, 5 min), level 2 (soc-manager + client-cert, 10 min),
repeated once, then the no-responder alert to ops-manager.

Server per test: `dev_env` wherever an acknowledgement (an update) is sent, started with time
skipping off and moved on by `fast_forward`, so virtual time passes only when the test says so;
`java_env` where no update is needed, since it lets the whole chain's hours pass in one sleep.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from incidents.lifecycle import Action, IncidentState, IncidentView
from incidents.policy import ClientPolicy, EscalationLevel
from incidents.report import IncidentReport, Severity, StartIncident
from tests.workflows.doubles import CLOSE, Outside, new_worker
from workflows.incident import IncidentWorkflow

L1_TIMEOUT = timedelta(minutes=5)
L2_TIMEOUT = timedelta(minutes=10)

POLICY = ClientPolicy(
    id="demo",
    name="chain test client",
    escalation={
        Severity.SEV1: (
            EscalationLevel(targets=("soc-oncall",), ack_timeout=L1_TIMEOUT),
            EscalationLevel(targets=("soc-manager", "client-cert"), ack_timeout=L2_TIMEOUT),
        )
    },
    escalation_repeats=1,
    no_responder_target="ops-manager",
)

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Ransomware note on a team lead's screen",
        "description": "Priya Nair (priya@example.com, +63 917 555 0101) saw files renamed.",
        "channel": "phone",
        # Validated by the agent who filed it: paged at once, as these tests expect.
        "validation": {"by": "filing.agent"},
        "reporter": {"name": "Priya Nair", "contact": "priya@example.com"},
        "aware_at": "2026-11-28T09:15:00+08:00",
        "category": "ransomware",
        "severity": "SEV1",
    }
)


async def start(env: WorkflowEnvironment, outside: Outside, task_queue: str) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(
            incident_id=incident_id, report=REPORT, received_at=datetime(2026, 11, 28, tzinfo=UTC)
        ),
        id=f"incident-{incident_id}",
        task_queue=task_queue,
    )


async def start_paused(env: WorkflowEnvironment, outside: Outside, queue: str) -> WorkflowHandle:
    """Time stands still for this workflow until the test fast-forwards it."""
    with env.with_time_skipping_disabled():
        return await start(env, outside, queue)


async def wait_until(handle: WorkflowHandle, predicate, within: float = 20) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"condition not reached; pages {[p.dedup_key for p in view.pages]}"
            )
        await asyncio.sleep(0.05)


def paged(outside: Outside) -> list[str]:
    """The chain's pages; the SOP checklist's team-lead page is tested in test_checklist.py."""
    return [
        request.dedup_key
        for request in outside.of("trigger_page")
        if not request.dedup_key.endswith("-checklist")
    ]


# dev_env: acknowledging is an update.
async def test_ack_at_level_1_stops_the_chain(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start_paused(dev_env, outside, worker.task_queue)
        await wait_until(handle, lambda v: len(v.pages) == 1)
        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        assert acked.acknowledged_via == "api"
        # Well past every timeout of the chain: nothing more may be paged.
        await dev_env.fast_forward(handle, L1_TIMEOUT + L2_TIMEOUT + timedelta(minutes=1))
        await wait_until(handle, lambda v: v.pages[0].status == "acknowledged")
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()

    assert paged(outside) == [handle.id]
    first = outside.of("trigger_page")[0]
    assert first.summary.startswith("Level 1 of 2 (soc-oncall), round 1 of 2: [SEV1]")
    assert first.custom_details["targets"] == "soc-oncall"
    assert outside.of("acknowledge_page") == [handle.id]
    assert outside.of("resolve_page") == [handle.id]
    assert "ack_timeout" not in [e.event for e in result.timeline]


# dev_env: the acknowledgement is an update, and the level-1 timeout must pass on cue.
async def test_ack_at_level_2_after_level_1_times_out(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start_paused(dev_env, outside, worker.task_queue)
        await wait_until(handle, lambda v: len(v.pages) == 1)
        await dev_env.fast_forward(handle, L1_TIMEOUT + timedelta(seconds=1))
        view = await wait_until(handle, lambda v: len(v.pages) == 2)
        # The level-2 page went out when level 1's clock ran out, not before.
        assert view.pages[1].paged_at - view.pages[0].paged_at >= L1_TIMEOUT
        assert view.pages[0].status == "open"  # the level-1 page stays open
        await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="mo", channel="pagerduty")
        )
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()

    level2 = f"{handle.id}~L2"
    assert paged(outside) == [handle.id, level2]
    assert outside.of("trigger_page")[1].custom_details["targets"] == "soc-manager, client-cert"
    assert outside.of("acknowledge_page") == [handle.id, level2]
    assert outside.of("resolve_page") == [handle.id, level2]
    assert result.acknowledged_via == "pagerduty"
    timeout = next(e for e in result.timeline if e.event == "ack_timeout")
    assert "Level 1 of 2 (soc-oncall)" in timeout.detail and "5m" in timeout.detail
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert any("Acknowledged by mo via pagerduty" in c for c in comments)
    history = await handle.fetch_history()
    timers = [
        e.user_metadata.summary
        for e in history.events
        if e.HasField("timer_started_event_attributes")
        and not e.user_metadata.summary.data.startswith(b'"SOP checklist')
    ]
    assert len(timers) == 2  # level 1's fired, level 2's was cancelled by the acknowledgement


# java_env: nobody acknowledges, so no update is sent; one sleep lets the whole chain run out.
async def test_no_ack_repeats_the_chain_then_alerts_operations(
    java_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(java_env.client, outside) as worker:
        handle = await start(java_env, outside, worker.task_queue)
        await java_env.sleep(2 * (L1_TIMEOUT + L2_TIMEOUT) + timedelta(minutes=1))
        view = await wait_until(handle, lambda v: v.no_responder)
        await handle.terminate("test over")

    wf = handle.id
    assert paged(outside) == [wf, f"{wf}~L2", f"{wf}~R2-L1", f"{wf}~R2-L2", f"{wf}~no-responder"]
    gaps = [b.paged_at - a.paged_at for a, b in zip(view.pages, view.pages[1:], strict=False)]
    assert [round(g.total_seconds() / 60) for g in gaps] == [5, 10, 5, 10]
    alert = outside.of("trigger_page")[-1]
    assert alert.severity == "critical"
    assert alert.summary.startswith("NO RESPONDER for ops-manager")
    assert [e.event for e in view.timeline].count("ack_timeout") == 4
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert "No responder" in comments[-1] and "ops-manager" in comments[-1]
    for request in outside.of("trigger_page"):
        text = request.model_dump_json()
        for personal in ("Priya", "Nair", "priya@", "917", "files renamed"):
            assert personal not in text, personal


# dev_env: two acknowledgements, both updates.
async def test_second_ack_is_recorded_not_refused(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start_paused(dev_env, outside, worker.task_queue)
        await wait_until(handle, lambda v: len(v.pages) == 1)
        await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="ana", channel="pagerduty")
        )
        second = await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="ben", note="on it too")
        )
        assert second.acknowledged_by == "ana"
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()

    acks = [(e.event, e.by) for e in result.timeline if "acknowledged" in e.event]
    assert acks == [("acknowledged", "ana"), ("also_acknowledged", "ben")]
    also = next(e for e in result.timeline if e.event == "also_acknowledged")
    assert "via api" in also.detail and "owner remains ana" in also.detail
    assert outside.of("acknowledge_page") == [handle.id]  # the page is acknowledged once
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert any("Also acknowledged by ben via api" in c for c in comments)


# dev_env: the acknowledgement (an update) arrives while the level-2 page, triggered by the
# level-1 timeout, is still in flight.
async def test_ack_racing_the_timeout_still_stops_the_chain(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start_paused(dev_env, outside, worker.task_queue)
        outside.hold_pages = frozenset({f"{handle.id}~L2"})
        await wait_until(handle, lambda v: len(v.pages) == 1)
        await dev_env.fast_forward(handle, L1_TIMEOUT + timedelta(seconds=1))
        await asyncio.wait_for(outside.held.wait(), 10)
        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        assert acked.acknowledged_by == "ana"
        outside.release.set()
        view = await wait_until(handle, lambda v: v.pages and v.pages[-1].status == "acknowledged")
        await dev_env.fast_forward(handle, L2_TIMEOUT * 3)
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        await handle.result()

    level2 = f"{handle.id}~L2"
    assert [p.dedup_key for p in view.pages] == [handle.id, level2]
    assert paged(outside) == [handle.id, level2]  # nothing after the acknowledgement
    assert outside.of("acknowledge_page") == [handle.id, level2]
    assert outside.of("resolve_page") == [handle.id, level2]


async def test_old_default_without_a_chain_pages_once_and_waits(
    java_env: WorkflowEnvironment,
) -> None:
    outside = Outside()  # a policy with no chain: the pager's own routing, no timeout
    async with new_worker(java_env.client, outside) as worker:
        handle = await start(java_env, outside, worker.task_queue)
        await java_env.sleep(timedelta(hours=6))
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        await handle.terminate("test over")
    assert paged(outside) == [handle.id]
    assert not view.no_responder
