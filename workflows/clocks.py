"""Reporting clocks: which obligations apply, one durable timer per due stage, reminders before
the deadline and an alert at the breach.

The rules live in `incidents/` (assessed by an activity); this keeps the timers in line with
their answer. Assessments run one at a time, so a slow one never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.obligations import ObligationActivities, ObligationRequest
    from activities.paging import PageRequest, PagingActivities
    from incidents import clocks, escalation, notices
    from incidents.calendars import reminder_times
    from incidents.classification import facts_from_report
    from incidents.clocks import ClockStatus, FactsUpdate, ObligationClock, StageClock
    from incidents.facts import IncidentFacts
    from incidents.policy import ClientPolicy
    from incidents.report import IncidentReport
    from workflows.context import IncidentContext, at
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT


class ReportingClocks:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        self._policy: ClientPolicy | None = None
        # One task per armed stage, with the due instant it was armed for.
        self._timers: dict[tuple[str, str], tuple[datetime, asyncio.Task[None]]] = {}
        self._assessing = asyncio.Lock()

    @property
    def on(self) -> bool:
        return self._ctx.clocks_on

    async def start(self, policy: ClientPolicy, report: IncidentReport) -> None:
        self._policy = policy
        async with self._assessing:
            self._ctx.clocks_on = True
            view = self._ctx.view
            view.facts = facts_from_report(report, view.received_at, policy)
            await self._assess()

    async def update_facts(self, update: FactsUpdate) -> None:
        """New obligations are armed, ones that no longer apply cancelled, moved ones re-armed."""
        async with self._assessing:
            view = self._ctx.view
            before = view.facts
            assert before is not None
            facts = update.apply(before)
            view.facts = facts
            changed = ", ".join(_changed_fields(before, facts)) or "nothing"
            reason = f" ({update.reason})" if update.reason else ""
            self._ctx.record("facts_updated", f"Facts updated: {changed}{reason}", by=update.by)
            await self._assess()

    async def mark_done(self, obligation: str, stage: str, by: str, reference: str) -> None:
        clock, found = self.find_stage(obligation, stage)
        await self.stage_done(clock, found, by, reference)

    async def stage_done(
        self, clock: ObligationClock, stage: StageClock, by: str, reference: str
    ) -> None:
        """Stops the stage's timers; the evidence stays with the clock and in the timeline."""
        was_breached = stage.status is ClockStatus.BREACHED
        stage.status = ClockStatus.DONE
        stage.done_at = workflow.now()
        stage.done_by = by
        stage.reference = reference
        self._rearm()
        late = " (after its deadline)" if was_breached else ""
        self._ctx.record(
            "obligation_stage_done",
            f"{clock.name} ({stage.stage}) done{late}; reference: {reference}",
            by=by,
        )
        await self._ctx.comment(
            f"Reporting obligation done{late}: {clock.name} ({stage.stage}) by {by}, "
            f"reference {reference}."
        )
        if was_breached:
            await self._ctx.resolve_page(
                clocks.breach_key(self._ctx.view.workflow_id, clock.id, stage.stage),
                f"Resolve the breach alert of {clock.id} ({stage.stage})",
            )

    def find_stage(self, obligation: str, stage: str) -> tuple[ObligationClock, StageClock]:
        """The stage a person acts on, or the reason they cannot (for validators)."""
        if not self.on:
            raise ValueError("this incident has no reporting clocks")
        obligations = self._ctx.view.obligations
        clock = next((c for c in obligations if c.id == obligation), None)
        if clock is None:
            known = ", ".join(c.id for c in obligations) or "none"
            raise ValueError(f"no obligation '{obligation}' on this incident; it has: {known}")
        if not clock.in_force:
            raise ValueError(f"{obligation} no longer applies: {clock.cancelled_reason}")
        found = clock.stage(stage)
        if found is None:
            names = ", ".join(s.stage for s in clock.stages)
            raise ValueError(f"{obligation} has no stage '{stage}'; its stages: {names}")
        if found.status is ClockStatus.DONE:
            raise ValueError(
                f"{obligation} ({stage}) already done by {found.done_by} at "
                f"{at(found.done_at)}, reference {found.reference}"
            )
        return clock, found

    def note_open(self) -> None:
        """At close, say which stages nobody marked done (they may have been filed elsewhere)."""
        owed = [
            f"{c.id} ({s.stage})"
            for c in self._ctx.view.obligations
            if c.in_force
            for s in c.stages
            if s.status in clocks.OPEN
        ]
        if owed:
            self._ctx.record(
                "clocks_open_at_close",
                f"Closed with reporting stages not marked done: {', '.join(owed)}",
            )

    async def _assess(self) -> None:
        """Ask the rules again and bring the clocks and their timers in line with the answer."""
        view = self._ctx.view
        assert self._policy is not None and view.facts is not None
        try:
            report = await workflow.execute_activity_method(
                ObligationActivities.assess_obligations,
                ObligationRequest(facts=view.facts, policy=self._policy),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary="Assess reporting obligations and deadlines",
            )
        except ActivityError as err:
            self._ctx.record(
                "obligations_unassessed", f"Obligations could not be assessed: {err.cause}"
            )
            await self._ctx.comment(
                "Reporting obligations could not be assessed; correct the facts. "
                f"Reason: {err.cause}"
            )
            return
        view.aware_at = view.facts.aware_at
        alerted = self._breach_alerts()
        view.obligations, changes = clocks.clocks_from(report, view.obligations, workflow.now())
        self._rearm()
        for change in changes:
            self._ctx.record(change.event, change.detail)
        self._ctx.publish()
        if changes:
            await self._ctx.comment(clocks.jira_overview(view.obligations, changes))
        # A breach the new facts withdraw (obligation gone, deadline moved later) stops alerting.
        for key in sorted(alerted - self._breach_alerts()):
            await self._ctx.resolve_page(key, "Resolve a withdrawn breach alert")

    def _breach_alerts(self) -> set[str]:
        return {
            clocks.breach_key(self._ctx.view.workflow_id, c.id, s.stage)
            for c in self._ctx.view.obligations
            for s in c.stages
            if s.status is ClockStatus.BREACHED
        }

    def _rearm(self) -> None:
        """Cancel timers whose stage settled or moved, start those missing; keeps the view's
        next deadline in step."""
        view = self._ctx.view
        wanted = {(c.id, s.stage): s.due_at for c, s in clocks.armed(view.obligations)}
        for key, (due, task) in list(self._timers.items()):
            if wanted.get(key) != due:
                task.cancel()
                del self._timers[key]
        for key, due in wanted.items():
            if key not in self._timers and due is not None:
                self._timers[key] = (due, asyncio.create_task(self._watch(key, due)))
        view.next_deadline = clocks.next_deadline(view.obligations)
        view.deadline_breached = clocks.breached(view.obligations)

    async def _watch(self, key: tuple[str, str], due: datetime) -> None:
        """Reminders at the policy's offsets, then the breach at the due instant. Cancelled (with
        its timer) when the stage is done or its due instant moves."""
        assert self._policy is not None
        clock, stage = self._clock(*key)
        offsets = list(self._policy.reminders)
        for when in reminder_times(due, offsets, not_before=workflow.now()):
            offset = due - when
            await workflow.sleep(
                when - workflow.now(), summary=clocks.reminder_summary(clock, stage, offset)
            )
            await self._remind(clock, stage, offset)
        remaining = due - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary=clocks.due_summary(clock, stage))
        # From here on nothing cancels the task: a breach alert is sent whole.
        self._timers.pop(key, None)
        await self._breach(clock, stage)

    def _clock(self, obligation: str, stage: str) -> tuple[ObligationClock, StageClock]:
        clock = next(c for c in self._ctx.view.obligations if c.id == obligation)
        found = clock.stage(stage)
        assert found is not None
        return clock, found

    async def _remind(self, clock: ObligationClock, stage: StageClock, offset: timedelta) -> None:
        label = clocks.offset_label(offset)
        stage.reminders_sent.append(label)
        left = escalation.format_duration(offset)
        self._ctx.record(
            "deadline_reminder",
            f"{label}: {clock.name} ({stage.stage}) due at {at(stage.due_at)}, {left} left",
        )
        await self._ctx.comment(
            f"Reminder ({label}): {clock.name} ({stage.stage}), owed by {clock.owed_by}, is due "
            f"at {at(stage.due_at)}. Mark it done with the filing reference once sent."
        )

    async def _breach(self, clock: ObligationClock, stage: StageClock) -> None:
        assert self._policy is not None
        view = self._ctx.view
        stage.status = ClockStatus.BREACHED
        stage.breached_at = workflow.now()
        self._rearm()
        target = self._policy.compliance_target
        self._ctx.record(
            "deadline_breached",
            f"{clock.name} ({stage.stage}) was due at {at(stage.due_at)} and is not done; "
            f"{target} alerted",
        )
        try:
            await workflow.execute_activity_method(
                PagingActivities.trigger_page,
                PageRequest(
                    dedup_key=clocks.breach_key(view.workflow_id, clock.id, stage.stage),
                    summary=notices.breach_summary(view, clock, stage),
                    severity="critical",
                    custom_details=notices.breach_details(view, clock, stage, target),
                    workflow_id=view.workflow_id,
                    jira_key=view.jira_key,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Alert {target}: {clock.id} ({stage.stage}) deadline missed",
            )
        except ActivityError as err:
            self._ctx.record("breach_alert_failed", f"Breach alert not sent: {err.cause}")
        await self._ctx.comment(
            f"Deadline missed: {clock.name} ({stage.stage}), owed by {clock.owed_by}, was due at "
            f"{at(stage.due_at)} and has not been marked done. {target} has been alerted."
        )


def _changed_fields(before: IncidentFacts, after: IncidentFacts) -> list[str]:
    old, new = dict(before), dict(after)
    return [name for name in new if old.get(name) != new[name]]
