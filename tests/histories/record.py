"""Record the histories that the replay test checks every workflow change against.

    .venv/bin/python -m tests.histories.record            # paths without a history yet
    .venv/bin/python -m tests.histories.record NAME ...   # these paths only

Runs each lifecycle path of IncidentWorkflow on the real servers from the venv (activities are
the test doubles, which is all replay needs: their results are in the history) and writes one
JSON history per path next to this file. Record again only for a new path or a new workflow
version; a change that cannot replay the committed histories needs `workflow.patched`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from incidents.assessment_terms import AssessmentTerms, UntilAnswered
from incidents.assessments import ObligationAssessment
from incidents.checklist import ChecklistTick, TickedItem
from incidents.clocks import FactsUpdate, StageDone
from incidents.lifecycle import (
    Action,
    CloseIncident,
    Containment,
    FalseAlarm,
    IncidentState,
    ReviewAnswers,
    Validation,
)
from incidents.notification import ClientAcknowledgement
from incidents.policy import ClientPolicy, EscalationLevel
from incidents.report import IncidentReport, ReportValidation, Severity, StartIncident
from incidents.status_updates import StakeholderUpdate
from intake.queries import query_state
from integrations.temporal import venv_binary
from tests.conftest import register_search_attributes
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute
from workflows.options import TICKET_DEADLINE

HERE = Path(__file__).parent

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Agent's laptop stolen from a car",
        "description": "Team lead reports the laptop of agent 4410 stolen overnight.",
        "channel": "walk_in",
        "reporter": {"name": "Team lead", "contact": "ext 2200"},
        "aware_at": "2026-11-28T08:00:00+05:30",
        "category": "lost_or_stolen_device",
    }
)


# Short timeouts, so the dev server (real time) lets a level time out within a recording.
CHAIN_POLICY = ClientPolicy(
    id="demo",
    name="Demo with a chain",
    escalation={
        Severity.SEV1: (
            EscalationLevel(targets=("soc-oncall",), ack_timeout=timedelta(seconds=1)),
            EscalationLevel(targets=("soc-manager",), ack_timeout=timedelta(seconds=2)),
        )
    },
    escalation_repeats=1,
    no_responder_target="ops-manager",
)
SEV1_REPORT = REPORT.model_copy(update={"severity": Severity.SEV1})


async def _start(
    client: Client, outside: Outside, task_queue: str, report: IncidentReport = REPORT
) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(
            incident_id=incident_id, report=report, received_at=datetime(2026, 11, 28, tzinfo=UTC)
        ),
        id=f"incident-{incident_id}",
        task_queue=task_queue,
    )


async def _escalated(handle: WorkflowHandle) -> None:
    for _ in range(200):
        if (await handle.query(IncidentWorkflow.state)).state == IncidentState.ESCALATED:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("workflow did not reach ESCALATED")


async def acknowledged_and_resolved(env: WorkflowEnvironment) -> WorkflowHandle:
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue)
        await _escalated(handle)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana", note="wiped"))
        await handle.result()
    return handle


async def jira_down_then_paged(env: WorkflowEnvironment) -> WorkflowHandle:
    outside = Outside(jira_down=True)
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue)
        await env.sleep(TICKET_DEADLINE + timedelta(minutes=1))
        await _escalated(handle)
        await handle.terminate("recorded")
    return handle


async def _pages(handle: WorkflowHandle, count: int) -> None:
    for _ in range(400):
        if len((await handle.query(IncidentWorkflow.state)).pages) >= count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"workflow did not send {count} pages")


async def chain_acked_at_level_2(env: WorkflowEnvironment) -> WorkflowHandle:
    """Level 1 times out, level 2 acknowledges through the pager, then a second ack and resolve."""
    outside = Outside(policy=CHAIN_POLICY)
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue, SEV1_REPORT)
        await _pages(handle, 2)
        await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="mo", channel="pagerduty")
        )
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="isolated"))
        await handle.result()
    return handle


async def chain_no_responder(env: WorkflowEnvironment) -> WorkflowHandle:
    outside = Outside(policy=CHAIN_POLICY)
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue, SEV1_REPORT)
        await env.sleep(timedelta(minutes=1))
        await _pages(handle, 5)
        await handle.terminate("recorded")
    return handle


def _clocks_report(aware_at: datetime) -> IncidentReport:
    return REPORT.model_copy(
        update={"aware_at": aware_at, "jurisdictions": ("DE",), "data_categories": ("personal",)}
    )


async def _obligations(handle: WorkflowHandle) -> None:
    for _ in range(200):
        if (await handle.query(IncidentWorkflow.state)).obligations:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("workflow did not assess its obligations")


async def clocks_reminders_and_breach(env: WorkflowEnvironment) -> WorkflowHandle:
    """GDPR's 72 hours run out: three reminders, then the breach alert."""
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        handle = await _start(env.client, outside, worker.task_queue, _clocks_report(now))
        await _obligations(handle)
        await env.sleep(timedelta(hours=73))
        await handle.terminate("recorded")
    return handle


