"""A long incident continues as new several times and nobody can tell from outside.

One GDPR + NIS2 incident with every long-running concern at once: the escalation page open, the
client notice chased (reminder, alternates, account manager), the status-update cadence, the
reporting clocks with their reminders and breaches, NIS2's one-month final report running
through REVIEW. `history_limit` is set low so the run hands over to a new one many times on the
way to CLOSED. Real dev server with per-workflow virtual time; Jira, pager and mailer doubled,
the obligation rules real.

What must hold across every switch: each reminder, chase step, cadence reminder and breach
happens once, at its virtual instant; each update sent around a switch is applied once (a
redelivered update id too); the `state` query of the run that ended equals the next run's
starting view.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from incidents import clocks
from incidents.assessments import ObligationAssessment
from incidents.checklist import ChecklistTick, TickedItem
from incidents.clocks import FactsUpdate, StageDone
from incidents.comments import IncidentComment
from incidents.lifecycle import (
    Action,
    CloseIncident,
    Containment,
    IncidentState,
    IncidentView,
    ReviewAnswers,
)
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, StartIncident
from incidents.status_updates import StakeholderUpdate
from intake.queries import query_state
from integrations.telemetry import metrics_runtime
from integrations.temporal import connect
from tests.support.servers import free_port
from tests.workflows.doubles import Outside, new_worker
from tests.workflows.test_metrics import scrape
from workflows.cadence import cadence_key
from workflows.carry_over import IncidentCarryOver
from workflows.incident import IncidentWorkflow
from workflows.metrics import IncidentMetricsInterceptor
from workflows.names import IncidentSearchAttribute as SA

HOUR = timedelta(hours=1)
SLACK = timedelta(seconds=5)
STEP = timedelta(seconds=2)
GDPR = "eu_gdpr_art33_authority"
NIS2 = "eu_nis2_art23_significant_incident"
ART34 = "eu_gdpr_art34_data_subjects"
POLICY = ClientPolicy.model_validate(
    {
        "id": "demo",
        "name": "Long incident client",
        "sectors": ["nis2_essential"],
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
        "escalation": {"SEV2": [{"targets": ["soc-oncall"], "ack_timeout": "P2D"}]},
    }
)

CHECKLIST_ANSWERS = (
    ("which_system", "CRM customer table"),
    ("how_noticed", "SIEM alert"),
    ("alert_or_log", "SIEM-4471"),
)


def report(aware_at: datetime) -> IncidentReport:
    return IncidentReport.model_validate(
        {
            "client": "demo",
            "summary": "Customer database exported by a compromised account",
            "description": "A supervisor account exported the customer table overnight.",
            "channel": "monitoring",
            "validation": {"by": "filing.agent"},
            "reporter": {"name": "SIEM", "contact": "siem@bpo.example"},
            "aware_at": aware_at.isoformat(),
            "category": "unauthorised_access",
            "severity": "SEV2",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
        }
    )


async def state(handle: WorkflowHandle) -> IncidentView:
    """Query the current run; a run that has just started (continued) answers after its first
    workflow task, and the server says so rather than waiting."""
    return await query_state(handle)


async def wait_until(handle: WorkflowHandle, predicate, within: float = 30) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await state(handle)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; timeline {view.timeline}")
        await asyncio.sleep(0.05)


async def started(client: Client, workflow_id: str, run_id: str):
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        return event.workflow_execution_started_event_attributes
    raise AssertionError("empty history")


async def runs(client: Client, workflow_id: str) -> list[tuple[str, WorkflowExecutionStatus]]:
    """The chain of runs under the workflow id, oldest first (each names the run it continues)."""
    status = {
        wf.run_id: wf.status async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")
    }
    before = {
        run_id: (await started(client, workflow_id, run_id)).continued_execution_run_id
        for run_id in status
    }
    chain = [next(r for r, b in before.items() if not b)]
    following = {b: r for r, b in before.items() if b}
    while chain[-1] in following:
        chain.append(following[chain[-1]])
    assert len(chain) == len(status)
    return [(run_id, status[run_id]) for run_id in chain]


async def carried_view(client: Client, workflow_id: str, run_id: str) -> IncidentView:
    """The view a continued run started from (its input)."""
    attributes = await started(client, workflow_id, run_id)
    (start,) = await client.data_converter.decode(attributes.input.payloads, [StartIncident])
    assert start.carried is not None
    return IncidentCarryOver.model_validate(start.carried).view


async def next_timer(handle: WorkflowHandle) -> datetime | None:
    """When the earliest timer the current run has armed and not yet settled fires (once the
    run has completed its first workflow task, so its timers are armed)."""
    while True:
        armed, ready = await _timers(handle)
        if ready:
            return min(armed.values(), default=None)
        await asyncio.sleep(0.05)


async def _timers(handle: WorkflowHandle) -> tuple[dict[int, datetime], bool]:
    armed: dict[int, datetime] = {}
    ready = False
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            ready = True
        if event.HasField("timer_started_event_attributes"):
            timer = event.timer_started_event_attributes
            fires = event.event_time.ToDatetime(UTC) + timer.start_to_fire_timeout.ToTimedelta()
            armed[event.event_id] = fires
        for settled in ("timer_fired_event_attributes", "timer_canceled_event_attributes"):
            if event.HasField(settled):
                armed.pop(getattr(event, settled).started_event_id, None)
    return armed, ready


def entries(view: IncidentView, event: str) -> list[datetime]:
    return [e.at for e in view.timeline if e.event == event]


def near(actual: list[datetime], expected: list[datetime]) -> bool:
    return len(actual) == len(expected) and all(
        abs(a - e) < SLACK for a, e in zip(actual, expected, strict=True)
    )


async def test_long_incident_continues_as_new_and_nobody_notices(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    worker = new_worker(dev_env.client, outside)
    client = dev_env.client
    t0 = datetime.now(UTC).replace(microsecond=0)
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    workflow_id = f"incident-{incident_id}"
    with dev_env.with_time_skipping_disabled():
        await client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(
                incident_id=incident_id, report=report(t0), received_at=t0, history_limit=60
            ),
            id=workflow_id,
            task_queue=worker.task_queue,
        )
    # No run id: every call follows the chain to its current run, as the intake's handles do.
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)
    switches: list[tuple[IncidentView, IncidentView]] = []

    async def advance(duration: timedelta) -> None:
        """Move virtual time on, stopping just after each timer the current run has armed.

        The dev server's per-workflow time skipping does not yet count a continued run's first
        workflow task as pending work: a run that starts while a fast-forward is under way has
        time skipped under it up to the fast-forward's target. Stepping from timer to timer
        keeps every switch at the instant of the timer that caused it. Each switch seen here
        is checked: the new run's first answer equals the last answer of the run before.
        """
        until = await dev_env.get_current_time(handle) + duration
        while True:
            await state(handle)  # the current run has answered its first workflow task
            run_id = (await handle.describe()).run_id
            now = await dev_env.get_current_time(handle)
            due = await next_timer(handle)
            target = until if due is None or due + STEP >= until else max(due, now) + STEP
            if target > now:
                await dev_env.fast_forward(handle, target - now)
            current = (await handle.describe()).run_id
            if current != run_id:
                ended = client.get_workflow_handle(workflow_id, run_id=run_id)
                switches.append((await ended.query(IncidentWorkflow.state), await state(handle)))
            if target >= until:
                return

    async with worker:
        view = await wait_until(
            handle,
            lambda v: (
                len(v.pages) == 1
                and v.client_notification is not None
                and len(v.client_notification.notices) == 2
                and any(c.id == NIS2 for c in v.obligations)
            ),
        )
        notified_at = view.client_notification.notices[-1].sent_at
        # Answered at once: the questions' daily chase is not under test here.
        for clock in view.obligations:
            if clock.needs_assessment:
                await handle.execute_update(
                    IncidentWorkflow.assess_obligation,
                    ObligationAssessment(
                        obligation=clock.id,
                        applies=clock.id in (GDPR, NIS2),
                        by="dpo",
                        reason="Customers' data exported" if clock.id != ART34 else "Encrypted",
                    ),
                )
        await advance(3 * HOUR)

        # Updates racing a switch (each adds to the history): each is applied once. One id is
        # delivered again after further switches, as a Jira webhook retry would be.
        comments = [
            IncidentComment(comment_id=f"1000{n}", by=f"agent.{n}", body=f"Note {n} from the floor")
            for n in range(8)
        ]
        await asyncio.gather(
            *(
                handle.execute_update(IncidentWorkflow.add_comment, c, id=f"jira-comment-{n}")
                for n, c in enumerate(comments)
            )
        )
        await advance(2 * HOUR)  # the client reminder at +4h
        await handle.execute_update(
            IncidentWorkflow.mark_stage_done,
            StageDone(obligation=NIS2, stage="early_warning", by="dpo", reference="CSIRT-1"),
        )
        await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="ana", channel="pagerduty"), id="pd-ack-1"
        )
        acked_at = (await state(handle)).acknowledged_at
        assert acked_at is not None

        # Client chase at +8h (alternates) and +12h (account manager); cadence misses every 4h.
        await advance(10 * HOUR)
        await handle.execute_update(
            IncidentWorkflow.post_update, StakeholderUpdate(by="ana", text="Account locked")
        )
        updated_at = (await state(handle)).last_stakeholder_update_at
        assert updated_at is not None
        await handle.execute_update(IncidentWorkflow.add_comment, comments[0], id="jira-comment-0")
        again = await state(handle)  # an update answers with the latest timeline entries only
        assert [e.detail for e in again.timeline].count(comments[0].body) == 1
        for item, answer in CHECKLIST_ANSWERS:
            await handle.execute_update(
                IncidentWorkflow.tick_checklist,
                ChecklistTick(by="ana", items=(TickedItem(id=item, answer=answer),)),
            )
        await handle.execute_update(
            IncidentWorkflow.contain, Containment(by="ana", note="Account disabled")
        )
        await advance(5 * HOUR)  # t0+20h: the cadence's reminder 4h after the update
        submitted = await dev_env.get_current_time(handle)
        await handle.execute_update(
            IncidentWorkflow.mark_stage_done,
            StageDone(
                obligation=NIS2, stage="incident_notification", by="dpo", reference="CSIRT-2"
            ),
        )
        await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="dpo", events={"incident_notification_submitted": submitted}),
        )
        await handle.execute_update(
            IncidentWorkflow.resolve, Action(by="ana", note="Restored"), id="jira-resolve-1"
        )
        resolved_at = (await state(handle)).resolved_at
        assert resolved_at is not None

        # In REVIEW the clocks run on: GDPR's reminders and breach at +72h; the review is due
        # 7 days after the resolution and reminded daily three times.
        await advance(10 * 24 * HOUR)
        view = await state(handle)
        assert view.state is IncidentState.REVIEW
        final = next(c for c in view.obligations if c.id == NIS2).stage("final_report")
        assert final is not None and final.due_at is not None
        await advance(final.due_at - await dev_env.get_current_time(handle) + HOUR)
        # Webhooks redelivered weeks and several runs later: answered, not applied again (the
        # resolve would otherwise be refused as "already resolved").
        await handle.execute_update(
            IncidentWorkflow.acknowledge, Action(by="ana", channel="pagerduty"), id="pd-ack-1"
        )
        await handle.execute_update(
            IncidentWorkflow.resolve, Action(by="ana", note="Restored"), id="jira-resolve-1"
        )
        await handle.execute_update(
            IncidentWorkflow.mark_stage_done,
            StageDone(obligation=NIS2, stage="final_report", by="dpo", reference="CSIRT-3"),
        )
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(
                by="lead",
                review=ReviewAnswers(root_cause="Shared supervisor password"),
                waive_open_stages="GDPR notice filed by the client's DPO, ref DPO-9",
            ),
        )
        result = await handle.result()
        chain = await runs(client, workflow_id)
        finals = {
            run_id: await client.get_workflow_handle(workflow_id, run_id=run_id).query(
                IncidentWorkflow.state
            )
            for run_id, _ in chain
        }

    assert result.state is IncidentState.CLOSED
    view = result
    # The chain: several runs, every one but the last continued as new.
    assert len(chain) >= 4, chain
    assert all(s == WorkflowExecutionStatus.CONTINUED_AS_NEW for _, s in chain[:-1])
    assert chain[-1][1] == WorkflowExecutionStatus.COMPLETED
    # Switches seen as time moved on: the new run's first answer was the old run's last.
    assert len(switches) >= 3
    for ended, begun in switches:
        # Where a timer was due at the very instant of the switch, the new run has already
        # moved on; what the old run knew is kept whole either way.
        assert begun.timeline[: len(ended.timeline)] == ended.timeline
        if len(begun.timeline) == len(ended.timeline):
            assert begun == ended
    # Each run starts from exactly the view the run before it ended with.
    for (ended, _), (begun, _) in itertools.pairwise(chain):
        assert await carried_view(client, workflow_id, begun) == finals[ended]
    assert finals[chain[-1][0]] == result

    # Updates around the switches: applied once each, the redelivered one too.
    notes = [e.detail for e in view.timeline if e.event == "comment"]
    assert entries(view, "also_acknowledged") == [] and len(entries(view, "resolved")) == 1
    assert sorted(notes) == sorted(c.body for c in comments)

    # Reporting clocks: every reminder once, at due - offset; breaches once, at the due instant.
    labels = {clocks.offset_label(o): o for o in POLICY.reminders}
    reminders = [e for e in view.timeline if e.event == "deadline_reminder"]
    expected = []
    for clock in view.obligations:
        for stage in clock.stages:
            assert len(stage.reminders_sent) == len(set(stage.reminders_sent)), stage
            for label in stage.reminders_sent:
                assert stage.due_at is not None
                prefix = f"{label}: {clock.name} ({stage.stage})"
                (entry,) = [e for e in reminders if e.detail.startswith(prefix)]
                assert abs(entry.at - (stage.due_at - labels[label])) < SLACK, entry
                expected.append(entry)
    assert len(reminders) == len(expected)
    gdpr = next(c for c in view.obligations if c.id == GDPR).stage("initial")
    assert gdpr is not None and gdpr.reminders_sent == ["T-24h", "T-4h", "T-1h"]
    nis2 = next(c for c in view.obligations if c.id == NIS2)
    assert nis2.stage("early_warning").reminders_sent == []  # done at +5h, before T-4h
    assert nis2.stage("final_report").reminders_sent == ["T-24h", "T-4h", "T-1h"]
    breached = {
        e.detail.split(" was due")[0]: e.at for e in view.timeline if e.event == "deadline_breached"
    }
    assert abs(breached[f"{gdpr_name(view)} (initial)"] - gdpr.due_at) < SLACK
    assert abs(breached[f"{nis2.name} (final_report)"] - nis2.stage("final_report").due_at) < SLACK
    # No page sent twice across all runs.
    keys = Counter(p.dedup_key for p in outside.of("trigger_page"))
    assert keys.pop(cadence_key(workflow_id)) == 1
    assert set(keys.values()) == {1}, keys

    # The client chase: reminder, alternates, account manager, each once and on time.
    assert near(
        entries(view, "client_ack_timeout"),
        [notified_at + 4 * HOUR, notified_at + 8 * HOUR, notified_at + 12 * HOUR],
    )
    kinds = [r.content.kind for r in outside.of("send_client_notice")]
    assert kinds.count("reminder") == 2 and kinds.count("alternates") == 1, kinds
    assert entries(view, "client_ack_escalated") and len(entries(view, "client_ack_escalated")) == 1

    # The cadence (SEV2: every 4h) from the acknowledgement until the update, then from it.
    overdue = entries(view, "status_update_overdue")
    before_update = [t for t in overdue if t <= updated_at]
    assert near(before_update, [acked_at + 4 * HOUR, acked_at + 8 * HOUR])
    after_update = [t for t in overdue if t > updated_at]
    expected_after = []
    due = updated_at + 4 * HOUR
    while due <= resolved_at:
        expected_after.append(due)
        due += 4 * HOUR
    assert near(after_update, expected_after)
    assert len(entries(view, "status_update_paged")) == 1  # at the second miss in a row

    # The review: due 7 days after the resolution, then reminded daily, three times.
    assert near(
        entries(view, "review_overdue"),
        [resolved_at + timedelta(days=d) for d in (7, 8, 9)],
    )
    assert view.closed_by == "lead"

    # The SOP checklist's overdue timers (30 minutes, 2 hours after it was posted): once each.
    assert view.checklist is not None and view.checklist.complete
    posted = view.checklist.posted_at
    assert near(entries(view, "checklist_overdue"), [posted + timedelta(minutes=30)])
    assert near(entries(view, "checklist_lead_paged"), [posted + 2 * HOUR])


def gdpr_name(view: IncidentView) -> str:
    return next(c for c in view.obligations if c.id == GDPR).name


async def test_metrics_count_each_incident_once_across_runs(dev_env: WorkflowEnvironment) -> None:
    """The worker's metrics interceptor sees each run start afresh: a run the incident continued
    into must not count it as opened again, nor a later acknowledgement as the first."""
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(address)
    target = dev_env.client.service_client.config.target_host
    client = await connect(target, dev_env.client.namespace, runtime=runtime)
    outside = Outside(policy=POLICY)
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(microsecond=0)
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[IncidentWorkflow],
        activities=outside.activities(),
        interceptors=[IncidentMetricsInterceptor()],
    ) as worker:
        first = await client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(
                incident_id=incident_id, report=report(now), received_at=now, history_limit=40
            ),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(SA.CLIENT.key, "demo")]),
        )
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, first.id)
        await wait_until(handle, lambda v: len(v.pages) == 1)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        for _ in range(400):  # the history is long: the run continues once acknowledged
            if (await handle.describe()).run_id != first.result_run_id:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the run did not continue as new")
        view = await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="bo"))
        assert [e.by for e in view.timeline if e.event == "also_acknowledged"] == ["bo"]
        await handle.terminate("test over")

    text = scrape(
        f"http://{address}/metrics",
        ["incidents_opened", "time_to_acknowledge_count", "time_to_page_count"],
    )

    def count(prefix: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix) and f'task_queue="{queue}"' in line
        )

    assert count("incident_desk_incidents_opened_total") == 1
    assert count("incident_desk_time_to_acknowledge_count") == 1
    assert count("incident_desk_time_to_page_count") == 1
