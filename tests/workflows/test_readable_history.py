"""What operations staff read in the Temporal UI: summaries, current details, search attributes.

On `dev_env`: the Java test server keeps no user metadata, and responders act through updates.
Incidents are started by the intake's own `start_incident`, so the static summary under test is
the one production sets. The workflow runs unskipped: the test acts before any timer is due and
only needs those timers to exist in history.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from incident_desk.settings import Settings
from incidents.lifecycle import Action, IncidentView
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, StartIncident
from intake.app import Intake
from tests.workflows.doubles import CLOSE, Outside, new_worker
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute

REPORTER_NAME = "Marguerite Okonkwo-Lindqvist"
REPORTER_CONTACT = "marguerite.ol@caller.example"
SUMMARY = "Caller says her statement went to her neighbour Ilse Dorn"
DESCRIPTION = "Statement for account 4410-2200-9911 was mailed to Ilse Dorn at Rosenweg 7."
PERSONAL = [REPORTER_NAME, REPORTER_CONTACT, SUMMARY, DESCRIPTION, "Ilse Dorn", "4410-2200"]

POLICY = ClientPolicy.model_validate(
    {
        "id": "demo",
        "name": "Readable history client",
        "default_severity": "SEV2",
        "contract": {"clause": "DPA clause 8.2", "notify_within": "PT24H"},
        "contacts": [{"name": "Aoife Byrne", "email": "sec@client.example", "language": "en"}],
        "client_ack": {"remind_after": "PT4H", "alternates_after": "PT4H"},
    }
)


def report() -> IncidentReport:
    return IncidentReport.model_validate(
        {
            "client": "demo",
            "summary": SUMMARY,
            "description": DESCRIPTION,
            "channel": "phone",
            # Validated by the agent who filed it: paged at once, as these tests expect.
            "validation": {"by": "filing.agent"},
            "reporter": {"name": REPORTER_NAME, "contact": REPORTER_CONTACT},
            "category": "misdirected_disclosure",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
        }
    )


def intake_on(env: WorkflowEnvironment, queue: str) -> Intake:
    intake = Intake(Settings(task_queue=queue))
    intake._client = env.client  # the intake's lazily connected client, here the test server's
    return intake


async def wait_until(handle: WorkflowHandle, predicate, within: float = 20) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; timeline {view.timeline}")
        await asyncio.sleep(0.05)


async def metadata(handle: WorkflowHandle) -> WorkflowMetadata:
    return await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)


async def run_lifecycle(
    env: WorkflowEnvironment, start: StartIncident
) -> tuple[WorkflowHandle, WorkflowMetadata]:
    """Filed, paged, client notified, acknowledged, resolved, closed; with the metadata at the
    end (a query on a closed workflow needs a worker to replay it)."""
    outside = Outside(policy=POLICY)
    worker = new_worker(env.client, outside)
    with env.with_time_skipping_disabled():
        workflow_id = await intake_on(env, worker.task_queue).start_incident(start, POLICY)
        handle = env.client.get_workflow_handle(workflow_id)
        async with worker:
            view = await wait_until(
                handle,
                lambda v: v.client_notification is not None and v.client_notification.notices,
            )
            details = (await metadata(handle)).current_details
            assert "| Owner | nobody yet |" in details
            assert "| Client acknowledgement | awaited since " in details
            assert f"| Next deadline | {view.next_deadline:%Y-%m-%d %H:%M} UTC |" in details
            assert f"| Open pages | 1: {view.workflow_id} (open) |" in details

            await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana.oncall"))
            await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana.oncall"))
            await handle.execute_update(IncidentWorkflow.close, CLOSE)
            await handle.result()
            return handle, await metadata(handle)


async def test_history_reads_in_plain_words(dev_env: WorkflowEnvironment) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    handle, meta = await run_lifecycle(
        dev_env, StartIncident(incident_id=incident_id, report=report(), received_at=now)
    )

    converter = dev_env.client.data_converter.payload_converter
    scheduled, timers = [], []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled.append(event)
        elif event.HasField("timer_started_event_attributes"):
            timers.append(event)
    assert scheduled and timers, "the lifecycle should schedule activities and start timers"
    for event in scheduled + timers:
        assert event.HasField("user_metadata"), f"event {event.event_id} has no summary"
        summary = converter.from_payload(event.user_metadata.summary, str)
        assert summary.strip(), f"event {event.event_id} has an empty summary"

    description = await handle.describe()
    assert await description.static_summary() == (
        f"{incident_id} · SEV2 · misdirected disclosure · demo"
    )

    rows = dict(
        line.strip("|").split("|", 1)
        for line in meta.current_details.splitlines()[2:]  # after the header rows
    )
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    assert rows["State"] == "CLOSED"
    assert rows["Owner"] == "ana.oncall"
    assert rows["Jira"] == "SEC-1"
    assert rows["Open pages"] == "none"
    assert rows["Client acknowledgement"].startswith("awaited since ")
    assert set(rows) >= {"State", "Owner", "Next deadline", "Open pages", "Client acknowledgement"}

    handlers = [*meta.definition.update_definitions, *meta.definition.query_definitions]
    handlers += list(meta.definition.signal_definitions)
    # Temporal's own built-ins (`__stack_trace`, ...) are not ours to describe.
    handlers = [h for h in handlers if not h.name.startswith("__")]
    assert {h.name for h in handlers} >= {"acknowledge", "resolve", "state"}
    for handler in handlers:
        assert handler.description.strip(), f"{handler.name} has no description"


async def test_jira_born_incident_leads_with_its_key(dev_env: WorkflowEnvironment) -> None:
    key = f"SEC-{uuid.uuid4().int % 100000}"
    start = StartIncident(
        incident_id=key, report=report(), received_at=datetime.now(UTC), jira_key=key
    )
    outside = Outside(policy=POLICY)
    worker = new_worker(dev_env.client, outside)
    with dev_env.with_time_skipping_disabled():
        workflow_id = await intake_on(dev_env, worker.task_queue).start_incident(start, POLICY)
        handle = dev_env.client.get_workflow_handle(workflow_id)
        async with worker:
            await wait_until(handle, lambda v: v.pages)
            summary = await (await handle.describe()).static_summary()
            assert summary == f"{key} · SEV2 · misdirected disclosure · demo"
            assert f"| Jira | {key} |" in (await metadata(handle)).current_details
            await handle.terminate("test over")


async def test_search_attributes_hold_no_personal_data(dev_env: WorkflowEnvironment) -> None:
    """Search attributes are indexed in plaintext, outside the payload codec's reach."""
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    handle, _ = await run_lifecycle(
        dev_env,
        StartIncident(incident_id=incident_id, report=report(), received_at=datetime.now(UTC)),
    )
    ours = {member.key.name for member in IncidentSearchAttribute}
    values: list[str] = []
    description = await handle.describe()
    for pair in description.typed_search_attributes:
        if pair.key.name in ours:
            values.append(str(pair.value))
    async for event in handle.fetch_history_events():
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            values += [payload.data.decode() for payload in fields.indexed_fields.values()]
    assert values
    for value in values:
        for personal in PERSONAL:
            assert personal.lower() not in value.lower(), f"{personal!r} in search attribute"
