"""The incident's Jira ticket, where the BPO agents work: opened at triage, moved to Done at the
end. Comments on it go through `IncidentContext.comment`, since every concern writes them."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.jira import JiraActivities, TicketRequest, TransitionRequest
    from incidents import notices
    from incidents.report import IncidentReport
    from workflows.context import IncidentContext
    from workflows.options import (
        DONE_STATUS,
        EFFECT_RETRY,
        EFFECT_TIMEOUT,
        HEARTBEAT_TIMEOUT,
        TICKET_DEADLINE,
    )


class JiraTicket:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx

    async def open(self, report: IncidentReport) -> None:
        """A Jira outage must not hold back the page: after a bounded wait we page without it."""
        view = self._ctx.view
        try:
            key = await workflow.execute_activity_method(
                JiraActivities.create_jira_ticket,
                TicketRequest(
                    workflow_id=view.workflow_id,
                    summary=f"[{view.severity}] {report.summary}",
                    description=notices.jira_description(
                        report, view.incident_id, view.received_at.isoformat()
                    ),
                    labels=["incident-desk", f"client-{report.client}"],
                    client=view.client,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=TICKET_DEADLINE,
                retry_policy=EFFECT_RETRY,
                summary="Open the Jira ticket for the agents",
            )
        except ActivityError as err:
            self._ctx.record("jira_ticket_failed", f"Jira ticket could not be created: {err.cause}")
            return
        view.jira_key = key
        self._ctx.record("jira_ticket_created", f"Jira ticket {key} created")

    def link(self, key: str) -> None:
        """An incident born in Jira keeps the ticket it came from."""
        self._ctx.view.jira_key = key
        self._ctx.record("jira_ticket_linked", f"Born in Jira as {key}")

    async def close(self) -> None:
        key = self._ctx.view.jira_key
        if not key:
            return
        await workflow.execute_activity_method(
            JiraActivities.transition_jira_ticket,
            TransitionRequest(key=key, status=DONE_STATUS, client=self._ctx.view.client),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Move {key} to {DONE_STATUS}",
        )
