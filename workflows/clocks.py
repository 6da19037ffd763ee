"""Reporting clocks: which obligations apply, one durable timer per due stage, reminders before
the deadline and an alert at the breach.

The rules live in `incidents/` (assessed by an activity); this keeps the timers in line with
their answer. Assessments run one at a time, so a slow one never overwrites a newer one.

An obligation with open questions (`needs_assessment`) is asked about in Jira, one comment per
question, and chased until a person answers (incidents/assessments.py says what its stages do
meanwhile). The answers outlive reassessments: a dropped obligation stays dropped when the facts
move, and an obligation judged to apply is not asked about again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.obligations import ObligationActivities, ObligationRequest
    from activities.paging import PageRequest, PagingActivities
    from incidents import assessments, clocks, escalation, notices
    from incidents.assessments import ObligationAssessment, UntilAnswered
    from incidents.calendars import reminder_times
    from incidents.classification import facts_from_report
    from incidents.clocks import ClockStatus, FactsUpdate, ObligationClock, StageClock
    from incidents.facts import IncidentFacts
    from incidents.lifecycle import IncidentState
    from incidents.obligations import NotApplicable, ObligationReport
    from incidents.policy import ClientPolicy
    from incidents.report import IncidentReport
    from workflows.context import IncidentContext, at
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

# Runs recorded before questions were asked in Jira keep their command sequence.
OBLIGATION_ASSESSMENT_PATCH = "obligation-assessment"


class ArmedStage(BaseModel):
    """One stage's running timer: the due instant it was armed for, since when, and the
    reminders it already sent (a continued run sends only the rest)."""

    obligation: str
    stage: str
    due_at: datetime
    since: datetime
    sent: list[str] = Field(default_factory=list)


class QuestionChase(BaseModel):
    """An obligation's open questions: when first asked and when last reminded."""

    asked: datetime
    last: datetime


class ClocksCarry(BaseModel):
    on: bool = False
    asking: bool = False
    answers: dict[str, ObligationAssessment] = Field(default_factory=dict)
    armed: list[ArmedStage] = Field(default_factory=list)
    chasing: dict[str, QuestionChase] = Field(default_factory=dict)


