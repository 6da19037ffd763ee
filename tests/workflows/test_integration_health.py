"""IntegrationHealthWorkflow on the dev server: one alert per outage, none for a blip.

The workflow is the real one; its two alert activities are doubles registered under the
production names, recording what operations would have been sent. Reports arrive as the worker
interceptor sends them (signal-with-start on `integration-health-<name>`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.operations import OperationsEmail
from activities.paging import PageRequest
from workflows.integration_health import (
    OBSERVE_SIGNAL,
    HealthConfig,
    HealthState,
    HealthView,
    IntegrationHealthWorkflow,
    Observation,
)

AFTER = timedelta(seconds=1)


@dataclass
class Operations:
    """What operations were sent, in order: ("page" | "resolve" | "email", key or subject)."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="trigger_page")
        async def trigger_page(request: PageRequest) -> str:
            self.sent.append(("page", request.dedup_key))
            return request.dedup_key

        @activity.defn(name="resolve_page")
        async def resolve_page(dedup_key: str) -> None:
            self.sent.append(("resolve", dedup_key))

        @activity.defn(name="email_operations")
        async def email_operations(email: OperationsEmail) -> str:
            self.sent.append(("email", email.subject))
            return f"<{email.purpose}@test>"

        return [trigger_page, resolve_page, email_operations]


@asynccontextmanager
async def health_worker(client: Client, operations: Operations) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[IntegrationHealthWorkflow],
        activities=operations.activities(),
    ):
        yield queue


async def report(
    client: Client, queue: str, workflow_id: str, config: HealthConfig, seen: Observation
) -> WorkflowHandle:
    """As `activities.health.HealthReporter` does it: signal-with-start."""
    return await client.start_workflow(
        IntegrationHealthWorkflow.run,
        HealthState(config=config),
        id=workflow_id,
        task_queue=queue,
        start_signal=OBSERVE_SIGNAL,
        start_signal_args=[seen],
    )


def failed(n: int, error: str = "JiraRequestError: Jira request failed (503)") -> Observation:
    return Observation(ok=False, failures=n, activity="comment_jira_ticket", error=error)


OK = Observation(ok=True, activity="comment_jira_ticket")


async def until(handle: WorkflowHandle, check: Callable[[HealthView], bool]) -> HealthView:
    for _ in range(200):
        view = await handle.query(IntegrationHealthWorkflow.health)
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached; last view: {view!r}")


async def outage_and_recovery(
    client: Client, queue: str, workflow_id: str, config: HealthConfig, operations: Operations
) -> WorkflowHandle:
    """A blip, then two outages each with failures from two workers and a recovery."""
    handle = await report(client, queue, workflow_id, config, failed(1))
    await report(client, queue, workflow_id, config, OK)  # a blip: recovered within the grace
    await until(handle, lambda v: v.status == "healthy" and v.failures_since_success == 0)
    for outage in (1, 2):
        await report(client, queue, workflow_id, config, failed(2))
        await report(client, queue, workflow_id, config, failed(5, "MailError: 421"))
        await until(handle, lambda v, n=outage: v.outage_count == n and v.status == "degraded")
        await until(handle, lambda v, n=outage: len(operations.sent) >= 2 * n - 1)
        await report(client, queue, workflow_id, config, failed(7))  # still down: no new alert
        await report(client, queue, workflow_id, config, OK)
        await until(handle, lambda v: v.status == "healthy" and v.outages[-1].recovered_at)
    await until(handle, lambda v: len(operations.sent) >= 4)
    return handle


async def test_one_alert_per_outage_and_one_recovery(dev_env: WorkflowEnvironment) -> None:
    operations = Operations()
    config = HealthConfig(integration="jira", ops_target="ops-manager", after=AFTER)
    workflow_id = f"integration-health-jira-{uuid.uuid4().hex[:6]}"
    async with health_worker(dev_env.client, operations) as queue:
        handle = await outage_and_recovery(dev_env.client, queue, workflow_id, config, operations)
        view = await handle.query(IntegrationHealthWorkflow.health)
    assert operations.sent == [
        ("page", f"{workflow_id}~outage-1"),
        ("resolve", f"{workflow_id}~outage-1"),
        ("page", f"{workflow_id}~outage-2"),
        ("resolve", f"{workflow_id}~outage-2"),
    ]
    assert [o.failures for o in view.outages] == [14, 14]
    assert view.outages[0].last_error == "JiraRequestError: Jira request failed (503)"
    assert all(o.degraded_at - o.first_failure_at >= AFTER for o in view.outages)


async def test_too_few_failures_wait_for_more_before_alerting(dev_env: WorkflowEnvironment) -> None:
    operations = Operations()
    config = HealthConfig(integration="jira", failures=4, after=AFTER)
    workflow_id = f"integration-health-jira-{uuid.uuid4().hex[:6]}"
    async with health_worker(dev_env.client, operations) as queue:
        handle = await report(dev_env.client, queue, workflow_id, config, failed(2))
        await asyncio.sleep(AFTER.total_seconds() + 0.5)
        view = await until(handle, lambda v: v.status == "failing")
        assert view.outage_count == 0 and operations.sent == []
        await report(dev_env.client, queue, workflow_id, config, failed(2))
        await until(handle, lambda v: v.status == "degraded")
        await until(handle, lambda v: len(operations.sent) == 1)


async def test_pager_outage_is_told_by_email_and_smtp_outage_by_page(
    dev_env: WorkflowEnvironment,
) -> None:
    operations = Operations()
    suffix = uuid.uuid4().hex[:6]
    async with health_worker(dev_env.client, operations) as queue:
        for name in ("pager", "smtp"):
            config = HealthConfig(integration=name, ops_email="ops@bpo.example", after=AFTER)
            workflow_id = f"integration-health-{name}-{suffix}"
            handle = await report(dev_env.client, queue, workflow_id, config, failed(5))
            await until(handle, lambda v: v.status == "degraded")
            await report(dev_env.client, queue, workflow_id, config, OK)
            await until(handle, lambda v: v.status == "healthy")
        for _ in range(100):
            if len(operations.sent) >= 4:
                break
            await asyncio.sleep(0.05)
    pager_mail = [s for k, s in operations.sent if k == "email"]
    assert pager_mail == [
        "[Incident Desk] the pager degraded (outage 1)",
        "[Incident Desk] the pager recovered (outage 1)",
    ]
    assert [(k, key) for k, key in operations.sent if k != "email"] == [
        ("page", f"integration-health-smtp-{suffix}~outage-1"),
        ("resolve", f"integration-health-smtp-{suffix}~outage-1"),
    ]