async def clocks_breached_done_and_facts_moved(env: WorkflowEnvironment) -> WorkflowHandle:
    """Already overdue when armed (breach at once), marked done late, then facts change (a new
    jurisdiction and an earlier awareness, then no personal data) and the incident is resolved."""
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        aware = datetime.now(UTC) - timedelta(hours=80)
        handle = await _start(env.client, outside, worker.task_queue, _clocks_report(aware))
        for _ in range(200):
            # The breach is whole once its Jira comment is out.
            if any("Deadline missed" in c.body for c in outside.of("comment_jira_ticket")):
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            IncidentWorkflow.mark_stage_done,
            StageDone(
                obligation="eu_gdpr_art33_authority", stage="initial", by="dpo", reference="X-1"
            ),
        )
        await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="ana", jurisdictions=("DE", "GB"), aware_at=aware - timedelta(hours=1)),
        )
        await handle.execute_update(
            IncidentWorkflow.update_facts, FactsUpdate(by="ana", data_categories=())
        )
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana", note="recalled"))
        await handle.result()
    return handle


NOTICE_POLICY = ClientPolicy.model_validate(
    {
        "id": "demo",
        "name": "Demo with contacts",
        "contract": {"clause": "DPA clause 8.2", "notify_within": "PT24H"},
        "contacts": [
            {"name": "Aoife Byrne", "email": "sec@client.example", "language": "en"},
            {"name": "Jonas Weber", "email": "dpo@client.example", "language": "de"},
        ],
        "client_ack": {
            "alternate_contacts": [
                {"name": "Claire Martin", "email": "backup@client.example", "language": "fr"}
            ],
            "account_manager": "bpo-am-demo",
        },
    }
)


async def _client_notified(handle: WorkflowHandle) -> None:
    for _ in range(200):
        view = await handle.query(IncidentWorkflow.state)
        if any(e.event == "obligation_stage_done" for e in view.timeline):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("workflow did not notify the client")


async def client_notified_and_acknowledged(env: WorkflowEnvironment) -> WorkflowHandle:
    """The client is emailed (contract stage done), acknowledges by link, twice; then resolved."""
    outside = Outside(policy=NOTICE_POLICY)
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        handle = await _start(env.client, outside, worker.task_queue, _clocks_report(now))
        await _client_notified(handle)
        view = await handle.query(IncidentWorkflow.state)
        ack = ClientAcknowledgement(
            contact="dpo@client.example",
            message_id=view.client_notification.notices[1].message_id,
            token_id="0" * 32,
            ip="203.0.113.7",
            user_agent="recorder",
        )
        await handle.execute_update(IncidentWorkflow.client_acknowledged, ack, id="client-ack-0")
        other = ack.model_copy(update={"contact": "sec@client.example", "token_id": "1" * 32})
        await handle.execute_update(IncidentWorkflow.client_acknowledged, other)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana", note="recalled"))
        await handle.result()
    return handle


async def client_ack_chased(env: WorkflowEnvironment) -> WorkflowHandle:
    """Nobody at the client answers: reminder, alternates, then the account manager."""
    outside = Outside(policy=NOTICE_POLICY)
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        handle = await _start(env.client, outside, worker.task_queue, _clocks_report(now))
        await _client_notified(handle)
        await env.sleep(timedelta(hours=13))
        await handle.terminate("recorded")
    return handle


async def integration_outage_and_recovery(env: WorkflowEnvironment) -> WorkflowHandle:
    """IntegrationHealthWorkflow: a blip, then two Jira outages, each alerted once and recovered."""
    from tests.workflows import test_integration_health as health
    from workflows.integration_health import HealthConfig

    operations = health.Operations()
    config = HealthConfig(integration="jira", ops_email="ops@bpo.example", after=health.AFTER)
    workflow_id = f"integration-health-jira-{uuid.uuid4().hex[:6]}"
    async with health.health_worker(env.client, operations) as queue:
        handle = await health.outage_and_recovery(
            env.client, queue, workflow_id, config, operations
        )
        await handle.terminate("recorded")
    return handle


