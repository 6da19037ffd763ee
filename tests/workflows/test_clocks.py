"""Reporting clocks in IncidentWorkflow on real Temporal servers, with virtual time.

The obligation rules are the real ones (the assessment double calls them); Jira and the pager are
doubles. Server per test: `java_env` where no update is sent (it lets days pass in one sleep);
`dev_env` wherever a stage is marked done or facts change (updates), started paused and moved on
with `fast_forward` so virtual time passes only when the test says so.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.clocks import FactsUpdate, StageDone
from incidents.lifecycle import IncidentView
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA

GDPR = "eu_gdpr_art33_authority"
UK = "uk_gdpr_art33_ico"
POLICY = ClientPolicy(id="demo", name="clock test client")
SLACK = timedelta(seconds=5)


def report(aware_at: datetime, **facts: object) -> IncidentReport:
    return IncidentReport.model_validate(
        {
            "client": "demo",
            "summary": "Customer list emailed to the wrong address",
            "description": "Agent 4410 sent a spreadsheet of 40 customers to an outside address.",
            "channel": "email",
            # Validated by the agent who filed it: paged at once, as these tests expect.
            "validation": {"by": "filing.agent"},
            "reporter": {"name": "Team lead", "contact": "ext 2200"},
            "aware_at": aware_at.isoformat(),
            "category": "misdirected_disclosure",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
        }
        | facts
    )


async def start(
    env: WorkflowEnvironment, queue: str, incident: IncidentReport, now: datetime
) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(incident_id=incident_id, report=incident, received_at=now),
        id=f"incident-{incident_id}",
        task_queue=queue,
    )


async def wait_until(handle: WorkflowHandle, predicate, within: float = 20) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; timeline {view.timeline}")
        await asyncio.sleep(0.05)


def stage(view: IncidentView, obligation: str, name: str = "initial"):
    clock = next(c for c in view.obligations if c.id == obligation)
    return clock, clock.stage(name)


def armed(view: IncidentView) -> bool:
    return any(c.id == GDPR for c in view.obligations)


async def attribute(handle: WorkflowHandle, key):
    return (await handle.describe()).typed_search_attributes.get(key)


def breach_pages(outside: Outside) -> list[str]:
    return [r.dedup_key for r in outside.of("trigger_page") if "~breach-" in r.dedup_key]


# java_env: nothing is sent to the workflow, and three days must pass in one sleep.
async def test_gdpr_reminders_then_breach(java_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(java_env.client, outside) as worker:
        now = await java_env.get_current_time()
        handle = await start(java_env, worker.task_queue, report(now), now)
        view = await wait_until(handle, armed)
        _, initial = stage(view, GDPR)
        due = initial.due_at
        assert due == now + timedelta(hours=72)
        assert view.next_deadline == due
        assert await attribute(handle, SA.DEADLINE_BREACHED.key) is False
        assert GDPR in await attribute(handle, SA.REGIMES.key)

        await java_env.sleep(timedelta(hours=73))
        view = await handle.query(IncidentWorkflow.state)

    reminders = [e for e in view.timeline if e.event == "deadline_reminder"]
    assert [e.detail.split(":")[0] for e in reminders] == ["T-24h", "T-4h", "T-1h"]
    for entry, offset in zip(reminders, (24, 4, 1), strict=True):
        assert abs(entry.at - (due - timedelta(hours=offset))) < SLACK
    breach = next(e for e in view.timeline if e.event == "deadline_breached")
    assert abs(breach.at - due) < SLACK
    _, initial = stage(view, GDPR)
    assert initial.status == "breached" and initial.reminders_sent == ["T-24h", "T-4h", "T-1h"]
    assert breach_pages(outside) == [f"{handle.id}~breach-{GDPR}-initial"]
    page = next(r for r in outside.of("trigger_page") if "~breach-" in r.dedup_key)
    assert "bpo-compliance" == page.custom_details["targets"]
    assert "Agent 4410" not in str(page) and "ext 2200" not in str(page)
    assert any("Deadline missed" in c.body for c in outside.of("comment_jira_ticket"))
    assert await attribute(handle, SA.DEADLINE_BREACHED.key) is True
    history = await handle.fetch_history()
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("timer_started_event_attributes") and e.HasField("user_metadata")
    ]
    assert any("T-4h reminder" in s and "supervisory authority" in s for s in summaries)


async def start_paused(env: WorkflowEnvironment, outside: Outside, **facts: object):
    worker = new_worker(env.client, outside)
    now = datetime.now(UTC).replace(microsecond=0)
    with env.with_time_skipping_disabled():
        handle = await start(env, worker.task_queue, report(now, **facts), now)
    return worker, handle, now


# dev_env: marking the stage done is an update.
async def test_marking_done_stops_the_breach(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    worker, handle, _ = await start_paused(dev_env, outside)
    async with worker:
        await wait_until(handle, armed)
        done = StageDone(obligation=GDPR, stage="initial", by="dpo.liaison", reference="BfDI-1")
        view = await handle.execute_update(IncidentWorkflow.mark_stage_done, done)
        _, initial = stage(view, GDPR)
        assert (initial.status, initial.done_by, initial.reference) == (
            "done",
            "dpo.liaison",
            "BfDI-1",
        )
        assert view.next_deadline is None
        entry = next(e for e in view.timeline if e.event == "obligation_stage_done")
        assert entry.by == "dpo.liaison" and "BfDI-1" in entry.detail

        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update(IncidentWorkflow.mark_stage_done, done)
        assert "already done by dpo.liaison" in str(again.value.cause)
        unknown = done.model_copy(update={"obligation": "nope"})
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(IncidentWorkflow.mark_stage_done, unknown)
        assert "no obligation 'nope'" in str(refused.value.cause)

        await dev_env.fast_forward(handle, timedelta(hours=73))
        view = await handle.query(IncidentWorkflow.state)
    assert not [e for e in view.timeline if e.event in ("deadline_breached", "deadline_reminder")]
    assert breach_pages(outside) == []
    assert await attribute(handle, SA.DEADLINE_BREACHED.key) is False


# dev_env: the correction is an update; then the moved deadline must pass on cue.
async def test_awareness_correction_moves_the_deadline(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    worker, handle, now = await start_paused(dev_env, outside)
    async with worker:
        await wait_until(handle, armed)
        earlier = now - timedelta(hours=10)
        view = await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="ana", reason="CCTV shows the mail left at 14:00", aware_at=earlier),
        )
        _, initial = stage(view, GDPR)
        assert initial.due_at == earlier + timedelta(hours=72)
        assert view.aware_at == earlier
        moved = next(e for e in view.timeline if e.event == "deadline_moved")
        assert "moved from" in moved.detail
        assert await attribute(handle, SA.NEXT_DEADLINE.key) == initial.due_at

        await dev_env.fast_forward(handle, timedelta(hours=62, minutes=1))
        view = await handle.query(IncidentWorkflow.state)
    _, initial = stage(view, GDPR)
    assert initial.status == "breached"
    assert breach_pages(outside) == [f"{handle.id}~breach-{GDPR}-initial"]


# dev_env: fact changes are updates.
async def test_jurisdiction_added_and_category_removed(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    worker, handle, _ = await start_paused(dev_env, outside)
    async with worker:
        await wait_until(handle, armed)
        view = await handle.execute_update(
            IncidentWorkflow.update_facts, FactsUpdate(by="ana", jurisdictions=("DE", "GB"))
        )
        assert stage(view, UK)[1].status == "pending"
        assert any(e.event == "obligation_armed" and "ICO" in e.detail for e in view.timeline)
        assert UK in await attribute(handle, SA.REGIMES.key)

        view = await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="ana", reason="the sheet held only company names", data_categories=()),
        )
        gdpr, initial = stage(view, GDPR)
        assert not gdpr.in_force and initial.status == "cancelled"
        cancelled = [e for e in view.timeline if e.event == "obligation_cancelled"]
        assert any(gdpr.cancelled_reason in e.detail for e in cancelled)
        assert view.next_deadline is None
        assert await attribute(handle, SA.REGIMES.key) in ([], None)

        with pytest.raises(WorkflowUpdateFailedError) as same:
            await handle.execute_update(
                IncidentWorkflow.update_facts, FactsUpdate(by="ana", data_categories=())
            )
        assert "changes no fact" in str(same.value.cause)
        await dev_env.fast_forward(handle, timedelta(hours=73))
    assert breach_pages(outside) == []
