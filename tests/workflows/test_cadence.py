"""The status-update cadence on the real dev server with virtual time; Jira and pager are doubles.

A SEV1 incident under a policy with the default cadence (hourly for SEV1) and a one-level chain;
every test acknowledges first, since the cadence runs from the acknowledgement to the resolution.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from incidents.clocks import FactsUpdate
from incidents.comments import IncidentComment
from incidents.lifecycle import Action, IncidentView
from incidents.policy import ClientPolicy, EscalationLevel
from incidents.report import IncidentReport, Severity, StartIncident
from incidents.status_updates import StakeholderUpdate
from tests.workflows.doubles import CLOSE, Outside, new_worker
from tests.workflows.test_escalation import REPORT, wait_until
from workflows.cadence import MAX_REMINDERS, cadence_key
from workflows.incident import IncidentWorkflow

HOUR = timedelta(hours=1)
SLACK = timedelta(seconds=5)
POLICY = ClientPolicy(
    id="demo",
    name="cadence test client",
    escalation={Severity.SEV1: (EscalationLevel(targets=("soc-oncall",), ack_timeout=HOUR * 24),)},
)


async def acknowledged(
    env: WorkflowEnvironment, outside: Outside, queue: str, report: IncidentReport = REPORT
) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    with env.with_time_skipping_disabled():
        handle = await env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=report, received_at=datetime.now(UTC)),
            id=f"incident-{incident_id}",
            task_queue=queue,
        )
    await wait_until(handle, lambda v: len(v.pages) == 1)
    await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
    return handle


def overdue(view: IncidentView) -> list[datetime]:
    return [e.at for e in view.timeline if e.event == "status_update_overdue"]


def reminders(outside: Outside) -> list[str]:
    return [
        c.body for c in outside.of("comment_jira_ticket") if "stakeholder update is due" in c.body
    ]


def cadence_pages(outside: Outside, handle: WorkflowHandle) -> list[str]:
    return [
        p.dedup_key for p in outside.of("trigger_page") if p.dedup_key == cadence_key(handle.id)
    ]


async def test_owner_reminded_hourly_paged_at_second_miss_reset_by_update_stopped_by_resolve(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await acknowledged(dev_env, outside, worker.task_queue)
        acked_at = (await handle.query(IncidentWorkflow.state)).acknowledged_at
        assert acked_at is not None

        await dev_env.fast_forward(handle, HOUR - timedelta(minutes=1))
        assert overdue(await handle.query(IncidentWorkflow.state)) == []
        await dev_env.fast_forward(handle, timedelta(minutes=2))
        view = await wait_until(handle, lambda v: len(overdue(v)) == 1)
        assert abs(overdue(view)[0] - (acked_at + HOUR)) < SLACK
        (reminder,) = reminders(outside)
        assert reminder.startswith("[~ana]: a stakeholder update is due")
        assert "every 1h" in reminder
        assert cadence_pages(outside, handle) == [], "one miss is a Jira reminder only"

        await dev_env.fast_forward(handle, HOUR)
        view = await wait_until(handle, lambda v: len(overdue(v)) == 2)
        assert abs(overdue(view)[1] - (acked_at + 2 * HOUR)) < SLACK
        await wait_until(handle, lambda v: v.timeline[-1].event == "status_update_paged")
        (page,) = [p for p in outside.of("trigger_page") if p.dedup_key == cadence_key(handle.id)]
        assert page.severity == "warning" and page.custom_details["targets"] == "ana"
        assert page.custom_details["cadence"] == "1h"
        assert "Priya" not in page.summary and "Priya" not in str(page.custom_details)

        # Half an interval later an update arrives: without a reset the next reminder would be
        # due at acked_at + 3h; with it, an hour after the update.
        await dev_env.fast_forward(handle, HOUR / 2)
        view = await handle.execute_update(
            IncidentWorkflow.post_update,
            StakeholderUpdate(by="ana", text="Encrypted hosts isolated; restoring from backup"),
        )
        updated_at = view.last_stakeholder_update_at
        assert updated_at is not None and view.timeline[-1].event == "stakeholder_update"
        await wait_until(handle, lambda v: cadence_key(handle.id) in outside.of("resolve_page"))
        assert any(
            c.body.startswith("Stakeholder update from ana: Encrypted hosts isolated")
            for c in outside.of("comment_jira_ticket")
        )

        # The interval counts from the update now.
        await dev_env.fast_forward(handle, HOUR - timedelta(minutes=1))
        assert len(overdue(await handle.query(IncidentWorkflow.state))) == 2
        await dev_env.fast_forward(handle, timedelta(minutes=2))
        view = await wait_until(handle, lambda v: len(overdue(v)) == 3)
        assert abs(overdue(view)[2] - (updated_at + HOUR)) < SLACK

        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await dev_env.fast_forward(handle, 5 * HOUR)
        assert len(overdue(await handle.query(IncidentWorkflow.state))) == 3
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()

    assert len(overdue(result)) == 3 == len(reminders(outside)), "none after the resolution"
    assert cadence_pages(outside, handle) == [cadence_key(handle.id)]
    summaries = await timer_summaries(dev_env, handle)
    assert "Status update cadence (SEV1, every 1h): remind ana in Jira" in summaries
    assert "Status update cadence (SEV1, every 1h): page ana" in summaries


async def test_jira_update_in_time_means_no_reminder(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await acknowledged(dev_env, outside, worker.task_queue)
        await dev_env.fast_forward(handle, timedelta(minutes=50))
        view = await handle.execute_update(
            IncidentWorkflow.add_comment,
            IncidentComment(
                comment_id="10200",
                by="Ana Reyes",
                body="[update] contained",
                stakeholder_update=True,
            ),
        )
        updated_at = view.last_stakeholder_update_at
        assert updated_at is not None
        # Past an hour since the acknowledgement, not since the update: nothing is due.
        await dev_env.fast_forward(handle, timedelta(minutes=55))
        assert overdue(await handle.query(IncidentWorkflow.state)) == []
        await dev_env.fast_forward(handle, timedelta(minutes=10))
        view = await wait_until(handle, lambda v: len(overdue(v)) == 1)
        assert abs(overdue(view)[0] - (updated_at + HOUR)) < SLACK
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        await handle.result()
    assert cadence_pages(outside, handle) == []


async def test_no_cadence_for_a_severity_without_one(dev_env: WorkflowEnvironment) -> None:
    assert POLICY.status_update_interval(Severity.SEV4) is None  # our defaults stop at SEV3
    outside = Outside(policy=POLICY)
    sev4 = REPORT.model_copy(update={"severity": Severity.SEV4})
    async with new_worker(dev_env.client, outside) as worker:
        handle = await acknowledged(dev_env, outside, worker.task_queue, sev4)
        await dev_env.fast_forward(handle, 3 * HOUR)
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()
    assert overdue(result) == []


def paused(view: IncidentView) -> list[datetime]:
    return [e.at for e in view.timeline if e.event == "status_update_reminders_paused"]


async def silent_until_paused(env: WorkflowEnvironment, handle: WorkflowHandle) -> IncidentView:
    """An hour per miss until the cap; the pause is recorded with the last reminder."""
    for miss in range(1, MAX_REMINDERS + 1):
        await env.fast_forward(handle, HOUR)
        await wait_until(handle, lambda v, n=miss: len(overdue(v)) == n)
    return await wait_until(handle, lambda v: len(paused(v)) == 1)


async def test_reminders_pause_after_the_cap_until_the_next_update(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await acknowledged(dev_env, outside, worker.task_queue)
        acked_at = (await handle.query(IncidentWorkflow.state)).acknowledged_at
        assert acked_at is not None
        view = await silent_until_paused(dev_env, handle)
        assert abs(paused(view)[0] - (acked_at + MAX_REMINDERS * HOUR)) < SLACK
        assert len(reminders(outside)) == MAX_REMINDERS

        # Five more silent hours: without the cap, five more reminders.
        for _ in range(5):
            await dev_env.fast_forward(handle, HOUR)
        view = await handle.query(IncidentWorkflow.state)
        assert len(overdue(view)) == MAX_REMINDERS and len(paused(view)) == 1
        assert len(reminders(outside)) == MAX_REMINDERS
        assert cadence_pages(outside, handle) == [cadence_key(handle.id)], "one page, still open"
        assert cadence_key(handle.id) not in outside.of("resolve_page")

        # An update resolves the page and restarts the count: the next reminder an hour later.
        view = await handle.execute_update(
            IncidentWorkflow.post_update, StakeholderUpdate(by="ana", text="Still restoring")
        )
        updated_at = view.last_stakeholder_update_at
        assert updated_at is not None
        await wait_until(handle, lambda v: cadence_key(handle.id) in outside.of("resolve_page"))
        await dev_env.fast_forward(handle, HOUR - timedelta(minutes=1))
        assert len(overdue(await handle.query(IncidentWorkflow.state))) == MAX_REMINDERS
        await dev_env.fast_forward(handle, timedelta(minutes=2))
        view = await wait_until(handle, lambda v: len(overdue(v)) == MAX_REMINDERS + 1)
        assert abs(overdue(view)[-1] - (updated_at + HOUR)) < SLACK
        assert len(reminders(outside)) == MAX_REMINDERS + 1

        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()
    assert len(paused(result)) == 1


async def test_a_severity_change_resumes_paused_reminders_from_the_change(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await acknowledged(dev_env, outside, worker.task_queue)
        await silent_until_paused(dev_env, handle)
        await dev_env.fast_forward(handle, 2 * HOUR)
        assert len(overdue(await handle.query(IncidentWorkflow.state))) == MAX_REMINDERS

        view = await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="ana", severity=Severity.SEV2, reason="only one site affected"),
        )
        assert view.severity == Severity.SEV2
        changed_at = view.timeline[-1].at
        # SEV2 is every four hours, counted from the change, not from the last reminder.
        await dev_env.fast_forward(handle, 4 * HOUR - timedelta(minutes=2))
        assert len(overdue(await handle.query(IncidentWorkflow.state))) == MAX_REMINDERS
        await dev_env.fast_forward(handle, timedelta(minutes=4))
        view = await wait_until(handle, lambda v: len(overdue(v)) == MAX_REMINDERS + 1)
        assert abs(overdue(view)[-1] - (changed_at + 4 * HOUR)) < SLACK
        assert "every 4h" in reminders(outside)[-1]

        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        await handle.result()


async def timer_summaries(env: WorkflowEnvironment, handle: WorkflowHandle) -> set[str]:
    converter = env.client.data_converter.payload_converter
    found = set()
    async for event in handle.fetch_history_events():
        if event.HasField("timer_started_event_attributes") and event.HasField("user_metadata"):
            found.add(converter.from_payload(event.user_metadata.summary, str))
    return found