async def digest_sent_to_contacts(env: WorkflowEnvironment) -> WorkflowHandle:
    """DigestWorkflow: the week read, then one email per contact."""
    from tests.workflows.test_digest import recording_worker
    from workflows.digest import DigestRequest, DigestWorkflow

    async with recording_worker(env.client) as queue:
        handle = await env.client.start_workflow(
            DigestWorkflow.run,
            DigestRequest(client="demo"),
            id=f"digest-demo-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        await handle.result()
    return handle


async def digest_posted_to_jira(env: WorkflowEnvironment) -> WorkflowHandle:
    """DigestWorkflow for a client with a reporting project: the emails, then the Jira issue."""
    from tests.workflows.test_digest import recording_worker
    from workflows.digest import DigestRequest, DigestWorkflow

    async with recording_worker(env.client, jira_project="RPT") as queue:
        handle = await env.client.start_workflow(
            DigestWorkflow.run,
            DigestRequest(client="demo"),
            id=f"digest-demo-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        await handle.result()
    return handle


async def obligation_assessed(env: WorkflowEnvironment) -> WorkflowHandle:
    """Questions held (policy `hold`) and asked in Jira; "yes" after the deadline breaches at
    once, "no" drops the other obligation."""
    policy = ClientPolicy(
        id="demo",
        name="Demo holding unassessed obligations",
        assessment=AssessmentTerms(until_answered=UntilAnswered.HOLD),
    )
    outside = Outside(policy=policy)
    async with new_worker(env.client, outside) as worker:
        aware = datetime.now(UTC) - timedelta(hours=80)
        report = _clocks_report(aware).model_copy(
            update={"validation": ReportValidation(by="ana", note="confirmed")}
        )
        handle = await _start(env.client, outside, worker.task_queue, report)
        for _ in range(200):
            if any("Assessment needed" in c.body for c in outside.of("comment_jira_ticket")):
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            IncidentWorkflow.assess_obligation,
            ObligationAssessment(
                obligation="eu_gdpr_art33_authority", applies=True, by="dpo", reason="risk"
            ),
        )
        await handle.execute_update(
            IncidentWorkflow.assess_obligation,
            ObligationAssessment(
                obligation="eu_gdpr_art34_data_subjects", applies=False, by="dpo", reason="low"
            ),
        )
        for _ in range(200):
            if any("Deadline missed" in c.body for c in outside.of("comment_jira_ticket")):
                break
            await asyncio.sleep(0.05)
        await handle.terminate("recorded")
    return handle


async def _triage_waiting(handle: WorkflowHandle) -> None:
    for _ in range(200):
        view = await handle.query(IncidentWorkflow.state)
        if any(e.event == "triage_waiting" for e in view.timeline):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("workflow did not wait for triage")


async def triage_false_alarm(env: WorkflowEnvironment) -> WorkflowHandle:
    """The agent dismisses the report: no page, no clocks, the ticket closed with the reason."""
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue)
        await _triage_waiting(handle)
        await handle.execute_update(
            IncidentWorkflow.mark_false_alarm,
            FalseAlarm(by="ana", reason="the laptop was found in the office", channel="jira"),
        )
        await handle.result()
    return handle


async def triage_validated_then_paged(env: WorkflowEnvironment) -> WorkflowHandle:
    """The agent validates and raises the severity; the chain is paged and clocks armed."""
    outside = Outside(policy=CHAIN_POLICY)
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        handle = await _start(env.client, outside, worker.task_queue, _clocks_report(now))
        await _triage_waiting(handle)
        await handle.execute_update(
            IncidentWorkflow.validate,
            Validation(by="ana", note="confirmed with the agent", severity=Severity.SEV1),
        )
        await _obligations(handle)
        await handle.terminate("recorded")
    return handle


async def triage_sla_breached(env: WorkflowEnvironment) -> WorkflowHandle:
    """Nobody triages: the SLA passes, the team lead is paged once, the wait goes on."""
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        handle = await _start(env.client, outside, worker.task_queue)
        await env.sleep(timedelta(hours=6))
        await handle.terminate("recorded")
    return handle


