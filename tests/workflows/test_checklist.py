"""The SOP checklist in the workflow: posted at classification in the floor's language, swapped
on reclassification, gating containment, answers feeding the facts, overdue items chased.

The dev server with per-workflow time skipping: ticks are updates, which the Java test server
lacks. The SOPs are the real files in policies/sops; only Jira and the pager are doubled.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.checklist import ChecklistTick, TickedItem
from incidents.clocks import FactsUpdate
from incidents.lifecycle import Action, Containment, IncidentView
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, StartIncident
from incidents.stages import TriageTerms
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow

MANILA = ClientPolicy(
    id="demo",
    name="Checklist test client",
    sites=["PH"],
    triage=TriageTerms(team_lead="mnl-team-lead", team_lead_jira="mnl.lead"),
)
PHISHING = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Caller got a mail from 'IT' asking to log in",
        "description": "A fake sign-in page; the caller is not sure what she typed.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},
        "reporter": {"name": "Caller", "contact": "+63 917 555 0101"},
        "category": "phishing",
        "severity": "SEV3",
        "jurisdictions": ["PH"],
        "data_categories": ["personal"],
    }
)
PHISHING_REQUIRED = (
    "link_clicked",
    "credentials_entered",
    "sender_address",
    "keep_message",
    "message_headers",
)


async def start(
    env: WorkflowEnvironment, queue: str, report: IncidentReport = PHISHING
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


async def refused(handle: WorkflowHandle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, arg)
    return str(failed.value.cause)


def tick(*items: str | tuple[str, str], by: str = "ana.agent", channel: str = "jira"):
    return ChecklistTick(
        by=by,
        channel=channel,
        items=tuple(
            TickedItem(id=i) if isinstance(i, str) else TickedItem(id=i[0], answer=i[1])
            for i in items
        ),
    )


def comments(outside: Outside) -> list[str]:
    return [c.body for c in outside.of("comment_jira_ticket")]


async def test_posted_in_floor_language_gates_containment_and_answers_raise_severity(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=MANILA)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        view = await wait_until(handle, lambda v: v.checklist is not None and v.facts is not None)
        assert view.checklist.incident_type == "phishing"
        assert view.checklist.language == "tl"  # the client's main floor is in Manila
        [posted] = [c for c in comments(outside) if "SOP checklist" in c]
        assert "Itanong sa nag-report" in posted and "[ ] link_clicked:" in posted
        assert "(x) Huwag kailanman i-forward" in posted  # forbidden: read, never ticked
        [request] = outside.of("load_sop_checklist")
        assert request.language == "tl" and request.incident_type == "phishing"

        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
        message = await refused(
            handle, IncidentWorkflow.contain, Containment(by="mo", note="mailbox purged")
        )
        for item in PHISHING_REQUIRED:
            assert item in message
        assert "before contain" in message and "done <id>: <answer>" in message

        # A question whose answer a fact needs refuses a tick without a readable answer.
        assert "answer yes or no" in await refused(
            handle, IncidentWorkflow.tick_checklist, tick(("credentials_entered", "maybe"))
        )
        assert "not on the phishing checklist" in await refused(
            handle, IncidentWorkflow.tick_checklist, tick("no_such_item")
        )
        assert "never to do" in await refused(
            handle, IncidentWorkflow.tick_checklist, tick("no_forwarding")
        )

        view = await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(("link_clicked", "yes"), ("credentials_entered", "oo, ang password niya")),
        )
        # "Credentials entered" is a fact: the data categories and the severity follow.
        view = await wait_until(handle, lambda v: v.severity == "SEV2")
        assert "credentials" in view.facts.data_categories
        assert "personal" in view.facts.data_categories  # added to, never replaced
        updated = [e for e in view.timeline if e.event == "facts_updated"]
        assert "credentials_entered answered" in updated[-1].detail

        message = await refused(
            handle, IncidentWorkflow.contain, Containment(by="mo", note="mailbox purged")
        )
        assert "link_clicked" not in message and "sender_address" in message
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(("sender_address", "it-support@examp1e.test"), "keep_message", "message_headers"),
        )
        contained = await handle.execute_update(
            IncidentWorkflow.contain, Containment(by="mo", note="mailbox purged")
        )
        assert contained.contained_by == "mo"
        assert contained.checklist.completed_at is not None
        assert any("SOP checklist complete" in c for c in comments(outside))


async def test_reclassification_swaps_the_checklist_and_keeps_shared_answers(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=MANILA.model_copy(update={"sites": ("IE",)}))
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        await wait_until(handle, lambda v: v.checklist is not None and v.facts is not None)
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(("link_clicked", "yes"), "keep_message", channel="api"),
        )
        # An API tick is shown in Jira; a Jira tick is the agent's own comment already.
        shown = "Checklist: link_clicked: yes; keep_message — done by ana.agent via api."
        assert shown in comments(outside)

        await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="ana.agent", incident_type="smishing", reason="it was a text"),
        )
        view = await wait_until(
            handle, lambda v: v.checklist is not None and v.checklist.incident_type == "smishing"
        )
        state = view.checklist
        assert state.language == "en" and state.replaced == ["phishing"]
        kept = state.item("keep_message")
        assert kept is not None and kept.done_by == "ana.agent"  # both SOPs share the id
        assert state.item("link_clicked") is None  # phishing only: its answer does not apply
        assert not state.item("link_opened").done
        swap = [c for c in comments(outside) if "replaces the Phishing email one" in c]
        assert len(swap) == 1 and "Answers kept: keep_message." in swap[0]
        assert [e for e in view.timeline if e.event == "checklist_swapped"]
        assert "not on the smishing checklist" in await refused(
            handle, IncidentWorkflow.tick_checklist, tick("sender_address")
        )


async def test_answers_move_the_obligations(dev_env: WorkflowEnvironment) -> None:
    """A lost laptop that was not encrypted puts personal data at risk: GDPR's clock starts."""
    report = PHISHING.model_copy(
        update={
            "category": "lost_or_stolen_asset",
            "summary": "Laptop left in a taxi",
            "jurisdictions": ["DE"],
            "data_categories": [],
        }
    )
    outside = Outside(policy=MANILA)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue, report)
        view = await wait_until(handle, lambda v: v.checklist is not None and v.facts is not None)
        before = {c.id for c in view.obligations if c.in_force}
        await handle.execute_update(
            IncidentWorkflow.tick_checklist, tick(("encrypted", "hindi"), ("device_type", "laptop"))
        )
        view = await wait_until(handle, lambda v: v.severity == "SEV2")
        after = {c.id for c in view.obligations if c.in_force}
        assert "eu_gdpr_art33_authority" in after - before
        assert view.facts.data_categories == ("personal",)


