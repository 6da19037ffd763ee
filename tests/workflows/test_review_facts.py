"""Facts stay correctable in REVIEW: the reporting clocks still run after the resolution, so a
late correction (the records affected, found while writing the final report) must reach them.
Refused only once the incident is closed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.clocks import FactsUpdate
from incidents.lifecycle import Action, IncidentState
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import CLOSE, Outside, new_worker
from tests.workflows.test_escalation import wait_until
from workflows.incident import IncidentWorkflow

REPORT = IncidentReport.model_validate(
    {
        "client": "demo",
        "summary": "Customer records emailed to the wrong address",
        "description": "An agent sent a spreadsheet of customer records outside the client.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},
        "reporter": {"name": "Team lead", "contact": "ext 2200"},
        "aware_at": datetime.now(UTC).isoformat(),
        "category": "misdirected_disclosure",
        "jurisdictions": ["DE"],
        "data_categories": ["personal"],
    }
)


async def test_facts_corrected_in_review_refused_only_once_closed(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside()
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    async with new_worker(dev_env.client, outside) as worker:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=REPORT, received_at=datetime.now(UTC)),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
        )
        await wait_until(handle, lambda v: bool(v.obligations))
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.execute_update(IncidentWorkflow.resolve, Action(by="ana"))
        await wait_until(handle, lambda v: v.state == IncidentState.REVIEW)
        assessed = len(outside.of("assess_obligations"))

        view = await handle.execute_update(
            IncidentWorkflow.update_facts,
            FactsUpdate(by="dpo", records_affected=12000, reason="final count from the export"),
        )
        assert view.state == IncidentState.REVIEW
        assert view.facts is not None and view.facts.records_affected == 12000
        (entry,) = [e for e in view.timeline if e.event == "facts_updated"]
        assert "final count from the export" in entry.detail and entry.by == "dpo"
        assert len(outside.of("assess_obligations")) == assessed + 1, "the clocks re-assessed"
        assert outside.of("assess_obligations")[-1].facts.records_affected == 12000

        # Still refused when it changes nothing: the validator runs as before.
        with pytest.raises(WorkflowUpdateFailedError) as same:
            await handle.execute_update(
                IncidentWorkflow.update_facts, FactsUpdate(by="dpo", records_affected=12000)
            )
        assert "changes no fact" in str(same.value.cause)
        await handle.execute_update(IncidentWorkflow.close, CLOSE)
        result = await handle.result()
    assert result.state == IncidentState.CLOSED