async def contained_resolved_reviewed_closed(
    env: WorkflowEnvironment, *, via_subtask: bool = False
) -> WorkflowHandle:
    """Filed validated; acknowledged, contained, resolved; the review closes it once every
    reporting stage is marked done (with `via_subtask`, as the intake does when the review's
    Jira sub-task moves to Done)."""
    outside = Outside()
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        report = _clocks_report(now).model_copy(
            update={"validation": ReportValidation(by="ana", note="confirmed on the call")}
        )
        handle = await _start(env.client, outside, worker.task_queue, report)
        await _obligations(handle)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        await handle.execute_update(
            IncidentWorkflow.contain, Containment(by="mo", note="device wiped remotely")
        )
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="recovered"))
        view = await handle.query(IncidentWorkflow.state)
        for clock in view.obligations:
            for stage in clock.stages:
                if clock.in_force and stage.status in ("pending", "breached", "no_fixed_deadline"):
                    await handle.execute_update(
                        IncidentWorkflow.mark_stage_done,
                        StageDone(obligation=clock.id, stage=stage.stage, by="dpo", reference="R1"),
                    )
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(
                by="lead",
                review=ReviewAnswers(
                    root_cause="Laptop left in a parked car",
                    went_well="Reported within the hour",
                    to_improve="Lockers at the site entrance",
                    training_needs="Device handling refresher",
                ),
                **(
                    {"channel": "jira", "summary": "Post-incident review recorded in SEC-2"}
                    if via_subtask
                    else {}
                ),
            ),
        )
        await handle.result()
    return handle


async def review_subtask_closed(env: WorkflowEnvironment) -> WorkflowHandle:
    """The review asked in its own Jira sub-task (`review-subtask` patch), closed from it."""
    return await contained_resolved_reviewed_closed(env, via_subtask=True)


async def status_update_cadence(
    env: WorkflowEnvironment, *, until: str = "status_update_paged"
) -> WorkflowHandle:
    """Acknowledged, then silent: the owner is reminded, paged at the second miss; an update
    resolves the page; resolved and closed (the Jira issue settled on CLOSED)."""
    policy = CHAIN_POLICY.model_copy(
        update={
            "escalation": {
                Severity.SEV1: (
                    EscalationLevel(targets=("soc-oncall",), ack_timeout=timedelta(minutes=5)),
                )
            },
            "status_updates": {Severity.SEV1: timedelta(seconds=1)},
        }
    )
    outside = Outside(policy=policy)
    async with new_worker(env.client, outside) as worker:
        report = SEV1_REPORT.model_copy(update={"validation": ReportValidation(by="ana")})
        handle = await _start(env.client, outside, worker.task_queue, report)
        await _pages(handle, 1)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        for _ in range(400):
            view = await handle.query(IncidentWorkflow.state)
            if any(e.event == until for e in view.timeline):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"no {until} in the timeline")
        await handle.execute_update(
            IncidentWorkflow.post_update, StakeholderUpdate(by="mo", text="Contained; restoring")
        )
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="restored"))
        await handle.execute_update(
            IncidentWorkflow.close, CloseIncident(by="lead", summary="Reviewed in Jira")
        )
        await handle.result()
    return handle


async def status_update_reminders_paused(env: WorkflowEnvironment) -> WorkflowHandle:
    """Silent past three reminders: they pause (`cadence-cap`) until the owner's update."""
    return await status_update_cadence(env, until="status_update_reminders_paused")


async def checklist_ticked_reclassified_contained(env: WorkflowEnvironment) -> WorkflowHandle:
    """A phishing report on the Manila floor: the checklist is posted in Filipino, an answer
    raises the severity, the type is corrected to smishing (the checklist is swapped), the rest
    is ticked and containment (gated until then) goes through; resolved and closed."""
    outside = Outside(policy=ClientPolicy(id="demo", name="Demo, Manila floor", sites=("PH",)))
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        report = _clocks_report(now).model_copy(
            update={
                "category": "phishing",
                "summary": "Caller typed her password into a fake page",
                "validation": ReportValidation(by="ana"),
            }
        )
        handle = await _start(env.client, outside, worker.task_queue, report)
        await _obligations(handle)
        for _ in range(200):
            if (await handle.query(IncidentWorkflow.state)).checklist is not None:
                break
            await asyncio.sleep(0.05)

        def tick(*items: tuple[str, str | None]) -> ChecklistTick:
            return ChecklistTick(
                by="ana", channel="jira", items=tuple(TickedItem(id=i, answer=a) for i, a in items)
            )

        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(("credentials_entered", "yes"), ("keep_message", None)),
        )
        await handle.execute_update(
            IncidentWorkflow.update_facts, FactsUpdate(by="ana", incident_type="smishing")
        )
        for _ in range(200):
            view = await handle.query(IncidentWorkflow.state)
            if view.checklist is not None and view.checklist.incident_type == "smishing":
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(("link_opened", "yes"), ("details_entered", "yes"), ("screenshot", None)),
        )
        await handle.execute_update(
            IncidentWorkflow.contain, Containment(by="mo", note="card blocked")
        )
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="done"))
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(by="lead", summary="Reviewed", waive_open_stages="recorded path"),
        )
        await handle.result()
    return handle


