"""With a key configured, what Temporal stores is ciphertext; the codec reads it back."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from temporalio.api.history.v1 import History
from temporalio.testing import WorkflowEnvironment

from incidents.lifecycle import IncidentState
from incidents.report import IncidentReport, StartIncident
from integrations.codec import AesGcmCodec
from integrations.temporal import connect
from tests.workflows.doubles import Outside, new_worker
from tests.workflows.test_incident_workflow import wait_until
from workflows.incident import IncidentWorkflow

DESCRIPTION = "Customer Ana Reyes read out card 5500 0000 0000 0004 to a caller posing as us."
CONTACT = "ana.reyes.reporter@example.com"

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Vishing call impersonating the bank",
        "description": DESCRIPTION,
        "channel": "phone",
        # Validated by the agent who filed it: paged at once, as these tests expect.
        "validation": {"by": "filing.agent"},
        "reporter": {"name": "Agent 7781", "contact": CONTACT},
        "aware_at": "2026-11-28T09:15:00+08:00",
        "category": "phishing",
        "severity": "SEV1",
    }
)


async def test_history_without_the_codec_holds_no_report_plaintext(
    dev_env: WorkflowEnvironment,
) -> None:
    codec = AesGcmCodec({"test-key": os.urandom(32)})
    target = dev_env.client.service_client.config.target_host
    encrypted = await connect(target, dev_env.client.namespace, codec=codec)
    outside = Outside()
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    async with new_worker(encrypted, outside) as worker:
        handle = await encrypted.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=REPORT, received_at=datetime.now(UTC)),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
        )
        # Read through the codec: the workflow and its activities saw the real report.
        view = await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        assert view.jira_key == "SEC-1"
        assert DESCRIPTION in outside.of("create_jira_ticket")[0].description
        await handle.terminate("test over")

    # Read as anyone with access to Temporal but not the key would: the raw stored history.
    plain_client = dev_env.client
    stored = await plain_client.get_workflow_handle(handle.id).fetch_history()
    raw = History(events=stored.events).SerializeToString()
    assert b"binary/encrypted" in raw and b"test-key" in raw
    for secret in (DESCRIPTION, CONTACT, "Ana Reyes", "5500 0000", "Agent 7781"):
        assert secret.encode() not in raw, secret
