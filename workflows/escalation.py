"""Paging on-call: the client's escalation chain, the no-responder alert, and closing the pages.

The chain is walked level by level with a durable timer per level, so a deadline holds across
worker restarts. Pages already sent stay open when the next level is paged: whoever acts first
counts, and every open page is acknowledged and later resolved together.

A level's timer starts as soon as its page is out. What follows a page (the level's Jira comment,
and after the first page the reporting clocks and the client notice) runs beside the timer, one
thing after another in the order of the pages, so a Jira outage delays the comments but never the
next level (runs from before `page-timer-first` waited for each comment first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.paging import PageRequest, PagingActivities
    from incidents import escalation, notices
    from incidents.escalation import Step
    from incidents.lifecycle import IncidentState, Page
    from incidents.policy import ClientPolicy
    from workflows.context import IncidentContext
    from workflows.options import (
        EFFECT_RETRY,
        EFFECT_TIMEOUT,
        HEARTBEAT_TIMEOUT,
        PAGE_TIMER_FIRST_PATCH,
    )


class Escalation:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        # Whether a level's timer starts before its follow-ups are done (decided per run).
        self._timer_first = False
        # The follow-ups of the pages sent so far, chained so they run in the order of the pages.
        self._follow_ups: asyncio.Task[None] | None = None

    async def page_on_call(self, policy: ClientPolicy) -> None:
        """Runs started before the escalation chain page once and wait."""
        view = self._ctx.view
        view.page_dedup_key = view.workflow_id
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=view.page_dedup_key,
                summary=notices.page_summary(view),
                severity=policy.pager.severity_map[view.severity],
                custom_details=notices.page_details(view),
                workflow_id=view.workflow_id,
                jira_key=view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Page on-call ({view.severity})",
        )
        self._ctx.move_to(IncidentState.ESCALATED)
        self._ctx.record("paged", f"On-call paged at {view.severity}")
        await self._ctx.comment("On-call has been paged. Waiting for a responder to acknowledge.")

    async def escalate(
        self,
        policy: ClientPolicy,
        *,
        after_first_page: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Page the chain level by level until someone acknowledges or it runs out.

        `after_first_page` runs once the first level is paged (after its Jira comment): people
        first, then whatever else the incident sets going. It is done when this returns.
        """
        self._timer_first = self._ctx.patched(PAGE_TIMER_FIRST_PATCH)
        await self._walk(policy, after_first_page)
        await self._followed_up()

    async def _walk(
        self, policy: ClientPolicy, after_first_page: Callable[[], Awaitable[None]] | None
    ) -> None:
        acknowledged = self._ctx.acknowledged
        steps = escalation.plan(policy, self._ctx.view.severity)
        for step in steps:
            await self._page_step(policy, step)
            if after_first_page is not None and step is steps[0]:
                await self._follow_up(after_first_page())
            if acknowledged() or step.ack_timeout is None:
                return
            try:
                await workflow.wait_condition(
                    acknowledged,
                    timeout=step.ack_timeout,
                    timeout_summary=step.timeout_summary,
                )
                return
            except TimeoutError:
                pass
            # An acknowledgement may land in the same task as the timer; it still wins.
            if acknowledged():
                return
            self._ctx.record(
                "ack_timeout",
                f"{step.label}: no acknowledgement within "
                f"{escalation.format_duration(step.ack_timeout)}",
            )
        await self._alert_no_responder(policy, steps[-1].rounds)

    async def acknowledge_pages(self) -> None:
        await self._settle_pages(PagingActivities.acknowledge_page, "Acknowledge", "acknowledged")
        self._ctx.show_details()

    async def resolve_pages(self) -> None:
        await self._settle_pages(PagingActivities.resolve_page, "Resolve", "resolved")

    async def _settle_pages(
        self,
        activity: Callable[[PagingActivities, str], Awaitable[None]],
        verb: str,
        status: Literal["acknowledged", "resolved"],
    ) -> None:
        view = self._ctx.view
        for page in self._open_pages():
            await workflow.execute_activity_method(
                activity,
                page.dedup_key,
                start_to_close_timeout=EFFECT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"{verb} the page"
                if len(view.pages) <= 1
                else f"{verb} page {page.dedup_key}",
            )
            page.status = status
            self._ctx.show_details()

    def _open_pages(self) -> list[Page]:
        """Old runs kept only `page_dedup_key`; they get a one-page list on the fly."""
        view = self._ctx.view
        if view.pages:
            return [page for page in view.pages if page.status != "resolved"]
        if view.page_dedup_key is None:
            return []
        return [Page(dedup_key=view.page_dedup_key, level=1, paged_at=view.received_at)]

    async def _page_step(self, policy: ClientPolicy, step: Step) -> None:
        view = self._ctx.view
        key = escalation.page_key(view.workflow_id, step.level, step.round)
        await self._trigger(
            key,
            notices.step_page_summary(view, step),
            policy.pager.severity_map[view.severity],
            notices.step_page_details(view, step),
            summary=f"Page {step.label}" if step.targets else f"Page on-call ({view.severity})",
        )
        view.pages.append(
            Page(
                dedup_key=key,
                level=step.level,
                round=step.round,
                targets=list(step.targets),
                paged_at=workflow.now(),
            )
        )
        if view.state != IncidentState.ESCALATED:
            self._ctx.move_to(IncidentState.ESCALATED)
        if step.targets:
            wait = escalation.format_duration(step.ack_timeout) if step.ack_timeout else "-"
            self._ctx.record("paged", f"{step.label} paged at {view.severity}")
            await self._follow_up(
                self._ctx.comment(
                    f"{step.label} paged. Escalating to the next level if nobody acknowledges "
                    f"within {wait}."
                )
            )
        else:
            self._ctx.record("paged", f"On-call paged at {view.severity}")
            await self._follow_up(
                self._ctx.comment("On-call has been paged. Waiting for a responder to acknowledge.")
            )

    async def _follow_up(self, step: Awaitable[None]) -> None:
        """Run what follows a page: inline on old runs, else after the earlier follow-ups and
        beside the level's timer."""
        if not self._timer_first:
            await step
            return
        self._follow_ups = asyncio.create_task(_after(self._follow_ups, step))

    async def _followed_up(self) -> None:
        """Every follow-up done: the chain's comments are in before anything later is said."""
        if self._follow_ups is not None:
            await self._follow_ups

    async def _alert_no_responder(self, policy: ClientPolicy, rounds: int) -> None:
        view = self._ctx.view
        target = policy.no_responder_target
        key = escalation.no_responder_key(view.workflow_id)
        await self._trigger(
            key,
            notices.no_responder_summary(view, target, rounds),
            "critical",
            notices.no_responder_details(view, target, rounds),
            summary=f"Alert {target}: no responder",
        )
        view.pages.append(Page(dedup_key=key, level=0, targets=[target], paged_at=workflow.now()))
        view.no_responder = True
        self._ctx.record(
            "no_responder", f"Nobody acknowledged after {rounds} round(s); {target} alerted"
        )
        await self._followed_up()
        await self._ctx.comment(
            f"No responder: nobody acknowledged after {rounds} round(s) of the escalation "
            f"chain. The operations manager ({target}) has been alerted. Pages stay open; "
            "acknowledge in Incident Desk or on the pager."
        )

    async def _trigger(
        self, key: str, text: str, severity: str, details: dict[str, str], *, summary: str
    ) -> None:
        view = self._ctx.view
        if view.page_dedup_key is None:
            view.page_dedup_key = key
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=key,
                summary=text,
                severity=severity,
                custom_details=details,
                workflow_id=view.workflow_id,
                jira_key=view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=summary,
        )


async def _after(earlier: asyncio.Task[None] | None, step: Awaitable[None]) -> None:
    if earlier is not None:
        await earlier
    await step
