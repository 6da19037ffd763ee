"""`incident-desk metrics` against a real Temporal server: visibility selects, queries measure.

Incidents run on the product's workflow with the activity doubles; the command is invoked as a
user would, configured only through the environment. Each run uses its own client ids, so
incidents other tests left on the shared server are filtered out by `--client`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from incident_desk.cli import app
from incidents.lifecycle import Action, IncidentState
from incidents.report import IncidentReport, StartIncident
from tests.workflows.doubles import Outside, new_worker
from tests.workflows.test_incident_workflow import wait_until
from workflows.incident import IncidentWorkflow


def report(client: str, channel: str) -> IncidentReport:
    return IncidentReport.model_validate(
        {
            "client": client,
            "summary": "Lookalike SMS asking for a card PIN",
            "description": "Synthetic report for the metrics test.",
            "channel": channel,
            "reporter": {"name": "Agent 1", "contact": "ext 1"},
            "category": "phishing",
            "severity": "SEV2",
            "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        }
    )


async def wait_visible(env: WorkflowEnvironment, query: str, count: int) -> None:
    """Visibility is eventually consistent; wait until the search attributes are indexed."""
    for _ in range(100):
        if len([w async for w in env.client.list_workflows(query)]) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never showed {count} workflows for {query}")


async def test_metrics_cli_reads_real_incidents(dev_env: WorkflowEnvironment) -> None:
    run = uuid.uuid4().hex[:8]
    clients = {"phone": f"metrics-a-{run}", "email": f"metrics-b-{run}"}
    handles: list[WorkflowHandle] = []
    async with new_worker(dev_env.client, Outside()) as worker:
        with dev_env.with_time_skipping_disabled():
            for channel, client in [("phone", clients["phone"]), ("email", clients["email"])]:
                incident_id = f"{client}-1"
                handles.append(
                    await dev_env.client.start_workflow(
                        IncidentWorkflow.run,
                        StartIncident(
                            incident_id=incident_id,
                            report=report(client, channel),
                            received_at=datetime.now(UTC),
                        ),
                        id=f"incident-{incident_id}",
                        task_queue=worker.task_queue,
                    )
                )
            for handle in handles:
                await wait_until(handle, lambda v: v.state == IncidentState.ESCALATED)
            await handles[0].execute_update(IncidentWorkflow.acknowledge, Action(by="ana"))
            for client in clients.values():
                await wait_visible(dev_env, f"IncidentClient = '{client}'", 1)

            env = {
                "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "TEMPORAL_NAMESPACE": dev_env.client.namespace,
            }
            runner = CliRunner()

            def cli(*args: str):
                # The command runs its own event loop, so it cannot share this test's thread.
                return asyncio.to_thread(runner.invoke, app, ["metrics", *args], env=env)

            one = await cli("--since", "1h", "--client", clients["phone"], "--format", "json")
            assert one.exit_code == 0, one.output
            data = json.loads(one.stdout)
            assert data["incidents"] == 1
            assert data["by_client"] == {clients["phone"]: 1}
            assert data["by_channel"] == {"phone": 1}
            assert data["time_to_page"]["count"] == 1
            assert data["time_to_ack"]["count"] == 1
            assert data["time_to_ack"]["median_s"] > 0

            # Not run without --client: the shared server holds other tests' incidents, whose
            # workers are gone, and each of those would wait for its query timeout.
            other = await cli("--since", "1h", "--client", clients["email"])
            assert other.exit_code == 0, other.output
            assert clients["email"] in other.stdout and clients["phone"] not in other.stdout
            assert "Incidents                   1" in other.stdout

            for handle in handles:
                await handle.terminate("test over")
