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

from incidents.clocks import FactsUpdate, StageDone
from incidents.lifecycle import Action, IncidentState
from incidents.notification import ClientAcknowledgement
from incidents.policy import ClientPolicy, EscalationLevel
from incidents.report import IncidentReport, Severity, StartIncident
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
