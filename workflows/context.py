"""What every part of an incident shares: its view, its timeline, and its Jira ticket.

The workflow builds one `IncidentContext` and hands it to the helpers that carry out each concern
(escalation, reporting clocks, client notice), so they record, publish and comment the same way
without reaching back into the workflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.jira import CommentRequest, JiraActivities
    from activities.paging import PagingActivities
    from incidents import clocks, notices
    from incidents.lifecycle import IncidentState, IncidentView, TimelineEntry
    from workflows.jira_sync import TicketWriteBack
    from workflows.names import IncidentSearchAttribute as SA
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT


class IncidentContext:
    def __init__(self, view: IncidentView) -> None:
        self.view = view
        # Set once the reporting clocks are armed; only then are their search attributes shown.
        self.clocks_on = False
        self._published: dict[SA, object] = {}
        # Every patch decision of the incident, carried into the next run when it continues as
        # new: a fresh history has no markers, so `workflow.patched` would say True to all.
        self.patches: dict[str, bool] = {}
        # Background work in the middle of an effect (an activity on its way): a run only
        # continues as new when this is zero, so no effect is cut in half.
        self._effects = 0
        # The Jira issue shows what is published here (labels, next deadline, property).
        self.jira = TicketWriteBack(view, self.patched)

    def patched(self, patch_id: str) -> bool:
        """`workflow.patched`, remembered for the runs this incident continues into."""
        if patch_id not in self.patches:
            self.patches[patch_id] = workflow.patched(patch_id)
        return self.patches[patch_id]

    @contextmanager
    def effect(self) -> Iterator[None]:
        """Mark background work that must finish before the run may continue as new."""
        self._effects += 1
        try:
            yield
        finally:
            self._effects -= 1

    def idle(self) -> bool:
        """No background effect under way: every helper task waits on a timer or a condition."""
        return self._effects == 0 and self.jira.idle()

    def acknowledged(self) -> bool:
        return self.view.acknowledged_by is not None

    def record(self, event: str, detail: str, by: str | None = None) -> None:
        self.view.timeline.append(
            TimelineEntry(at=workflow.now(), event=event, detail=detail, by=by)
        )
        self.publish()

    def move_to(self, state: IncidentState) -> None:
        self.view.state = state
        self.record("state_changed", f"State is now {state}")

    def publish(self) -> None:
        """Keep the Temporal UI's view (search attributes, current details) in step.

        Search attributes are upserted only when one changed: each upsert is a history event.
        """
        view = self.view
        values = {
            SA.STATE: str(view.state),
            SA.SEVERITY: str(view.severity),
            SA.TYPE: view.category,
            SA.CLIENT: view.client,
        }
        if view.jira_key:
            values[SA.JIRA_KEY] = view.jira_key
        if self.clocks_on:
            values[SA.REGIMES] = clocks.regimes(view.obligations)
            values[SA.DEADLINE_BREACHED] = view.deadline_breached
            values[SA.NEXT_DEADLINE] = view.next_deadline
        changed = [
            attribute.key.value_set(value) if value is not None else attribute.key.value_unset()
            for attribute, value in values.items()
            if attribute not in self._published or self._published[attribute] != value
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published.update(values)
        self.show_details()
        self.jira.note()

    def show_details(self) -> None:
        # Metadata, not a command: refreshing it never changes what replay expects.
        workflow.set_current_details(notices.current_details(self.view))

    async def comment(self, body: str) -> None:
        """Agents work in Jira: without a ticket (Jira was down) the timeline is the record."""
        if not self.view.jira_key:
            return
        await workflow.execute_activity_method(
            JiraActivities.comment_jira_ticket,
            CommentRequest(key=self.view.jira_key, body=body, client=self.view.client),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Comment on {self.view.jira_key}",
        )

    async def resolve_page(self, key: str, summary: str) -> None:
        """Close an alert raised by any concern (a breach, an unacknowledged client notice)."""
        await workflow.execute_activity_method(
            PagingActivities.resolve_page,
            key,
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=summary,
        )


def at(instant: datetime | None) -> str:
    """An instant as people read it in comments and the timeline."""
    return instant.isoformat() if instant else "-"
