"""Keeping the incident's Jira issue in step with the incident (labels, next deadline, property).

The issue should show the incident as it is now, but not at the price of one Jira write per
timeline entry: every `publish` only notes that the issue may be stale, and one background task
writes the latest picture, then checks whether it moved on meanwhile. Bursts (an assessment that
arms five clocks) therefore become one write, and a slow Jira never holds the lifecycle back.

Runs started before this existed never wrote back; the patch keeps their replay unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.jira_writeback import JiraWriteBackActivities, TicketSyncRequest
    from incidents import clocks
    from incidents.lifecycle import IncidentView
    from integrations.jira_writeback import TicketState
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

JIRA_WRITEBACK_PATCH = "jira-writeback"


class WriteBackCarry(BaseModel):
    """What the issue shows, so a continued run does not write it again."""

    key: str | None = None
    synced: TicketState | None = None


class TicketWriteBack:
    def __init__(self, view: IncidentView, patched: Callable[[str], bool]) -> None:
        self._view = view
        self._patched = patched
        self._enabled: bool | None = None
        self._synced: tuple[str, TicketState] | None = None
        self._task: asyncio.Task[None] | None = None

    def idle(self) -> bool:
        return self._task is None

    def snapshot(self) -> WriteBackCarry:
        if self._synced is None:
            return WriteBackCarry()
        return WriteBackCarry(key=self._synced[0], synced=self._synced[1])

    def restore(self, carried: WriteBackCarry) -> None:
        if carried.key is not None and carried.synced is not None:
            self._synced = (carried.key, carried.synced)

    def note(self) -> None:
        """The view changed; write it back unless the issue already shows it."""
        if self._enabled is None:
            self._enabled = self._patched(JIRA_WRITEBACK_PATCH)
        if not self._enabled or self._task is not None:
            return
        if self._wanted() not in (None, self._synced):
            self._task = asyncio.create_task(self._sync())

    async def settle(self) -> None:
        """Wait until the issue shows the incident's final picture (before the run returns)."""
        self.note()
        await workflow.wait_condition(lambda: self._task is None)

    def _wanted(self) -> tuple[str, TicketState] | None:
        view = self._view
        if not view.jira_key:
            return None
        return view.jira_key, TicketState(
            workflow_id=view.workflow_id,
            state=str(view.state),
            obligations=clocks.regimes(view.obligations),
            next_deadline=view.next_deadline,
        )

    async def _sync(self) -> None:
        try:
            while (wanted := self._wanted()) not in (None, self._synced):
                assert wanted is not None
                key, ticket = wanted
                try:
                    await workflow.execute_activity_method(
                        JiraWriteBackActivities.sync_jira_ticket,
                        TicketSyncRequest(key=key, ticket=ticket, client=self._view.client),
                        start_to_close_timeout=EFFECT_TIMEOUT,
                        heartbeat_timeout=HEARTBEAT_TIMEOUT,
                        retry_policy=EFFECT_RETRY,
                        summary=f"Show {ticket.state} and the reporting clocks on {key}",
                    )
                except ActivityError as err:
                    # Only a permanent Jira refusal gets here; the comments still tell agents.
                    workflow.logger.warning("write-back to %s failed: %s", key, err.cause)
                self._synced = wanted
        finally:
            self._task = None
