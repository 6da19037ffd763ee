"""The keep-alive interceptor lets a slow activity live under a short heartbeat timeout.

A short heartbeat timeout is what makes a killed worker's activities retry within seconds; it
is only safe if live activities heartbeat. The real dev server judges the timeouts; the control
run without the interceptor shows the timeout would fire.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.keepalive import KeepAliveInterceptor
from integrations.temporal import venv_binary

SLOW_S = 3.0
HEARTBEAT_TIMEOUT = timedelta(seconds=2)


@activity.defn
async def slow_effect() -> int:
    await asyncio.sleep(SLOW_S)
    return activity.info().attempt


@workflow.defn
class SlowEffectWorkflow:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            slow_effect,
            start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.fixture(scope="module")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_binary("temporal"))
    try:
        yield env
    finally:
        await env.shutdown()


async def _run(env: WorkflowEnvironment, interceptors: list[KeepAliveInterceptor]) -> int:
    queue = f"keepalive-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[SlowEffectWorkflow],
        activities=[slow_effect],
        interceptors=interceptors,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await env.client.execute_workflow(
            SlowEffectWorkflow.run, id=f"keepalive-{uuid.uuid4().hex}", task_queue=queue
        )


async def test_slow_activity_outlives_a_short_heartbeat_timeout(
    local_env: WorkflowEnvironment,
) -> None:
    attempt = await _run(local_env, [KeepAliveInterceptor(after=0.2, interval=0.2)])
    assert attempt == 1  # finished on its first attempt: no heartbeat timeout in between


async def test_without_heartbeats_the_timeout_fires(local_env: WorkflowEnvironment) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await _run(local_env, [])
    cause = failure.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, TimeoutError)
    assert cause.cause.type == TimeoutType.HEARTBEAT
