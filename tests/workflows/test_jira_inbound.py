"""The updates Jira's webhooks turn into (comments, duplicates, field edits) and the write-back
of the incident onto its issue, on the dev server with time skipping; Jira is a double."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.clocks import FactsUpdate
from incidents.comments import IncidentComment
from incidents.duplicates import DuplicateReport
from incidents.lifecycle import IncidentView
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Agent mailed a customer list to the wrong address",
        "description": "Spreadsheet with 40 customers sent to an outside address.",
        "channel": "email",
        "reporter": {"name": "Team lead", "contact": "lead@bpo.example"},
        "aware_at": "2026-11-28T09:15:00+01:00",
        "category": "misdirected_disclosure",
        "severity": "SEV3",
        "validation": {"by": "agent 4410", "note": "confirmed with the recipient"},
    }
)


async def wait_until(handle: WorkflowHandle, predicate, within: float = 20) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; last state {view.state}")
        await asyncio.sleep(0.1)


async def started(env: WorkflowEnvironment, outside: Outside, task_queue: str) -> WorkflowHandle:
    start = StartIncident(
        incident_id=f"demo-{uuid.uuid4().hex[:8]}",
        report=REPORT,
        received_at=datetime(2026, 11, 28, 8, 20, tzinfo=UTC),
    )
    return await env.client.start_workflow(
        IncidentWorkflow.run, start, id=f"incident-{start.incident_id}", task_queue=task_queue
    )


async def test_comments_go_into_the_timeline_and_updates_are_marked(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await started(dev_env, outside, worker.task_queue)
        await wait_until(handle, lambda v: v.jira_key == "SEC-1")
        plain = IncidentComment(comment_id="10100", by="Sandbox Agent", body="Called the recipient")
        view = await handle.execute_update(IncidentWorkflow.add_comment, plain, id="c-10100")
        assert view.last_stakeholder_update_at is None
        update = IncidentComment(
            comment_id="10101", by="Sandbox Agent", body="[update] deleted", stakeholder_update=True
        )
        view = await handle.execute_update(IncidentWorkflow.add_comment, update, id="c-10101")
        # The same comment delivered again (comment_created and issue_updated): counted once.
        await handle.execute_update(IncidentWorkflow.add_comment, update, id="c-10101")
        again = await handle.query(IncidentWorkflow.state)  # the whole timeline
        await handle.terminate("test over")

    entries = [
        (e.event, e.detail, e.by)
        for e in again.timeline
        if "comment" in e.event or "stake" in e.event
    ]
    assert entries == [
        ("comment", "Called the recipient", "Sandbox Agent"),
        ("stakeholder_update", "[update] deleted", "Sandbox Agent"),
    ]
    assert view.last_stakeholder_update_at is not None
    assert again.last_stakeholder_update_at == view.last_stakeholder_update_at


async def test_a_duplicate_report_is_recorded_once_and_commented(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await started(dev_env, outside, worker.task_queue)
        await wait_until(handle, lambda v: v.jira_key == "SEC-1")
        duplicate = DuplicateReport(
            ref="SEC-9", matched_on="reporter_contact", channel="phone", jira_key="SEC-9"
        )
        view = await handle.execute_update(IncidentWorkflow.record_duplicate, duplicate)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(IncidentWorkflow.record_duplicate, duplicate)
        assert "already recorded" in str(refused.value.cause)
        await handle.terminate("test over")

    assert view.duplicates == ["SEC-9"]
    assert [e.event for e in view.timeline].count("duplicate_report") == 1
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert any(
        "Duplicate report SEC-9" in body and "same reporter contact" in body for body in comments
    )


async def test_severity_edit_reclassifies_and_clocks_are_written_back(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await started(dev_env, outside, worker.task_queue)
        before = await wait_until(handle, lambda v: v.facts is not None)
        synced = await _synced(outside, lambda t: t.state == "ESCALATED")
        assert synced.obligations == [c.id for c in before.obligations if c.in_force] == []
        assert synced.workflow_id == handle.id
        assert synced.next_deadline is None

        edit = FactsUpdate(
            by="Sandbox Agent",
            severity="SEV1",
            jurisdictions=("DE",),
            data_categories=("personal",),
            records_affected=40,
        )
        view = await handle.execute_update(
            IncidentWorkflow.update_facts, edit, id="jira-changelog-1"
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(IncidentWorkflow.update_facts, edit)
        assert "changes no fact" in str(refused.value.cause)
        after = await _synced(outside, lambda t: "gdpr" in " ".join(t.obligations))
        await handle.terminate("test over")

    assert view.severity == "SEV1"
    facts_line = next(e for e in view.timeline if e.event == "facts_updated")
    assert "severity SEV3 → SEV1" in facts_line.detail
    assert "eu_gdpr_art33_processor_to_controller" in after.obligations
    assert after.next_deadline == view.next_deadline


async def _synced(outside: Outside, predicate, within: float = 20):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        tickets = [r.ticket for r in outside.of("sync_jira_ticket")]
        if tickets and predicate(tickets[-1]):
            return tickets[-1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no matching write-back; last: {tickets[-1:]}")
        await asyncio.sleep(0.1)
