"""The status-update cadence: while an incident is open, its owner keeps stakeholders informed.

"Open" runs from the acknowledgement to the resolution. Before the acknowledgement there is no
owner to remind and the escalation chain is already chasing a responder; after the resolution
the client has been told the incident is over, and the review that follows is the BPO's own.

The interval is the client policy's for the incident's current severity (`status_updates`). It
counts from the acknowledgement or the last stakeholder update, whichever is later: an update
(a Jira comment with the update marker, or `post_update` from the API or CLI) restarts it. When
an interval passes without one, the owner is reminded in a Jira comment that mentions them; when
a second interval in a row passes, they are also paged at low urgency, since one miss is often a
responder busy containing the incident but two leave the client without news for twice the
agreed time. The page is resolved by the next update, or at the resolution. Later misses are
reminded in Jira only: the pager already re-notifies its open alert.

Reminders stop after `MAX_REMINDERS` misses in a row, with one timeline entry saying so, until
the next stakeholder update or severity change: by then the owner has been reminded in Jira
three times and has an open page the pager keeps re-notifying, so more comments only bury the
issue (a SEV1 left acknowledged for a month would otherwise collect some 720 of them). A severity
change counts afresh from the moment it happened, since it is news worth an update of its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.paging import PageRequest, PagingActivities
    from incidents import notices
    from incidents.escalation import format_duration
    from incidents.policy import ClientPolicy
    from incidents.report import Severity
    from incidents.status_updates import StakeholderUpdate, mention
    from workflows.context import IncidentContext, at
    from workflows.options import (
        CADENCE_CAP_PATCH,
        EFFECT_RETRY,
        EFFECT_TIMEOUT,
        HEARTBEAT_TIMEOUT,
    )

# Pager severity of the owner's page: below any incident page's, so it is low urgency.
PAGE_SEVERITY = "warning"
# Misses in a row after which the owner is paged as well as reminded in Jira.
PAGE_AFTER_MISSES = 2
# Misses in a row after which reminders pause: one past the page, so the owner has had two Jira
# reminders and a page that stays open before the issue goes quiet.
MAX_REMINDERS = 3


class CadenceCarry(BaseModel):
    """Where the cadence stood: counting since `since`, `misses` in a row, the owner paged."""

    running: bool = False
    since: datetime | None = None
    misses: int = 0
    paged: bool = False
    seen: datetime | None = Field(
        None, description="The last update the cadence had taken in; a newer one restarts it"
    )


class StatusCadence:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._paged = False
        self._since: datetime | None = None
        self._misses = 0
        self._seen: datetime | None = None

    def start(self, policy: ClientPolicy) -> None:
        """Its own task: the lifecycle goes on waiting for containment and resolution."""
        self._task = asyncio.create_task(self._run(policy))

    def snapshot(self) -> CadenceCarry:
        running = self._task is not None and not self._task.done()
        return CadenceCarry(
            running=running,
            since=self._since,
            misses=self._misses,
            paged=self._paged,
            seen=self._seen,
        )

    def resume(self, carried: CadenceCarry, policy: ClientPolicy) -> None:
        """Count on from where a continued run stood: the next reminder keeps its instant."""
        self._paged = carried.paged
        if carried.running:
            self._task = asyncio.create_task(
                self._run(policy, carried.since, carried.misses, carried.seen)
            )

    async def stopped(self) -> None:
        """The cadence ends at the resolution; its page is resolved by then."""
        if self._task is not None:
            await self._task

    async def record_update(self, update: StakeholderUpdate) -> None:
        """An update from the API or CLI: it restarts the cadence and is shown in Jira (a Jira
        comment of Incident Desk's own is not read back as another update)."""
        self._ctx.view.last_stakeholder_update_at = workflow.now()
        self._ctx.record(
            "stakeholder_update", f"{update.text} (via {update.channel})", by=update.by
        )
        await self._ctx.comment(f"Stakeholder update from {update.by}: {update.text}")

    def _resolved(self) -> bool:
        return self._ctx.view.resolved_by is not None

    async def _run(
        self,
        policy: ClientPolicy,
        since: datetime | None = None,
        misses: int = 0,
        resumed_seen: datetime | None = None,
    ) -> None:
        """A continued run passes where the cadence stood, including the last update it took
        in, so an update that landed as the run switched still restarts the count."""
        view = self._ctx.view
        assert view.acknowledged_at is not None
        resumed = since is not None
        if since is None:
            since = max(
                view.acknowledged_at, view.last_stakeholder_update_at or view.acknowledged_at
            )
        while not self._resolved():
            severity = Severity(view.severity)
            interval = policy.status_update_interval(severity)
            seen = resumed_seen if resumed else view.last_stakeholder_update_at
            resumed = False
            self._since, self._misses, self._seen = since, misses, seen

            def moved(severity: Severity = severity, seen: datetime | None = seen) -> bool:
                return (
                    self._resolved()
                    or view.last_stakeholder_update_at != seen
                    or view.severity != severity
                )

            # Runs started before the cap keep reminding at every interval (replay).
            paused = misses >= MAX_REMINDERS and workflow.patched(CADENCE_CAP_PATCH)
            due = since + interval if interval is not None and not paused else None
            if due is None:
                await workflow.wait_condition(moved)
            elif due > workflow.now():
                try:
                    await workflow.wait_condition(
                        moved,
                        timeout=due - workflow.now(),
                        timeout_summary=self._summary(severity, interval, misses),
                    )
                except TimeoutError:
                    pass
            if self._resolved():
                break
            if view.last_stakeholder_update_at != seen:
                # An update wins over a timer that fired in the same task.
                assert view.last_stakeholder_update_at is not None
                since, misses = view.last_stakeholder_update_at, 0
                with self._ctx.effect():
                    await self._resolve_page("Resolve the owner's status-update page")
                continue
            if paused:
                since, misses = workflow.now(), 0  # the severity changed: count afresh from now
                continue
            if due is None or due > workflow.now():
                continue  # the severity changed: the interval is recomputed from the same start
            assert interval is not None
            misses += 1
            with self._ctx.effect():
                await self._missed(severity, interval, since, misses)
            since = due
            if misses == MAX_REMINDERS and workflow.patched(CADENCE_CAP_PATCH):
                self._ctx.record(
                    "status_update_reminders_paused",
                    f"{misses} stakeholder updates missed in a row; reminders paused until the "
                    "next update or a severity change",
                )
        await self._resolve_page("Resolve the owner's status-update page: resolved")

    def _summary(self, severity: Severity, interval: timedelta, misses: int) -> str:
        owner = self._ctx.view.acknowledged_by
        then = f"page {owner}" if misses + 1 == PAGE_AFTER_MISSES else f"remind {owner} in Jira"
        return f"Status update cadence ({severity}, every {format_duration(interval)}): {then}"

    async def _missed(
        self, severity: Severity, interval: timedelta, since: datetime, misses: int
    ) -> None:
        view = self._ctx.view
        owner = view.acknowledged_by or "the incident owner"
        silent = format_duration(workflow.now() - since)
        last = (
            f"the last update was at {at(view.last_stakeholder_update_at)}"
            if view.last_stakeholder_update_at
            else f"none since the acknowledgement at {at(view.acknowledged_at)}"
        )
        self._ctx.record(
            "status_update_overdue",
            f"No stakeholder update for {silent} ({severity} cadence: every "
            f"{format_duration(interval)}); {owner} reminded (miss {misses})",
        )
        await self._ctx.comment(
            f"{mention(owner)}: a stakeholder update is due. This {severity} incident is updated "
            f"every {format_duration(interval)}; {last}. Post one here as a comment starting with "
            "the update marker ([update] unless configured otherwise), or with "
            "`incident-desk update`."
        )
        if misses == PAGE_AFTER_MISSES:
            await self._page(owner, severity, interval, silent)

    async def _page(self, owner: str, severity: Severity, interval: timedelta, silent: str) -> None:
        view = self._ctx.view
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=cadence_key(view.workflow_id),
                summary=f"[{severity}] No stakeholder update for {silent} on incident "
                f"{view.incident_id} ({view.client})",
                severity=PAGE_SEVERITY,
                custom_details=notices.page_details(view)
                | {
                    "alert": "status_update_cadence",
                    "targets": owner,
                    "cadence": format_duration(interval),
                },
                workflow_id=view.workflow_id,
                jira_key=view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Page {owner}: no stakeholder update for {silent}",
        )
        self._paged = True
        self._ctx.record(
            "status_update_paged", f"{owner} paged: no stakeholder update for {silent}"
        )

    async def _resolve_page(self, summary: str) -> None:
        if self._paged:
            self._paged = False
            await self._ctx.resolve_page(cadence_key(self._ctx.view.workflow_id), summary)


def cadence_key(workflow_id: str) -> str:
    """The dedup key of the owner's status-update page: one open at a time per incident."""
    return f"{workflow_id}-status-update"
