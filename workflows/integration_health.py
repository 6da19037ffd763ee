"""IntegrationHealthWorkflow: one long-lived workflow per integration (Jira, pager, SMTP) that turns
a stream of failed and successful calls into one "degraded" alert per outage and one "recovered".

Why a workflow and not a counter in the worker: every worker process sees only its own calls, and
a worker restarted mid-outage would forget it had alerted. The workflow is the one place that
sees every worker's reports (signals from `activities.health`), remembers across restarts which
outage it has alerted on, and shows the outage in the Temporal UI like any incident.

An outage begins when the integration has failed at least `failures` times and not once
succeeded for `after` since its first failure: a throttled burst that clears within `after`
raises nothing. It ends at the first success. Operations are told through every channel that
does not depend on the broken integration: a page to the operations target (not when the pager
is what is down), an email to the operations address if one is configured (not when SMTP is
down), and always a warning log and a metric.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.operations import OperationsActivities, OperationsEmail
    from activities.paging import PageRequest, PagingActivities
    from workflows.options import HEARTBEAT_TIMEOUT

WORKFLOW_TYPE = "IntegrationHealthWorkflow"
WORKFLOW_ID_PREFIX = "integration-health-"
OBSERVE_SIGNAL = "observe"
OUTAGES_METRIC = "incident_desk_integration_outages"
RECOVERIES_METRIC = "incident_desk_integration_recoveries"
# Alerts retry like any effect; a pager that is itself down is never used for its own alert.
ALERT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
ALERT_TIMEOUT = timedelta(seconds=30)
# Past this many events the next healthy moment starts a fresh run with the same state.
HISTORY_LIMIT = 2_000
KEPT_OUTAGES = 20

Integration = Literal["jira", "pager", "smtp"]
LABELS: dict[str, str] = {"jira": "Jira", "pager": "the pager", "smtp": "SMTP (email)"}


def health_workflow_id(integration: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{integration}"


class HealthConfig(BaseModel):
    """Deployment facts the worker passes in when it starts the workflow (incident_desk.settings)."""

    integration: Integration
    ops_target: str = "bpo-operations-manager"
    ops_email: str | None = None
    failures: int = Field(3, ge=1)
    after: timedelta = timedelta(seconds=30)


class Observation(BaseModel):
    """What one worker saw since its last report: failed calls (a count) or one success."""

    ok: bool
    failures: int = Field(0, ge=0)
    activity: str
    error: str | None = Field(None, max_length=300)
    worker: str = ""


class Outage(BaseModel):
    number: int
    first_failure_at: datetime
    degraded_at: datetime
    recovered_at: datetime | None = None
    failures: int
    last_error: str | None = None


class HealthState(BaseModel):
    config: HealthConfig
    outages: list[Outage] = Field(default_factory=list)
    outage_count: int = 0
    failures_total: int = 0


class HealthView(BaseModel):
    """The query's answer: what operations see about the integration right now."""

    integration: str
    status: Literal["healthy", "failing", "degraded"]
    failing_since: datetime | None
    failures_since_success: int
    last_error: str | None
    outage_count: int
    outages: list[Outage]


