"""Watching every activity's outcome for the integration health workflow, from outside the
activities: a worker interceptor, so no adapter carries reporting code.

Each failed call of an integration's activity that Temporal will retry (the adapters mark 429/5xx
and unreachable servers retryable, a refused request not) is counted; the counts go to that
integration's `IntegrationHealthWorkflow` by signal-with-start, at most one signal per
`report_every` per integration and worker, so an outage with ten thousand incidents retrying is a
handful of signals, not one per call. A success is reported only by a worker that reported
failures since its last success, which is when the workflow needs to hear it.

Reporting never changes an activity's outcome: if Temporal itself cannot be reached, the report
is logged and dropped (the next failure reports again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workflows.integration_health import (
    OBSERVE_SIGNAL,
    WORKFLOW_TYPE,
    HealthConfig,
    HealthState,
    IntegrationHealthWorkflow,
    Observation,
    health_workflow_id,
)

logger = logging.getLogger(__name__)

# Which integration each activity talks to. Pages of every pager kind count as "pager": the
# activity, not the route, is what fails, and its alert goes by email either way.
INTEGRATION_OF: dict[str, str] = {
    "create_jira_ticket": "jira",
    "comment_jira_ticket": "jira",
    "transition_jira_ticket": "jira",
    "trigger_page": "pager",
    "acknowledge_page": "pager",
    "resolve_page": "pager",
    "send_client_notice": "smtp",
}
# The adapters' error types for a failed call to the integration itself (activities/*.py).
INTEGRATION_ERRORS = frozenset({"JiraRequestError", "PagerRequestError", "MailError"})
FAILURES_METRIC = "incident_desk_integration_failures"


@dataclass
class _Channel:
    pending: int = 0
    last_error: str | None = None
    last_activity: str = ""
    told_failing: bool = False
    last_sent: float = float("-inf")
    flush: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class HealthReporter:
    """Batches one worker's observations per integration into few signals."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        config_for: Callable[[str], HealthConfig],
        *,
        report_every: float = 1.0,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._config_for = config_for
        self._report_every = report_every
        self._channels: dict[str, _Channel] = {}
        self._worker = f"{os.getpid()}@{socket.gethostname()}"
        self._sending: set[asyncio.Task[None]] = set()  # held, so no report is collected mid-way

    def _channel(self, integration: str) -> _Channel:
        return self._channels.setdefault(integration, _Channel())

    def failed(self, integration: str, activity_name: str, error: str) -> None:
        channel = self._channel(integration)
        channel.pending += 1
        channel.last_error = error[:300]
        channel.last_activity = activity_name
        if channel.flush is None or channel.flush.done():
            channel.flush = asyncio.create_task(self._flush_failures(integration, channel))

    def succeeded(self, integration: str, activity_name: str) -> None:
        channel = self._channel(integration)
        if not channel.told_failing and channel.pending == 0:
            return
        if channel.flush is not None and not channel.flush.done():
            channel.flush.cancel()  # failures older than this success no longer matter
        channel.pending = 0
        channel.told_failing = False
        task = asyncio.create_task(
            self._send(integration, channel, Observation(ok=True, activity=activity_name))
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _flush_failures(self, integration: str, channel: _Channel) -> None:
        wait = channel.last_sent + self._report_every - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        count, channel.pending = channel.pending, 0
        if count == 0:
            return
        channel.told_failing = True
        seen = Observation(
            ok=False,
            failures=count,
            activity=channel.last_activity,
            error=channel.last_error,
        )
        await self._send(integration, channel, seen)

    async def _send(self, integration: str, channel: _Channel, seen: Observation) -> None:
        # One at a time per integration, so a success never overtakes the failures before it.
        async with channel.lock:
            channel.last_sent = time.monotonic()
            seen = seen.model_copy(update={"worker": self._worker})
            try:
                await self._client.start_workflow(
                    IntegrationHealthWorkflow.run,
                    HealthState(config=self._config_for(integration)),
                    id=health_workflow_id(integration),
                    task_queue=self._task_queue,
                    start_signal=OBSERVE_SIGNAL,
                    start_signal_args=[seen],
                    static_summary=f"Health of the {integration} integration: "
                    "one alert per outage, one when it recovers",
                )
            except Exception as exc:  # never let reporting fail an activity
                logger.warning("could not report %s health to Temporal: %s", integration, exc)


class IntegrationHealthInterceptor(Interceptor):
    """Register on the worker: `Worker(..., interceptors=[IntegrationHealthInterceptor(...)])`."""

    def __init__(self, reporter: HealthReporter) -> None:
        self._reporter = reporter

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Watch(next, self._reporter)


class _Watch(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, reporter: HealthReporter) -> None:
        super().__init__(next)
        self._reporter = reporter

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        integration = INTEGRATION_OF.get(info.activity_type)
        # The health workflow's own alerts are left out: an alert failing on the broken
        # integration must not feed the outage it reports.
        if integration is None or info.workflow_type == WORKFLOW_TYPE:
            return await super().execute_activity(input)
        try:
            result = await super().execute_activity(input)
        except ApplicationError as exc:
            if exc.type in INTEGRATION_ERRORS and not exc.non_retryable:
                activity.metric_meter().create_counter(
                    FAILURES_METRIC, "Failed calls to an integration that will be retried", "calls"
                ).add(1, {"integration": integration})
                self._reporter.failed(integration, info.activity_type, f"{exc.type}: {exc}")
            raise
        self._reporter.succeeded(integration, info.activity_type)
        return result