class ReportingClocks:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        self._policy: ClientPolicy | None = None
        # One task per armed stage, with the due instant it was armed for; what each has done.
        self._timers: dict[tuple[str, str], tuple[datetime, asyncio.Task[None]]] = {}
        self._armed: dict[tuple[str, str], ArmedStage] = {}
        self._assessing = asyncio.Lock()
        # Whether this run asks `needs_assessment` questions (decided once, at the first
        # assessment); the answers given; one reminder task per obligation still awaiting one.
        self._asking = False
        self._answers: dict[str, ObligationAssessment] = {}
        self._chasing: dict[str, asyncio.Task[None]] = {}
        self._chased: dict[str, QuestionChase] = {}

    # --- continuing as new ---------------------------------------------------------------------

    def snapshot(self) -> ClocksCarry:
        return ClocksCarry(
            on=self._ctx.clocks_on,
            asking=self._asking,
            answers=dict(self._answers),
            armed=[self._armed[key] for key in self._timers if key in self._armed],
            chasing={k: self._chased[k] for k in self._chasing if k in self._chased},
        )

    def restore(self, carried: ClocksCarry, policy: ClientPolicy) -> None:
        """State only (validators need it before the run starts); `resume` re-arms."""
        self._policy = policy
        self._ctx.clocks_on = carried.on
        self._asking = carried.asking
        self._answers = dict(carried.answers)
        self._armed = {(a.obligation, a.stage): a for a in carried.armed}
        self._chased = dict(carried.chasing)

    def resume(self) -> None:
        """Re-arm each stage timer for its original due instant, and the question chases."""
        if not self.on:
            return
        self._rearm()
        for obligation, chase in self._chased.items():
            self._chasing[obligation] = asyncio.create_task(
                self._chase(obligation, chase.asked, chase.last)
            )

    @property
    def on(self) -> bool:
        return self._ctx.clocks_on

    async def start(self, policy: ClientPolicy, report: IncidentReport) -> None:
        self._policy = policy
        async with self._assessing:
            self._asking = self._ctx.patched(OBLIGATION_ASSESSMENT_PATCH)
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
            changes = _changed_fields(before, facts)
            if update.severity is not None and update.severity != view.severity:
                changes.insert(0, f"severity {view.severity} → {update.severity}")
                view.severity = update.severity
            changed = ", ".join(changes) or "nothing"
            reason = f" ({update.reason})" if update.reason else ""
            self._ctx.record("facts_updated", f"Facts updated: {changed}{reason}", by=update.by)
            await self._assess()

    def check_update(self, update: FactsUpdate) -> None:
        """Why a facts update cannot be taken (for validators): ValueError with the reason.

        Facts are taken until the incident closes, not only until it is resolved: in REVIEW the
        clocks still run (a final report is due later), and a late correction, such as the
        records affected, changes what that report owes.
        """
        view = self._ctx.view
        if not self.on or view.facts is None:
            raise ValueError("this incident has no reporting clocks yet; retry once it is paged")
        if view.closed_by is not None:
            raise ValueError(f"already closed by {view.closed_by}")
        if view.state is IncidentState.CLOSED:
            raise ValueError("the incident is closed")
        facts = update.apply(view.facts)
        if facts == view.facts and update.severity in (None, view.severity):
            raise ValueError("the update changes no fact")

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

    # --- questions a person must answer (`needs_assessment`) -------------------------------

    def check_answer(self, obligation: str) -> ObligationClock:
        """The obligation an answer is for, or why it cannot be taken (for validators)."""
        if not self.on:
            raise ValueError("this incident has no reporting clocks yet; retry once it is paged")
        if not self._asking:
            raise ValueError(
                "this incident started before Incident Desk asked assessment questions"
            )
        waiting = ", ".join(c.id for c in self._ctx.view.obligations if self._awaiting(c))
        clock = next((c for c in self._ctx.view.obligations if c.id == obligation), None)
        if clock is None:
            raise ValueError(
                f"no obligation '{obligation}' on this incident; awaiting an answer: "
                f"{waiting or 'none'}"
            )
        given = self._answers.get(obligation)
        if given is not None:
            raise ValueError(
                f"{obligation} was already assessed by {given.by}: it {given.verdict} "
                f"({given.reason})"
            )
        if not clock.in_force:
            raise ValueError(f"{obligation} no longer applies: {clock.cancelled_reason}")
        if not clock.needs_assessment:
            raise ValueError(
                f"{obligation} has no open question to answer; awaiting an answer: "
                f"{waiting or 'none'}"
            )
        return clock

    async def answer(self, answer: ObligationAssessment) -> None:
        """ "Yes" runs the obligation's stages from their original trigger; "no" drops it, with
        the reason, and withdraws any breach alert it raised."""
        clock = self.check_answer(answer.obligation)
        view = self._ctx.view
        held = clock.id in self._held()
        self._answers[clock.id] = answer
        chase = self._chasing.pop(clock.id, None)
        if chase is not None:
            chase.cancel()
        self._chased.pop(clock.id, None)
        said = f"assessed by {answer.by} via {answer.channel}: {answer.reason}"
        if answer.applies:
            clock.needs_assessment = []
            notes = (
                assessments.late_notes(
                    clock, workflow.now(), list(self._policy_or_fail().reminders)
                )
                if held
                else []
            )
            late = f" {' '.join(notes)}" if notes else ""
            self._ctx.record(
                "assessment_applies", f"{clock.name} applies ({said}).{late}", answer.by
            )
            self._rearm()
            await self._ctx.comment(
                f"Assessment recorded: {clock.name} [{clock.id}] applies ({said}).{late}"
            )
            return
        alerted = self._breach_alerts()
        view.obligations = [
            assessments.dropped(c, f"does not apply, {said}") if c.id == clock.id else c
            for c in view.obligations
        ]
        self._rearm()
        self._ctx.record("obligation_dropped", f"{clock.name} does not apply ({said})", answer.by)
        await self._ctx.comment(
            f"Assessment recorded: {clock.name} [{clock.id}] does not apply ({said}). Its "
            "reminders and deadline alerts are stopped."
        )
        for key in sorted(alerted - self._breach_alerts()):
            await self._ctx.resolve_page(key, f"Resolve the breach alert of dropped {clock.id}")

    def _awaiting(self, clock: ObligationClock) -> bool:
        return (
            self._asking
            and clock.in_force
            and bool(clock.needs_assessment)
            and clock.id not in self._answers
        )

    def _hold(self) -> bool:
        policy = self._policy
        return policy is not None and policy.assessment.until_answered is UntilAnswered.HOLD

    def _held(self) -> set[str]:
        """Obligations whose stages wait for a "yes" (policy `hold`)."""
        if not self._hold():
            return set()
        return {c.id for c in self._ctx.view.obligations if self._awaiting(c)}

    def _policy_or_fail(self) -> ClientPolicy:
        assert self._policy is not None
        return self._policy

    def _with_answers(self, report: ObligationReport) -> ObligationReport:
        """The rules' answer with people's "no"s applied: a person's judgement outlives a change
        of facts, so a dropped obligation is not reinstated by the next reassessment."""
        dropped = {k: a for k, a in self._answers.items() if not a.applies}
        if not dropped:
            return report
        return report.model_copy(
            update={
                "obligations": tuple(o for o in report.obligations if o.id not in dropped),
                "not_applicable": report.not_applicable
                + tuple(
                    NotApplicable(id=k, reason=f"assessed by {a.by}: {a.reason}")
                    for k, a in dropped.items()
                    if k in report.ids()
                ),
            }
        )

    async def _ask_new_questions(self) -> None:
        """One Jira comment per question of each obligation newly awaiting an answer; stop
        chasing those the facts settled or that no longer apply."""
        view = self._ctx.view
        for clock in view.obligations:
            if clock.id in self._chasing and not self._awaiting(clock):
                self._chasing.pop(clock.id).cancel()
                self._chased.pop(clock.id, None)
                why = "it no longer applies" if not clock.in_force else "the facts answer it"
                self._ctx.record("assessment_withdrawn", f"{clock.name}: no longer asked, {why}")
        for clock in view.obligations:
            if not self._awaiting(clock) or clock.id in self._chasing:
                continue
            held = " Its stages wait for the answer." if clock.id in self._held() else ""
            self._ctx.record(
                "assessment_asked",
                f"{clock.name}: {len(clock.needs_assessment)} question(s) asked in Jira: "
                f"{' | '.join(clock.needs_assessment)}{held}",
            )
            questions = list(clock.needs_assessment)
            for number, question in enumerate(questions, start=1):
                await self._ctx.comment(
                    assessments.question_comment(
                        clock.id, clock.name, clock.instrument, question, number, len(questions)
                    )
                )
            self._chasing[clock.id] = asyncio.create_task(self._chase(clock.id))

    async def _chase(
        self, obligation: str, asked: datetime | None = None, last: datetime | None = None
    ) -> None:
        """Ask again `remind_every` after it was last asked, until answered (cancelled with the
        answer); under `hold`, also at the policy's reminder offsets before the deadline the
        answer gates, each of which restarts the count. A continued run passes on the times."""
        policy = self._policy_or_fail()
        asked = asked or workflow.now()
        last = last or asked
        while True:
            self._chased[obligation] = QuestionChase(asked=asked, last=last)
            clock = next(c for c in self._ctx.view.obligations if c.id == obligation)
            now = workflow.now()
            when = last + policy.assessment.remind_every
            gated = assessments.first_due(clock) if self._hold() else None
            if gated is not None:
                early = reminder_times(gated, list(policy.reminders), not_before=now)
                when = min([t for t in early if t > now] + [when])
            if when > now:
                await workflow.sleep(
                    when - now, summary=f"{clock.name}: assessment unanswered — reminder"
                )
            last = when
            with self._ctx.effect():
                self._chased[obligation] = QuestionChase(asked=asked, last=last)
                await self._remind_question(clock, asked, gated)

    async def _remind_question(
        self, clock: ObligationClock, asked: datetime, gated: datetime | None
    ) -> None:
        due = f"; its first stage would be due at {at(gated)}" if gated else ""
        self._ctx.record(
            "assessment_reminder",
            f"{clock.name}: question(s) asked at {at(asked)} still unanswered{due}",
        )
        await self._ctx.comment(
            f"Reminder: {clock.name} [{clock.id}] still needs an assessment (asked at "
            f"{at(asked)}){due}.\nQuestions: {' | '.join(clock.needs_assessment)}\nAnswer with "
            f"{assessments.answer_form(clock.id)}."
        )

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
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
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
        report = self._with_answers(report)
        view.obligations, changes = clocks.clocks_from(report, view.obligations, workflow.now())
        for clock in view.obligations:
            if clock.id in self._answers:
                clock.needs_assessment = []
        self._rearm()
        for change in changes:
            self._ctx.record(change.event, change.detail)
        self._ctx.publish()
        if changes:
            await self._ctx.comment(clocks.jira_overview(view.obligations, changes))
        if self._asking:
            await self._ask_new_questions()
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
        held = self._held()
        wanted = {
            (c.id, s.stage): s.due_at for c, s in clocks.armed(view.obligations) if c.id not in held
        }
        for key, (due, task) in list(self._timers.items()):
            if wanted.get(key) != due:
                task.cancel()
                del self._timers[key]
                self._armed.pop(key, None)
        for key, due in wanted.items():
            if key not in self._timers and due is not None:
                armed = self._armed.get(key)
                if armed is None or armed.due_at != due:
                    # A continued run keeps what the stage's timer already did.
                    self._armed[key] = ArmedStage(
                        obligation=key[0], stage=key[1], due_at=due, since=workflow.now()
                    )
                self._timers[key] = (due, asyncio.create_task(self._watch(key, due)))
        view.next_deadline = clocks.next_deadline(view.obligations)
        view.deadline_breached = clocks.breached(view.obligations)

    async def _watch(self, key: tuple[str, str], due: datetime) -> None:
        """Reminders at the policy's offsets, then the breach at the due instant. Cancelled (with
        its timer) when the stage is done or its due instant moves."""
        assert self._policy is not None
        clock, stage = self._clock(*key)
        armed = self._armed[key]
        offsets = list(self._policy.reminders)
        for when in reminder_times(due, offsets, not_before=armed.since):
            offset = due - when
            label = clocks.offset_label(offset)
            if label in armed.sent:
                continue  # sent by the run this one continues
            wait = when - workflow.now()
            if wait >= timedelta(0):
                await workflow.sleep(wait, summary=clocks.reminder_summary(clock, stage, offset))
            with self._ctx.effect():
                armed.sent.append(label)
                await self._remind(clock, stage, offset)
        remaining = due - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary=clocks.due_summary(clock, stage))
        # From here on nothing cancels the task: a breach alert is sent whole.
        self._timers.pop(key, None)
        self._armed.pop(key, None)
        with self._ctx.effect():
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
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
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