async def test_overdue_items_remind_then_page_the_team_lead(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=MANILA)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await start(dev_env, worker.task_queue)
        view = await wait_until(handle, lambda v: v.checklist is not None)
        assert view.checklist.remind_after == timedelta(minutes=30)
        assert view.checklist.lead_after == timedelta(hours=2)
        posted_at = view.checklist.posted_at

        await dev_env.fast_forward(handle, timedelta(minutes=31))
        view = await wait_until(handle, lambda v: v.checklist.reminded_at is not None)
        assert (
            timedelta(minutes=30) <= view.checklist.reminded_at - posted_at < timedelta(minutes=31)
        )
        reminder = [c for c in comments(outside) if c.startswith("Paalala sa naka-assign")]
        assert len(reminder) == 1 and "[ ] sender_address:" in reminder[0]
        assert not [p for p in outside.of("trigger_page") if p.dedup_key.endswith("-checklist")]

        await dev_env.fast_forward(handle, timedelta(hours=2))
        view = await wait_until(handle, lambda v: v.checklist.lead_paged_at is not None)
        assert (
            timedelta(hours=2)
            <= view.checklist.lead_paged_at - posted_at
            < timedelta(hours=2, minutes=1)
        )
        [page] = [p for p in outside.of("trigger_page") if p.dedup_key.endswith("-checklist")]
        assert page.severity == "info"  # low urgency: the team lead, not on-call
        assert page.custom_details["targets"] == "mnl-team-lead"
        assert "Caller" not in page.summary  # no reporter details on a page
        assert any(c.startswith("[~mnl.lead]") for c in comments(outside))

        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            tick(
                ("link_clicked", "no"),
                ("credentials_entered", "no"),
                ("sender_address", "x@y.test"),
                "keep_message",
                "message_headers",
            ),
        )
        await wait_until(handle, lambda v: v.checklist.completed_at is not None)
        for _ in range(100):
            if f"{handle.id}-checklist" in outside.of("resolve_page"):
                break
            await asyncio.sleep(0.05)
        assert f"{handle.id}-checklist" in outside.of("resolve_page")
        # Both overdue timers carry a summary in history (what the Temporal UI shows).
        history = await handle.fetch_history()
        summaries = [
            e.user_metadata.summary.data.decode()
            for e in history.events
            if e.HasField("timer_started_event_attributes")
        ]
        assert any("remind the assignee" in s for s in summaries)
        assert any("page mnl-team-lead" in s for s in summaries)
