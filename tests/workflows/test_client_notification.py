"""Client notification and its acknowledgement in IncidentWorkflow, with virtual time.

Jira, the pager and the mailer are doubles; the obligation rules are the real ones. Server per
test: `java_env` where nothing is sent to the workflow (the chase runs on timers only, twelve
hours pass in one sleep); `dev_env` where the client acknowledges (an update), started paused
so that virtual time moves only when the test fast-forwards.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.lifecycle import IncidentView
from incidents.notification import ClientAcknowledgement
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow

CONTRACT = "contract_demo_processor_to_controller"
SLACK = timedelta(seconds=5)
POLICY = ClientPolicy.model_validate(
    {
        "id": "demo",
        "name": "Notice test client",
        "contract": {"clause": "DPA clause 8.2", "notify_within": "PT24H"},
        "contacts": [
            {"name": "Aoife Byrne", "email": "sec@client.example", "language": "en"},
            {"name": "Jonas Weber", "email": "dpo@client.example", "language": "de"},
        ],
        "client_ack": {
            "remind_after": "PT4H",
            "alternates_after": "PT4H",
            "escalate_after": "PT4H",
            "alternate_contacts": [
                {"name": "Claire Martin", "email": "backup@client.example", "language": "fr"}
            ],
            "account_manager": "bpo-am-demo",
        },
    }
)


def report(aware_at: datetime) -> IncidentReport:
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
    )


async def start(env: WorkflowEnvironment, queue: str, now: datetime) -> WorkflowHandle:
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(incident_id=incident_id, report=report(now), received_at=now),
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


def notified(view: IncidentView) -> bool:
    # The contract stage is marked done after the last notice of the first round.
    return any(e.event == "obligation_stage_done" for e in view.timeline)


async def told(outside: Outside, comment: str, within: float = 20) -> None:
    """Jira comments follow the timeline entry they report; wait for the one asked for."""
    deadline = asyncio.get_running_loop().time() + within
    while not any(c.body.startswith(comment) for c in outside.of("comment_jira_ticket")):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no Jira comment {comment!r}")
        await asyncio.sleep(0.05)


def contract_stage(view: IncidentView):
    return next(c for c in view.obligations if c.id == CONTRACT).stage("notification")


# dev_env: the client's acknowledgement is an update.
async def test_notice_then_link_acknowledgement(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    worker = new_worker(dev_env.client, outside)
    now = datetime.now(UTC).replace(microsecond=0)
    with dev_env.with_time_skipping_disabled():
        handle = await start(dev_env, worker.task_queue, now)
    async with worker:
        view = await wait_until(handle, notified)
        sent = view.client_notification
        assert sent is not None
        assert [(n.to, n.kind) for n in sent.notices] == [
            ("sec@client.example", "notification"),
            ("dpo@client.example", "notification"),
        ]
        stage = contract_stage(view)
        assert stage.status == "done" and stage.done_by == "incident-desk"
        assert stage.reference == ", ".join(n.message_id for n in sent.notices)
        assert any("No de template" in e.detail for e in view.timeline)
        await told(outside, "Client notified: Aoife Byrne <sec@client.example>")

        request = outside.of("send_client_notice")[0]
        content = request.content.model_dump_json()
        # Classified facts and the client's own clocks, never the reporter or the free text.
        assert any("GDPR" in line.name for line in request.content.client_obligations)
        for private in ("Agent 4410", "ext 2200", "Team lead", "spreadsheet", "wrong address"):
            assert private not in content

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                IncidentWorkflow.client_acknowledged,
                ClientAcknowledgement(contact="stranger@elsewhere.example"),
            )
        assert "was not sent a notice" in str(refused.value.cause)

        ack = ClientAcknowledgement(
            contact="dpo@client.example",
            message_id=sent.notices[1].message_id,
            ip="203.0.113.7",
            user_agent="Mail/1.0",
            token_id="t1",
        )
        view = await handle.execute_update(IncidentWorkflow.client_acknowledged, ack, id="ack-t1")
        got = view.client_notification.acknowledgement
        assert (
            got.contact == "dpo@client.example" and got.at is not None and got.ip == "203.0.113.7"
        )
        entry = next(e for e in view.timeline if e.event == "client_acknowledged")
        assert entry.by == "dpo@client.example" and sent.notices[1].message_id in entry.detail

        # The same update id again is answered with the first outcome: nothing new is recorded.
        before = await handle.query(IncidentWorkflow.state)
        await handle.execute_update(IncidentWorkflow.client_acknowledged, ack, id="ack-t1")
        again = await handle.query(IncidentWorkflow.state)  # updates answer the latest entries
        assert len(again.timeline) == len(before.timeline)
        # Another contact's acknowledgement is kept beside the first, which stands.
        other = ack.model_copy(update={"contact": "sec@client.example", "token_id": "t2"})
        view = await handle.execute_update(IncidentWorkflow.client_acknowledged, other)
        assert view.client_notification.acknowledgement.contact == "dpo@client.example"
        assert any(e.event == "client_also_acknowledged" for e in view.timeline)

        await dev_env.fast_forward(handle, timedelta(hours=13))
        view = await handle.query(IncidentWorkflow.state)
    assert [n.kind for n in view.client_notification.notices] == ["notification"] * 2
    assert not [e for e in view.timeline if e.event == "client_ack_timeout"]
    assert not [p for p in outside.of("trigger_page") if p.dedup_key.endswith("~client-ack")]
    assert any(
        c.body.startswith("Client acknowledgement: dpo@client.example")
        for c in outside.of("comment_jira_ticket")
    )


# java_env: nobody answers, so nothing is sent to the workflow; twelve hours pass in one sleep.
async def test_no_ack_reminder_alternates_account_manager(java_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(java_env.client, outside) as worker:
        now = await java_env.get_current_time()
        handle = await start(java_env, worker.task_queue, now)
        await wait_until(handle, notified)
        await java_env.sleep(timedelta(hours=12, minutes=5))
        view = await handle.query(IncidentWorkflow.state)
        # A run left open would hold the Java server's clock for the tests after this one.
        await handle.terminate("test over")

    notices = view.client_notification.notices
    assert [(n.kind, n.to) for n in notices] == [
        ("notification", "sec@client.example"),
        ("notification", "dpo@client.example"),
        ("reminder", "sec@client.example"),
        ("reminder", "dpo@client.example"),
        ("alternates", "backup@client.example"),
    ]
    timeouts = [e.at for e in view.timeline if e.event == "client_ack_timeout"]
    first = next(e.at for e in view.timeline if e.event == "client_notification_sent")
    assert len(timeouts) == 3
    for at, hours in zip(timeouts, (4, 8, 12), strict=True):
        assert abs(at - (first + timedelta(hours=hours))) < SLACK
    # Each notice has its own message id, so the evidence says which one was acknowledged.
    assert len({n.message_id for n in notices}) == len(notices)
    page = next(p for p in outside.of("trigger_page") if p.dedup_key == f"{handle.id}~client-ack")
    assert page.custom_details["targets"] == "bpo-am-demo"
    assert view.client_notification.escalated_to == "bpo-am-demo"
    comments = [c.body for c in outside.of("comment_jira_ticket")]
    assert any("reminder sent to" in c for c in comments)
    assert any("alternate contacts notified: Claire Martin" in c for c in comments)
    assert any("account manager (bpo-am-demo)" in c for c in comments)
    history = await handle.fetch_history()
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("timer_started_event_attributes") and e.HasField("user_metadata")
    ]
    assert any(
        "Client acknowledgement — reminder to the same contacts after 4h" in s for s in summaries
    )


async def test_no_contacts_is_said_not_skipped(java_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=ClientPolicy(id="demo", name="No contacts"))
    async with new_worker(java_env.client, outside) as worker:
        now = await java_env.get_current_time()
        handle = await start(java_env, worker.task_queue, now)
        view = await wait_until(
            handle, lambda v: any(e.event == "client_not_notified" for e in v.timeline)
        )
        await handle.terminate("done")
    assert view.client_notification is None
    assert outside.of("send_client_notice") == []