@workflow.defn(name=WORKFLOW_TYPE)
class IntegrationHealthWorkflow:
    @workflow.init
    def __init__(self, state: HealthState) -> None:
        self._state = state
        self._config = state.config
        self._failing_since: datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._degraded: Outage | None = None

    @workflow.run
    async def run(self, state: HealthState) -> None:
        while True:
            self._show()
            await workflow.wait_condition(lambda: self._failing_since is not None)
            self._show()
            if await self._recovers_within_grace():
                continue
            outage = self._begin_outage()
            await self._alert_degraded(outage)
            await workflow.wait_condition(lambda: self._failing_since is None)
            await self._alert_recovered(outage)
            if workflow.info().get_current_history_length() > HISTORY_LIMIT:
                # Healthy and nothing in flight: a fresh run carries only the outage record.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    @workflow.signal(name=OBSERVE_SIGNAL, description="A worker's report of failed or good calls")
    def observe(self, seen: Observation) -> None:
        if seen.ok:
            self._failing_since = None
            self._failures = 0
            return
        if seen.failures == 0:
            return
        if self._failing_since is None:
            self._failing_since = workflow.now()
        self._failures += seen.failures
        self._state.failures_total += seen.failures
        self._last_error = seen.error or self._last_error
        if self._degraded is not None:
            self._degraded.failures += seen.failures
            self._degraded.last_error = self._last_error
        self._show()

    @workflow.query(description="The integration's health and its last outages")
    def health(self) -> HealthView:
        status: Literal["healthy", "failing", "degraded"] = "healthy"
        if self._degraded is not None:
            status = "degraded"
        elif self._failing_since is not None:
            status = "failing"
        return HealthView(
            integration=self._config.integration,
            status=status,
            failing_since=self._failing_since,
            failures_since_success=self._failures,
            last_error=self._last_error,
            outage_count=self._state.outage_count,
            outages=self._state.outages,
        )

    # --- steps ------------------------------------------------------------------------------

    async def _recovers_within_grace(self) -> bool:
        """True when a success comes before the failures amount to an outage."""
        assert self._failing_since is not None
        grace_ends = self._failing_since + self._config.after
        try:
            await workflow.wait_condition(
                lambda: self._failing_since is None,
                timeout=max(grace_ends - workflow.now(), timedelta(0)),
                timeout_summary=f"Grace for {self._label()}: alert if it still fails after "
                f"{_seconds(self._config.after)}",
            )
            return True
        except TimeoutError:
            pass
        # Long enough, but too few calls to judge: wait for more of them, or a success.
        await workflow.wait_condition(
            lambda: self._failing_since is None or self._failures >= self._config.failures
        )
        return self._failing_since is None

    def _begin_outage(self) -> Outage:
        assert self._failing_since is not None
        self._state.outage_count += 1
        outage = Outage(
            number=self._state.outage_count,
            first_failure_at=self._failing_since,
            degraded_at=workflow.now(),
            failures=self._failures,
            last_error=self._last_error,
        )
        self._degraded = outage
        self._state.outages = [*self._state.outages, outage][-KEPT_OUTAGES:]
        self._show()
        return outage

    async def _alert_degraded(self, outage: Outage) -> None:
        label = self._label()
        text = (
            f"{label} degraded: {outage.failures} failed calls and none succeeded since "
            f"{_at(outage.first_failure_at)} (outage {outage.number}); incidents keep retrying"
        )
        workflow.logger.warning("%s; last error: %s", text, outage.last_error)
        workflow.metric_meter().create_counter(
            OUTAGES_METRIC, "Integration outages that raised a degraded alert", "outages"
        ).add(1, {"integration": self._config.integration})
        await self._tell_operations(outage, "degraded", text)

    async def _alert_recovered(self, outage: Outage) -> None:
        outage.recovered_at = workflow.now()
        self._degraded = None
        lasted = outage.recovered_at - outage.first_failure_at
        text = (
            f"{self._label()} recovered after {_seconds(lasted)} "
            f"(outage {outage.number}, {outage.failures} failed calls)"
        )
        workflow.logger.warning("%s", text)
        workflow.metric_meter().create_counter(
            RECOVERIES_METRIC, "Integration outages that ended", "outages"
        ).add(1, {"integration": self._config.integration})
        await self._tell_operations(outage, "recovered", text)
        self._show()

    async def _tell_operations(
        self, outage: Outage, what: Literal["degraded", "recovered"], text: str
    ) -> None:
        """Each channel on its own, so an email stuck behind a slow SMTP does not hold the page."""
        sends = []
        if self._config.integration != "pager":
            sends.append(self._page(outage, what, text))
        if self._config.integration != "smtp" and self._config.ops_email:
            sends.append(self._email(outage, what, text))
        await asyncio.gather(*sends)

    async def _page(self, outage: Outage, what: str, text: str) -> None:
        key = f"{workflow.info().workflow_id}~outage-{outage.number}"
        if what == "recovered":
            await workflow.execute_activity_method(
                PagingActivities.resolve_page,
                key,
                start_to_close_timeout=ALERT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=ALERT_RETRY,
                summary=f"Resolve the operations page: {self._label()} recovered",
            )
            return
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=key,
                summary=text,
                severity="error",
                custom_details={
                    "targets": self._config.ops_target,
                    "integration": self._config.integration,
                    "outage": str(outage.number),
                    "failing_since": _at(outage.first_failure_at),
                    "failed_calls": str(outage.failures),
                },
                workflow_id=workflow.info().workflow_id,
            ),
            start_to_close_timeout=ALERT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=ALERT_RETRY,
            summary=f"Page {self._config.ops_target}: {self._label()} degraded",
        )

    async def _email(self, outage: Outage, what: str, text: str) -> None:
        assert self._config.ops_email is not None
        await workflow.execute_activity_method(
            OperationsActivities.email_operations,
            OperationsEmail(
                to=self._config.ops_email,
                subject=f"[Incident Desk] {self._label()} {what} (outage {outage.number})",
                body=f"{text}.\n\nLast error: {outage.last_error or '-'}\n",
                workflow_id=workflow.info().workflow_id,
                purpose=f"outage-{outage.number}-{what}",
            ),
            start_to_close_timeout=ALERT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=ALERT_RETRY,
            summary=f"Email operations: {self._label()} {what}",
        )

    def _label(self) -> str:
        return LABELS.get(self._config.integration, self._config.integration)

    def _show(self) -> None:
        """The line the Temporal UI shows under "Current details"."""
        view = self.health()
        lines = [f"**{self._label()}: {view.status}**"]
        if view.failing_since is not None:
            lines.append(
                f"{view.failures_since_success} failed calls since {_at(view.failing_since)}"
            )
        if view.last_error and view.status != "healthy":
            lines.append(f"Last error: {view.last_error}")
        lines.append(f"Outages so far: {view.outage_count}")
        workflow.set_current_details("\n\n".join(lines))


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60} s"