async def _continued_to_closed(env: WorkflowEnvironment) -> tuple[WorkflowHandle, WorkflowHandle]:
    """A low `history_limit`: clocks armed, the client told, acknowledged; the run continues
    as new while awaiting the resolution, and again in REVIEW; the last run closes it. Returns
    the first run and the last."""
    outside = Outside(policy=NOTICE_POLICY)
    async with new_worker(env.client, outside) as worker:
        now = await env.get_current_time()
        report = _clocks_report(now).model_copy(
            update={"validation": ReportValidation(by="ana", note="confirmed on the call")}
        )
        incident_id = f"demo-{uuid.uuid4().hex[:8]}"
        first = await env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(
                incident_id=incident_id, report=report, received_at=now, history_limit=40
            ),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
        )
        await _client_notified(first)
        await first.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        handle = env.client.get_workflow_handle(first.id)
        for _ in range(200):
            if (await handle.describe()).run_id != first.result_run_id:
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="recalled"))
        for _ in range(200):
            if (await query_state(handle)).state == IncidentState.REVIEW:
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(by="lead", summary="Reviewed", waive_open_stages="recorded path"),
        )
        await handle.result()
    return (
        env.client.get_workflow_handle(first.id, run_id=first.result_run_id),
        env.client.get_workflow_handle(first.id, run_id=(await handle.describe()).run_id),
    )


async def continued_as_new(env: WorkflowEnvironment) -> WorkflowHandle:
    return (await _continued_to_closed(env))[0]


async def resumed_and_closed(env: WorkflowEnvironment) -> WorkflowHandle:
    return (await _continued_to_closed(env))[1]


PATHS: dict[str, tuple[str, Callable[[WorkflowEnvironment], Awaitable[WorkflowHandle]]]] = {
    "incident_acknowledged_and_resolved": ("dev", acknowledged_and_resolved),
    "incident_jira_down_then_paged": ("java", jira_down_then_paged),
    "incident_chain_acked_at_level_2": ("dev", chain_acked_at_level_2),
    "incident_chain_no_responder": ("java", chain_no_responder),
    "incident_clocks_reminders_and_breach": ("java", clocks_reminders_and_breach),
    "incident_clocks_breached_done_and_facts_moved": (
        "dev",
        clocks_breached_done_and_facts_moved,
    ),
    "incident_client_notified_and_acknowledged": ("dev", client_notified_and_acknowledged),
    "incident_client_ack_chased": ("java", client_ack_chased),
    "incident_triage_false_alarm": ("dev", triage_false_alarm),
    "incident_triage_validated_then_paged": ("dev", triage_validated_then_paged),
    "incident_triage_sla_breached": ("java", triage_sla_breached),
    "incident_contained_resolved_reviewed_closed": ("dev", contained_resolved_reviewed_closed),
    "incident_review_subtask_closed": ("dev", review_subtask_closed),
    "integration_health_outages_and_recovery": ("dev", integration_outage_and_recovery),
    "digest_sent_to_contacts": ("dev", digest_sent_to_contacts),
    "digest_posted_to_jira": ("dev", digest_posted_to_jira),
    "incident_obligation_assessed": ("dev", obligation_assessed),
    "incident_status_update_cadence": ("dev", status_update_cadence),
    "incident_status_update_reminders_paused": ("dev", status_update_reminders_paused),
    "incident_checklist_ticked_reclassified_contained": (
        "dev",
        checklist_ticked_reclassified_contained,
    ),
    "incident_continued_as_new": ("dev", continued_as_new),
    "incident_resumed_after_continue_as_new_and_closed": ("dev", resumed_and_closed),
}


async def main() -> None:
    dev = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=[member.key for member in IncidentSearchAttribute],
    )
    java = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    await register_search_attributes(java.client)
    try:
        # Committed histories are never re-recorded (CONTRIBUTING.md): only new paths by default.
        names = sys.argv[1:] or [name for name in PATHS if not (HERE / f"{name}.json").exists()]
        for name in names:
            server, record = PATHS[name]
            env = dev if server == "dev" else java
            handle = await record(env)
            history = await handle.fetch_history()
            (HERE / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events")
    finally:
        await java.shutdown()
        await dev.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    # Skip interpreter finalisation, where temporalio's core can abort the process (sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
