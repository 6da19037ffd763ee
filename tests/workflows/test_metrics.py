"""The worker's Prometheus endpoint: the SDK's metrics and the project's own, after one incident."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from incidents.lifecycle import Action, IncidentState
from incidents.report import StartIncident
from integrations.telemetry import metrics_runtime
from integrations.temporal import connect
from tests.support.servers import free_port
from tests.workflows.doubles import Outside
from tests.workflows.test_incident_workflow import REPORT, wait_until
from workflows.incident import IncidentWorkflow
from workflows.metrics import IncidentMetricsInterceptor
from workflows.names import IncidentSearchAttribute as SA


def scrape(url: str, wanted: list[str], within: float = 10.0) -> str:
    """Core exports on its own schedule; wait until every wanted series has appeared."""
    deadline = time.monotonic() + within
    while True:
        text = httpx.get(url).text
        if all(w in text for w in wanted) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


async def test_prometheus_endpoint_serves_sdk_and_incident_metrics(
    dev_env: WorkflowEnvironment,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(address)
    target = dev_env.client.service_client.config.target_host
    client = await connect(target, dev_env.client.namespace, runtime=runtime)
    outside = Outside()
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=f"test-{uuid.uuid4()}",
        workflows=[IncidentWorkflow],
        activities=outside.activities(),
        interceptors=[IncidentMetricsInterceptor()],
    ) as worker:
        handle = await client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=REPORT, received_at=datetime.now(UTC)),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SA.CLIENT.key, "demo"),
                    SearchAttributePair(SA.SEVERITY.key, "SEV2"),
                    SearchAttributePair(SA.TYPE.key, "phishing"),
                ]
            ),
        )
        await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
        await handle.terminate("test over")

    text = scrape(
        f"http://{address}/metrics",
        ["temporal_workflow_task", "incident_desk_incidents_opened", "time_to_acknowledge"],
    )
    assert "temporal_workflow_task_execution_latency" in text or "temporal_workflow_task" in text
    assert "temporal_activity_execution_latency" in text
    opened = [
        line
        for line in text.splitlines()
        if line.startswith("incident_desk_incidents_opened") and 'client="demo"' in line
    ]
    assert opened, text[:2000]
    assert 'severity="SEV2"' in opened[0] and 'type="phishing"' in opened[0]
    assert "incident_desk_time_to_page" in text
    assert "incident_desk_time_to_acknowledge" in text
