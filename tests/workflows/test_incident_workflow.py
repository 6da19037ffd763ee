"""IncidentWorkflow against real Temporal servers, with Jira and the pager replaced by doubles."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from incidents.lifecycle import Action, IncidentState, IncidentView
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import CLOSE, Outside, new_worker
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA
from workflows.options import TICKET_DEADLINE

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Caller says she entered her password on a fake bank page",
        "description": "Jane Roe (card 4111 1111 1111 1111) clicked a link in an SMS.",
        "channel": "phone",
        # Validated by the agent who filed it: paged at once, as these tests expect.
        "validation": {"by": "filing.agent"},
        "reporter": {"name": "Jane Roe", "contact": "+63 917 555 0101"},
        "aware_at": "2026-11-28T09:15:00+08:00",
        "category": "phishing",
        "severity": "SEV2",
    }
)


def start_input() -> StartIncident:
    return StartIncident(
        incident_id=f"demo-{uuid.uuid4().hex[:8]}",
        report=REPORT,
        received_at=datetime(2026, 11, 28, 1, 16, tzinfo=UTC),
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


# The dev server: the lifecycle is driven by updates, which the Java test server lacks.
async def test_lifecycle_ticket_page_ack_resolve(dev_env: WorkflowEnvironment) -> None:
    outside = Outside()
    start = start_input()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run,
            start,
            id=f"incident-{start.incident_id}",
            task_queue=worker.task_queue,
        )
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        assert view.jira_key == "SEC-1"

        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana.oncall"))
        assert acked.acknowledged_by == "ana.oncall"
        resolved = await handle.execute_update(
            IncidentWorkflow.resolve, Action(by="ana.oncall", note="password reset, link blocked")
        )
        assert resolved.resolved_by == "ana.oncall"
        # Resolution opens the post-incident review; closing it ends the incident.
        await wait_until(handle, lambda v: v.state == IncidentState.REVIEW)
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()

    assert result.state == IncidentState.CLOSED
    # The SOP checklist is posted beside the lifecycle (tests/workflows/test_checklist.py).
    [checklist] = [c for c in outside.of("comment_jira_ticket") if "SOP checklist" in c.body]
    assert outside.names().count("load_sop_checklist") == 1
    assert [
        name
        for name, arg in outside.calls
        if name not in ("sync_jira_ticket", "load_sop_checklist") and arg is not checklist
    ] == [
        "load_client_policy",
        "create_jira_ticket",
        "comment_jira_ticket",
        "trigger_page",
        "comment_jira_ticket",
        "assess_obligations",
        "acknowledge_page",
        "comment_jira_ticket",
        "resolve_page",
        "comment_jira_ticket",
        "create_review_subtask",  # the review's own sub-task (workflows/review.py)
        "comment_jira_ticket",
        "transition_jira_ticket",  # the sub-task follows the close
        "comment_jira_ticket",
        "transition_jira_ticket",
    ]
    ticket = outside.of("create_jira_ticket")[0]
    assert ticket.workflow_id == handle.id
    page = outside.of("trigger_page")[0]
    assert page.dedup_key == handle.id
    assert page.severity == "error"  # SEV2 through the policy's default map
    assert outside.of("resolve_page") == [handle.id]
    assert outside.of("transition_jira_ticket")[0].status == "Done"
    events = [entry.event for entry in result.timeline]
    assert events.index("paged") < events.index("acknowledged") < events.index("resolved")
    assert events.index("resolved") < events.index("review_requested") < events.index("review_done")

    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(SA.CLIENT.key) == "demo"
    assert attributes.get(SA.JIRA_KEY.key) == "SEC-1"
    assert attributes.get(SA.STATE.key) == "CLOSED"
    assert attributes.get(SA.SEVERITY.key) == "SEV2"


async def test_page_carries_no_personal_data(dev_env: WorkflowEnvironment) -> None:
    outside = Outside()
    start = start_input()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run, start, id=f"incident-{start.incident_id}",
            task_queue=worker.task_queue,
        )  # fmt: skip
        await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        await handle.terminate("test over")
    page = outside.of("trigger_page")[0]
    text = page.model_dump_json()
    for personal in ("Jane", "Roe", "917", "4111", "password", "fake bank"):
        assert personal not in text, personal
    assert page.custom_details["incident_id"] == start.incident_id


async def test_invalid_actions_are_refused_with_a_reason(dev_env: WorkflowEnvironment) -> None:
    outside = Outside()
    start = start_input()
    async with new_worker(dev_env.client, outside) as worker:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run, start, id=f"incident-{start.incident_id}",
            task_queue=worker.task_queue,
        )  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(IncidentWorkflow.resolve, Action(by="bob"))
        assert "acknowledge it first" in str(refused.value.cause)

        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        # A second acknowledgement is recorded, not refused: the first one keeps ownership.
        again = await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="bob", channel="pagerduty")
        )
        assert again.acknowledged_by == "ana"
        again = await handle.query(IncidentWorkflow.state)  # the whole timeline
        assert [e.by for e in again.timeline if e.event == "acknowledged"] == ["ana"]
        assert [e.by for e in again.timeline if e.event == "also_acknowledged"] == ["bob"]

        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        with pytest.raises(WorkflowUpdateFailedError) as late:
            await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="carl"))
        assert "already resolved by ana" in str(late.value.cause)
        await wait_until(handle, lambda v: v.state == IncidentState.REVIEW)
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        await handle.result()


# The Java test server: ten minutes of Jira retries pass in an instant, and no update is needed.
async def test_jira_outage_does_not_hold_back_the_page(java_env: WorkflowEnvironment) -> None:
    outside = Outside(jira_down=True)
    start = start_input()
    async with new_worker(java_env.client, outside) as worker:
        handle = await java_env.client.start_workflow(
            IncidentWorkflow.run, start, id=f"incident-{start.incident_id}",
            task_queue=worker.task_queue,
        )  # fmt: skip
        # Time skips only while the test waits on the server: sleep past the ticket deadline.
        await java_env.sleep(TICKET_DEADLINE + timedelta(minutes=1))
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        await handle.terminate("test over")

    assert view.jira_key is None
    assert "jira_ticket_failed" in [entry.event for entry in view.timeline]
    tries = len(outside.of("create_jira_ticket"))
    assert tries > 5, tries  # retried with back-off for the whole ticket deadline
    page = outside.of("trigger_page")[0]
    assert page.jira_key is None


def test_search_attribute_names_are_the_documented_ones() -> None:
    names = {member.key.name for member in SA}
    assert names == {
        "IncidentState", "IncidentSeverity", "IncidentType", "IncidentClient", "JiraKey",
        "Regimes", "NextDeadline", "DeadlineBreached", "ReportKeys",
    }  # fmt: skip
    assert isinstance(SA.REGIMES.key, SearchAttributeKey)


async def test_incident_born_in_jira_keeps_its_ticket(dev_env: WorkflowEnvironment) -> None:
    outside = Outside()
    start = start_input().model_copy(update={"jira_key": "SEC-42"})
    async with new_worker(dev_env.client, outside) as worker:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run, start, id="incident-SEC-42", task_queue=worker.task_queue
        )
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        await handle.terminate("test over")
    assert view.jira_key == "SEC-42"
    assert outside.of("create_jira_ticket") == []
    assert outside.of("trigger_page")[0].jira_key == "SEC-42"
