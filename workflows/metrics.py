"""The project's own metrics, recorded beside the workflow rather than inside it.

A worker interceptor watches IncidentWorkflow from outside, so the lifecycle code stays free of
instrumentation. It uses the workflow's metric meter, which Temporal silences during replay: a
worker restart replaying a hundred open incidents does not count them as opened again. The
metrics reach Prometheus through the same runtime endpoint as the SDK's own (worker.py).

Labels are the incident's search attributes as the intake set them at start: client, type and
severity, never anything from the report's text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from workflows.names import IncidentSearchAttribute as SA

__all__ = [
    "INCIDENTS_OPENED",
    "TIME_TO_ACK",
    "TIME_TO_CONTAIN",
    "TIME_TO_PAGE",
    "TIME_TO_TRIAGE",
    "IncidentMetricsInterceptor",
]

INCIDENTS_OPENED = "incident_desk_incidents_opened"
TIME_TO_PAGE = "incident_desk_time_to_page"
TIME_TO_ACK = "incident_desk_time_to_acknowledge"
TIME_TO_TRIAGE = "incident_desk_time_to_triage"
TIME_TO_CONTAIN = "incident_desk_time_to_contain"
# Updates whose first acceptance is a lifecycle milestone: name → (histogram, description).
_MILESTONES = {
    "validate": (TIME_TO_TRIAGE, "From intake to the report validated or dismissed"),
    "mark_false_alarm": (TIME_TO_TRIAGE, "From intake to the report validated or dismissed"),
    "contain": (TIME_TO_CONTAIN, "From intake to the incident contained"),
}
_WORKFLOW_TYPE = "IncidentWorkflow"
_PAGE_ACTIVITY = "trigger_page"
_ACK_UPDATE = "acknowledge"


class IncidentMetricsInterceptor(Interceptor):
    """Register on the worker: `Worker(..., interceptors=[IncidentMetricsInterceptor()])`."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _IncidentMetrics


def _labels() -> dict[str, str | int | float | bool]:
    attributes = workflow.info().typed_search_attributes
    return {
        "client": attributes.get(SA.CLIENT.key) or "unknown",
        "type": attributes.get(SA.TYPE.key) or "unclassified",
        "severity": attributes.get(SA.SEVERITY.key) or "unknown",
    }


def _since_start(origin: datetime | None = None) -> timedelta:
    """From the run's start, or for a run an incident continued into, from its intake."""
    return workflow.now() - (origin or workflow.info().start_time)


class _IncidentMetrics(WorkflowInboundInterceptor):
    """Times are from the workflow's start (the intake accepting the report) to the first page
    requested and the first acknowledgement accepted; later pages and acks are escalations."""

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.first_ack_seen = False
        self.milestones_seen: set[str] = set()
        self.origin: datetime | None = None
        self.checked = False
        self.pages = _PageTimer(outbound, self)
        super().init(self.pages)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        if info.workflow_type == _WORKFLOW_TYPE and info.continued_run_id is None:
            workflow.metric_meter().create_counter(
                INCIDENTS_OPENED, "Incidents opened, by client, type and severity", "incidents"
            ).add(1, _labels())
        self.continued()
        return await super().execute_workflow(input)

    def continued(self) -> None:
        """A run an incident continued into (workflows/carry_over.py) counts nothing the runs
        before it counted, and times from the intake, not from its own start.

        Read from the workflow instance on first use: an update retried onto the new run can be
        handled in its first activation, before `execute_workflow` gets here.
        """
        if self.checked:
            return
        self.checked = True
        if workflow.info().workflow_type != _WORKFLOW_TYPE:
            return
        view = getattr(workflow.instance(), "continued_from", None)
        if view is None:
            return
        self.origin = view.received_at
        self.first_ack_seen = view.acknowledged_by is not None
        if view.triaged_at is not None:
            self.milestones_seen.add(TIME_TO_TRIAGE)
        if view.contained_by is not None:
            self.milestones_seen.add(TIME_TO_CONTAIN)
        self.pages.first_page_seen = bool(view.pages)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self.continued()
        # The handler runs only once the validator accepted the update: refused acks don't count.
        if input.update == _ACK_UPDATE and not self.first_ack_seen:
            self.first_ack_seen = True
            workflow.metric_meter().create_histogram_timedelta(
                TIME_TO_ACK, "From intake to the first accepted acknowledgement", "duration"
            ).record(_since_start(self.origin), _labels())
        milestone = _MILESTONES.get(input.update)
        if milestone is not None and milestone[0] not in self.milestones_seen:
            self.milestones_seen.add(milestone[0])
            workflow.metric_meter().create_histogram_timedelta(
                milestone[0], milestone[1], "duration"
            ).record(_since_start(self.origin), _labels())
        return await super().handle_update_handler(input)


class _PageTimer(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: _IncidentMetrics) -> None:
        super().__init__(next)
        self.first_page_seen = False
        self._inbound = inbound

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        self._inbound.continued()
        if input.activity == _PAGE_ACTIVITY and not self.first_page_seen and not _triage(input):
            self.first_page_seen = True
            workflow.metric_meter().create_histogram_timedelta(
                TIME_TO_PAGE, "From intake to the first page requested", "duration"
            ).record(_since_start(self._inbound.origin), _labels())
        return super().start_activity(input)


def _triage(input: StartActivityInput) -> bool:
    """The team lead's page for a report left untriaged is not the incident's page."""
    request = input.args[0] if input.args else None
    details = getattr(request, "custom_details", None) or {}
    return details.get("alert") == "triage_sla"
