"""The lifecycle's human stages on real Temporal servers: triage (validate or false alarm, with
its SLA), containment, and the post-incident review before close.

Jira and the pager are doubles; the obligation rules are the real ones. Every test sends updates,
so all run on the dev server; the timed ones start paused and move virtual time on with
`fast_forward`, so an SLA fires exactly when the test says.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.checklist import ChecklistTick, TickedItem
from incidents.clocks import StageDone
from incidents.lifecycle import (
    Action,
    CloseIncident,
    Containment,
    FalseAlarm,
    IncidentState,
    IncidentView,
    ReviewAnswers,
    Validation,
)
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, ReportValidation, StartIncident
from incidents.stages import TriageTerms
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA

SLACK = timedelta(seconds=5)
GDPR = "eu_gdpr_art33_authority"
POLICY = ClientPolicy(
    id="demo",
    name="Lifecycle test client",
    triage=TriageTerms(
        team_lead="soc-team-lead", team_lead_jira="accountid:5b10ac8d82e05b22cc7d4ef5"
    ),
)
REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Customer list emailed to the wrong address",
        "description": "Agent 4410 sent a spreadsheet of 40 customers to an outside address.",
        "channel": "email",
        "reporter": {"name": "Team lead", "contact": "ext 2200"},
        "category": "misdirected_disclosure",
        "severity": "SEV2",
        "jurisdictions": ["DE"],
        "data_categories": ["personal"],
    }
)
REVIEW = ReviewAnswers(
    root_cause="Autocomplete picked an outside address",
    went_well="Reported within minutes",
    to_improve="Disable autocomplete for external domains",
    training_needs="Refresher on outbound email checks for team 4",
)


async def start(
    env: WorkflowEnvironment, queue: str, report: IncidentReport = REPORT
) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(microsecond=0)
    with env.with_time_skipping_disabled():
        return await env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(
                incident_id=incident_id,
                report=report.model_copy(update={"aware_at": now}),
                received_at=now,
            ),
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


def events(view: IncidentView, name: str):
    return [e for e in view.timeline if e.event == name]


def states(view: IncidentView) -> list[str]:
    return [e.detail.removeprefix("State is now ") for e in events(view, "state_changed")]


def waiting(view: IncidentView) -> bool:
    return bool(events(view, "triage_waiting"))


async def refused(handle: WorkflowHandle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, arg)
    return str(failed.value.cause)


async def test_report_waits_for_validation_then_is_paged(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        view = await wait_until(handle, waiting)
        assert view.state == IncidentState.TRIAGE
        assert "trigger_page" not in outside.names()
        assert "not been validated" in await refused(
            handle, IncidentWorkflow.resolve, Action(by="bob")
        )
        assert "not been validated" in await refused(
            handle, IncidentWorkflow.acknowledge, Action(by="bob")
        )
        assert "not been validated" in await refused(
            handle, IncidentWorkflow.contain, Containment(by="bob", note="blocked the address")
        )

        validated = await handle.execute_update(
            IncidentWorkflow.validate,
            Validation(
                by="ana.agent",
                note="customer confirmed",
                severity="SEV1",
                category="data_leakage",
                channel="jira",
            ),
        )
        assert validated.validated_by == "ana.agent" and validated.severity == "SEV1"
        assert "already validated by ana.agent" in await refused(
            handle, IncidentWorkflow.mark_false_alarm, FalseAlarm(by="bob", reason="duplicate")
        )
        view = await wait_until(handle, lambda v: bool(v.obligations))
        await handle.terminate("test over")

    assert states(view) == ["TRIAGE", "VALIDATED", "CLASSIFIED", "ESCALATED"]
    assert view.triaged_at is not None and view.triage_escalated_at is None
    assert "severity SEV2 → SEV1" in events(view, "validated")[0].detail
    page = outside.of("trigger_page")[0]
    assert page.severity == "critical"  # the corrected severity is the one paged
    names = outside.names()
    assert names.index("trigger_page") < names.index("assess_obligations")
    assert outside.of("assess_obligations")[0].facts.incident_type == "data_leakage"
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert comments[0].startswith("New report awaiting triage (SEV2)")
    assert "Validated by ana.agent: customer confirmed" in comments[1]
    assert attr(await handle.describe(), SA.SEVERITY) == "SEV1"


def attr(described, attribute):
    return described.typed_search_attributes.get(attribute.key)


async def test_false_alarm_closes_without_page_or_clocks(dev_env: WorkflowEnvironment) -> None:
    with pytest.raises(ValidationError):
        FalseAlarm(by="ana", reason="")  # the reason is the whole record: it is required
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        await wait_until(handle, waiting)
        await handle.execute_update(
            IncidentWorkflow.mark_false_alarm,
            FalseAlarm(by="ana.agent", reason="the address is the client's own", channel="jira"),
        )
        result = await handle.result()

    assert result.state == IncidentState.CLOSED
    assert states(result) == ["TRIAGE", "FALSE_ALARM", "CLOSED"]
    assert result.false_alarm_by == "ana.agent" and result.triaged_at is not None
    assert "trigger_page" not in outside.names()
    assert "assess_obligations" not in outside.names() and result.obligations == []
    assert outside.names()[-2:] == ["comment_jira_ticket", "transition_jira_ticket"]
    assert outside.of("transition_jira_ticket")[0].status == "Done"
    last = outside.of("comment_jira_ticket")[-1].body
    assert "false alarm by ana.agent: the address is the client's own" in last
    assert attr(await handle.describe(), SA.STATE) == "CLOSED"


async def test_triage_sla_pages_the_team_lead_once(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        view = await wait_until(handle, waiting)
        began = events(view, "triage_waiting")[0].at
        assert view.triage_due_at == began + timedelta(minutes=30)  # SEV2 default

        await dev_env.fast_forward(handle, timedelta(minutes=29))
        assert outside.of("trigger_page") == []
        await dev_env.fast_forward(handle, timedelta(minutes=2))
        view = await wait_until(handle, lambda v: v.triage_escalated_at is not None)
        assert abs(view.triage_escalated_at - (began + timedelta(minutes=30))) < SLACK
        await dev_env.fast_forward(handle, timedelta(hours=6))
        view = await handle.query(IncidentWorkflow.state)
        assert view.state == IncidentState.TRIAGE  # still waiting for a verdict

        [page] = outside.of("trigger_page")
        assert page.dedup_key == f"{handle.id}-triage"
        assert page.severity == "warning"
        assert page.custom_details["targets"] == "soc-team-lead"
        assert "Agent 4410" not in str(page) and "ext 2200" not in str(page)
        mention = [c.body for c in outside.of("comment_jira_ticket") if "SLA missed" in c.body]
        assert len(mention) == 1 and "[~accountid:5b10ac8d82e05b22cc7d4ef5]" in mention[0]

        await handle.execute_update(IncidentWorkflow.validate, Validation(by="lead"))
        await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        history = await handle.fetch_history()
        await handle.terminate("test over")

    assert outside.of("resolve_page") == [f"{handle.id}-triage"]
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("timer_started_event_attributes") and e.HasField("user_metadata")
    ]
    assert any("Triage SLA (SEV2, 30m)" in s for s in summaries), summaries


async def test_contain_resolve_review_close(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    filed = REPORT.model_copy(
        update={"validation": ReportValidation(by="ana.agent", note="confirmed on the call")}
    )
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue, filed)
        view = await wait_until(handle, lambda v: any(c.id == GDPR for c in v.obligations))
        assert not waiting(view) and view.validated_by == "ana.agent"
        assert "acknowledge it first" in await refused(
            handle, IncidentWorkflow.contain, Containment(by="mo", note="recalled the mail")
        )
        assert "not resolved" in await refused(
            handle, IncidentWorkflow.close, CloseIncident(by="mo", review=REVIEW)
        )
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        # The SOP checklist's required items hold containment back until they are ticked.
        await wait_until(handle, lambda v: v.checklist is not None)
        gated = await refused(
            handle, IncidentWorkflow.contain, Containment(by="mo", note="recalled the mail")
        )
        assert "required items still open before contain" in gated and "sent_copy" in gated
        ids = ("what_was_sent", "who_received", "ask_deletion", "sent_copy")
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            ChecklistTick(by="ana.agent", items=tuple(TickedItem(id=i) for i in ids)),
        )
        contained = await handle.execute_update(
            IncidentWorkflow.contain, Containment(by="mo", note="recalled the mail")
        )
        assert contained.state == IncidentState.CONTAINED and contained.contained_at is not None
        assert "already contained by mo" in await refused(
            handle, IncidentWorkflow.contain, Containment(by="ana", note="again")
        )
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="deleted"))
        view = await wait_until(handle, lambda v: v.state == IncidentState.REVIEW)
        resolved_at = view.resolved_at

        # Resolution does not stop the clocks: GDPR's 72 hours still run out in review.
        await dev_env.fast_forward(handle, timedelta(hours=73))
        view = await wait_until(handle, lambda v: bool(events(v, "deadline_breached")))
        message = await refused(
            handle, IncidentWorkflow.close, CloseIncident(by="mo", review=REVIEW)
        )
        assert f"{GDPR} (initial)" in message and "waive_open_stages" in message

        # The review is due a week after resolution, then reminded daily (three at most). One
        # jump per reminder: each arms the next, and a jump does not wait for the worker to.
        await dev_env.fast_forward(handle, timedelta(days=3, hours=23, minutes=1))
        await wait_until(handle, lambda v: len(events(v, "review_overdue")) == 1)
        await dev_env.fast_forward(handle, timedelta(days=1, hours=1))
        view = await wait_until(handle, lambda v: len(events(v, "review_overdue")) == 2)
        reminders = events(view, "review_overdue")
        assert abs(reminders[0].at - (resolved_at + timedelta(days=7))) < SLACK
        assert abs(reminders[1].at - (resolved_at + timedelta(days=8))) < SLACK

        for clock in view.obligations:
            for stage in clock.stages:
                if clock.in_force and stage.status in ("pending", "breached", "no_fixed_deadline"):
                    await handle.execute_update(
                        IncidentWorkflow.mark_stage_done,
                        StageDone(
                            obligation=clock.id, stage=stage.stage, by="dpo", reference="R-1"
                        ),
                    )
        closed = await handle.execute_update(
            IncidentWorkflow.close, CloseIncident(by="lead", review=REVIEW, channel="cli")
        )
        assert closed.closed_by == "lead"
        result = await handle.result()

    assert result.state == IncidentState.CLOSED
    assert states(result) == [
        "TRIAGE", "VALIDATED", "CLASSIFIED", "ESCALATED", "CONTAINED", "RESOLVED", "REVIEW",
        "CLOSED",
    ]  # fmt: skip
    assert result.review == REVIEW and result.open_stages_waived is None
    assert result.contained_at <= result.resolved_at <= result.closed_at
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert "Contained by mo: recalled the mail" in comments
    ask = next(c for c in comments if c.startswith("Post-incident review, due"))
    for question in ("Root cause", "What went well", "improve", "Training needs"):
        assert question in ask
    assert comments[-1].startswith("Post-incident review done; closed by lead.")
    assert outside.names()[-1] == "transition_jira_ticket"


async def test_close_with_open_stages_needs_a_waiver(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY.model_copy(update={"triage": TriageTerms(
        auto_validated_channels=("email",))}))  # fmt: skip
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        assert events(view, "validated")[0].by == "policy:demo"
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo"))
        await wait_until(handle, lambda v: v.state == IncidentState.REVIEW)
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(
                by="lead",
                summary="Reviewed in the weekly meeting",
                waive_open_stages="filed by the client's DPO under their own reference",
            ),
        )
        result = await handle.result()
    assert result.open_stages_waived == "filed by the client's DPO under their own reference"
    waived = events(result, "open_stages_waived")[0]
    assert GDPR in waived.detail and waived.by == "lead"
    assert "Reporting stages left open" in outside.of("comment_jira_ticket")[-1].body
