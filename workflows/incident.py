"""IncidentWorkflow: one durable workflow per inbound security incident report.

The lifecycle in DESIGN.md: the report is recorded, a Jira ticket is opened for the agents,
on-call is paged down the client's escalation chain, the reporting clocks are armed and the client
is told, and the incident waits for a person to take ownership (acknowledge) and then to resolve
it. Every step lands in the timeline and in Jira.

This module holds the lifecycle and the actions people take on it (updates, validated); the
mechanics of each concern live in the helpers the workflow owns: `Escalation` (escalation.py),
`ReportingClocks` (clocks.py), `ClientNotice` (client_notice.py) and `JiraTicket` (ticket.py),
all sharing one `IncidentContext` (context.py).

A long incident continues as new at its long waits (acknowledgement, resolution, review) once
Temporal suggests it or the history passes `StartIncident.history_limit`: the next run, under the
same workflow id, resumes from the carried state (carry_over.py) and answers `state` the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.policies import PolicyActivities
    from incidents.assessments import ObligationAssessment
    from incidents.checklist import ChecklistTick
    from incidents.clocks import FactsUpdate, StageDone
    from incidents.comments import IncidentComment
    from incidents.duplicates import DuplicateReport
    from incidents.lifecycle import (
        Action,
        CloseIncident,
        Containment,
        FalseAlarm,
        IncidentState,
        IncidentView,
        Validation,
    )
    from incidents.notification import ClientAcknowledgement
    from incidents.policy import ClientPolicy
    from incidents.report import StartIncident
    from incidents.sop import Gate
    from incidents.status_updates import StakeholderUpdate
    from workflows.cadence import StatusCadence
    from workflows.carry_over import IncidentCarryOver, Phase
    from workflows.checklist import Checklist
    from workflows.client_notice import ClientNotice
    from workflows.clocks import ReportingClocks
    from workflows.context import IncidentContext
    from workflows.escalation import Escalation
    from workflows.options import (
        CLIENT_NOTIFICATION_PATCH,
        CONTINUE_AS_NEW_PATCH,
        EFFECT_RETRY,
        EFFECT_TIMEOUT,
        ESCALATION_CHAIN_PATCH,
        HEARTBEAT_TIMEOUT,
        JIRA_FINAL_STATE_PATCH,
        REPORTING_CLOCKS_PATCH,
        STATUS_CADENCE_PATCH,
        VALIDATION_STAGE_PATCH,
    )
    from workflows.review import Review
    from workflows.ticket import JiraTicket
    from workflows.triage import Triage

# Update ids remembered across runs (Temporal deduplicates them within one run only).
KEPT_UPDATE_IDS = 200
# Timeline entries an update answers with: enough for everything one action records.
ANSWER_TIMELINE = 20


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, start: StartIncident) -> None:
        # Handler state exists before the first update can arrive.
        report = start.report
        self._start = start
        self._carried = (
            IncidentCarryOver.model_validate(start.carried) if start.carried is not None else None
        )
        # The view this run continued from (read by the metrics interceptor), else None.
        self.continued_from = self._carried.view.model_copy(deep=True) if self._carried else None
        if self._carried is not None:
            self._view = self._carried.view
        else:
            self._view = IncidentView(
                incident_id=start.incident_id,
                workflow_id=workflow.info().workflow_id,
                client=report.client,
                state=IncidentState.REPORTED,
                severity=report.severity or "SEV3",
                category=report.category or "unclassified",
                aware_at=report.aware_at or start.received_at,
                received_at=start.received_at,
            )
        self._ctx = IncidentContext(self._view)
        self._ticket = JiraTicket(self._ctx)
        self._escalation = Escalation(self._ctx)
        self._clocks = ReportingClocks(self._ctx)
        self._client = ClientNotice(self._ctx, self._clocks)
        self._triage = Triage(self._ctx)
        self._review = Review(self._ctx)
        self._cadence = StatusCadence(self._ctx)
        self._checklist = Checklist(self._ctx, self._clocks)
        self._policy: ClientPolicy | None = None
        self._update_ids: list[str] = []
        self._repeats: frozenset[str] = frozenset()
        if self._carried is not None:
            self._restore(self._carried)
        # One lifecycle per incident, decided when it starts (validators need the answer too):
        # runs from before the validation stage keep paging at intake and closing at resolve.
        # A continued run keeps the decisions of the first (`IncidentContext.patched`).
        self._staged = self._ctx.patched(VALIDATION_STAGE_PATCH)
        if self._staged and self._carried is None:
            self._triage.vouched(report, start.received_at)
        self._may_continue = self._ctx.patched(CONTINUE_AS_NEW_PATCH)

    @workflow.run
    async def run(self, start: StartIncident) -> IncidentView:
        if self._carried is not None:
            return await self._resume(self._carried)
        ctx, view = self._ctx, self._view
        ctx.record("reported", f"Reported by {start.report.channel}")
        policy = await self._load_policy(start.report.client)
        self._policy = policy
        if start.report.severity is None and not self._triage.severity_corrected:
            view.severity = policy.default_severity
        ctx.move_to(IncidentState.TRIAGE)

        if start.jira_key:
            self._ticket.link(start.jira_key)
        else:
            await self._ticket.open(start.report)
        if not self._staged:
            return await self._run_unstaged(policy)

        if not await self._triage.run(policy, start.report):
            await self._ticket.close()
            ctx.move_to(IncidentState.CLOSED)
            return await self._ended()
        self._checklist.start(policy)
        await self._escalation.escalate(policy, after_first_page=partial(self._obligations, policy))
        return await self._awaiting_acknowledgement(policy)

    async def _run_unstaged(self, policy: ClientPolicy) -> IncidentView:
        """Runs started before the validation stage: paged at intake, closed at resolution."""
        if self._ctx.patched(ESCALATION_CHAIN_PATCH):
            arm = self._ctx.patched(REPORTING_CLOCKS_PATCH)
            await self._escalation.escalate(
                policy, after_first_page=partial(self._obligations, policy) if arm else None
            )
        else:
            await self._escalation.page_on_call(policy)
        return await self._awaiting_acknowledgement(policy)

    # --- the long waits, where a run may hand over to the next -------------------------------

    async def _awaiting_acknowledgement(self, policy: ClientPolicy) -> IncidentView:
        await self._until(self._ctx.acknowledged, phase=Phase.ACKNOWLEDGEMENT)
        await self._acknowledged(policy)
        return await self._awaiting_resolution(policy)

    async def _awaiting_resolution(self, policy: ClientPolicy) -> IncidentView:
        ctx, view = self._ctx, self._view
        await self._until(lambda: view.resolved_by is not None, phase=Phase.RESOLUTION)
        await self._resolved()
        if not self._staged:
            await self._ticket.close()
            self._clocks.note_open()
            ctx.move_to(IncidentState.CLOSED)
            return await self._ended()
        await self._review.run(policy, partial(self._until, phase=Phase.REVIEW))
        return await self._closed()

    async def _closed(self) -> IncidentView:
        await self._ctx.comment(self._closing_note())
        await self._ticket.close()
        self._ctx.move_to(IncidentState.CLOSED)
        return await self._ended()

    async def _ended(self) -> IncidentView:
        """The Jira issue shows the final state before the run ends (runs from before
        `jira-final-state` could end with the last write-back still owed)."""
        if self._ctx.patched(JIRA_FINAL_STATE_PATCH):
            await self._ctx.jira.settle()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _until(
        self,
        done: Callable[[], bool],
        *,
        phase: Phase,
        timeout: timedelta | None = None,  # noqa: ASYNC109 (a durable timer, as wait_condition's)
        timeout_summary: str | None = None,
    ) -> None:
        """`workflow.wait_condition`, except that a long history hands the incident over to a
        new run (which waits on in the same phase). Runs from before `continue-as-new` wait as
        they always did."""
        if not self._may_continue:
            await workflow.wait_condition(done, timeout=timeout, timeout_summary=timeout_summary)
            return
        await workflow.wait_condition(
            lambda: done() or self._history_long(),
            timeout=timeout,
            timeout_summary=timeout_summary,
        )
        if not done() and self._history_long():
            await self._continue_as_new(phase)

    def _history_long(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._start.history_limit
        return limit is not None and info.get_current_history_length() >= limit

    def _settled(self) -> bool:
        return workflow.all_handlers_finished() and self._ctx.idle()

    async def _continue_as_new(self, phase: Phase) -> None:
        """At a safe point (no update handler running, no helper in the middle of an effect),
        start the next run with everything this one knows. Timers are not waited out: the next
        run re-arms them for the same instants."""
        while True:
            await workflow.wait_condition(self._settled)
            # Tasks woken in the same pass take their step first (one may start an effect).
            await asyncio.sleep(0)
            if self._settled():
                break
        carried = self._carry_over(phase)
        workflow.logger.info(
            "continuing as new after %s events (run %s of the chain)",
            workflow.info().get_current_history_length(),
            carried.runs,
        )
        workflow.continue_as_new(
            self._start.model_copy(update={"carried": carried.model_dump(mode="json")}),
            search_attributes=workflow.info().typed_search_attributes,
        )

    def _carry_over(self, phase: Phase) -> IncidentCarryOver:
        assert self._policy is not None
        before = self._carried.runs if self._carried is not None else 0
        return IncidentCarryOver(
            phase=phase,
            view=self._view,
            policy=self._policy,
            patches=dict(self._ctx.patches),
            runs=before + 1,
            update_ids=self._update_ids[-KEPT_UPDATE_IDS:],
            severity_corrected=self._triage.severity_corrected,
            clocks=self._clocks.snapshot(),
            notice=self._client.snapshot(),
            cadence=self._cadence.snapshot(),
            checklist=self._checklist.snapshot(),
            review=self._review.snapshot(),
            writeback=self._ctx.jira.snapshot(),
        )

    def _restore(self, carried: IncidentCarryOver) -> None:
        """State the validators read, before any update can arrive; `_resume` re-arms timers."""
        self._ctx.patches.update(carried.patches)
        self._policy = carried.policy
        self._update_ids = list(carried.update_ids)
        self._repeats = frozenset(carried.update_ids)
        self._triage.severity_corrected = carried.severity_corrected
        self._clocks.restore(carried.clocks, carried.policy)
        self._checklist.restore(carried.checklist)
        self._review.restore(carried.review)
        self._ctx.jira.restore(carried.writeback)

    async def _resume(self, carried: IncidentCarryOver) -> IncidentView:
        """Take up the incident in the phase the last run handed it over in, every timer armed
        for its original instant (nothing already sent is sent again)."""
        policy = carried.policy
        self._ctx.show_details()
        self._clocks.resume()
        self._client.resume(carried.notice, policy)
        self._cadence.resume(carried.cadence, policy)
        self._checklist.resume(carried.checklist, policy)
        if carried.phase is Phase.ACKNOWLEDGEMENT:
            return await self._awaiting_acknowledgement(policy)
        if carried.phase is Phase.RESOLUTION:
            return await self._awaiting_resolution(policy)
        if not self._review.closed():
            await self._review.wait(policy, partial(self._until, phase=Phase.REVIEW))
        return await self._closed()

    def _repeat(self) -> bool:
        """An update the previous run already applied (a redelivered webhook keeps its id):
        accepted and answered with the current view, not applied again."""
        info = workflow.current_update_info()
        return info is not None and info.id in self._repeats

    def _applied(self) -> bool:
        """Call first in every update handler: True for a repeat, else remember the id."""
        if self._repeat():
            return True
        info = workflow.current_update_info()
        if info is not None:
            self._update_ids.append(info.id)
            del self._update_ids[:-KEPT_UPDATE_IDS]
        return False

    async def _acknowledged(self, policy: ClientPolicy) -> None:
        view = self._view
        await workflow.wait_condition(self._ctx.acknowledged)
        await self._escalation.acknowledge_pages()
        via = view.acknowledged_via
        suffix = f" via {via}" if via and via != "api" else ""
        await self._ctx.comment(f"Acknowledged by {view.acknowledged_by}{suffix}.")
        if self._ctx.patched(STATUS_CADENCE_PATCH):
            # The owner keeps stakeholders informed until the resolution (workflows/cadence.py).
            self._cadence.start(policy)

    async def _resolved(self) -> None:
        await self._cadence.stopped()
        await self._escalation.resolve_pages()
        self._ctx.move_to(IncidentState.RESOLVED)
        await self._ctx.comment(f"Resolved by {self._view.resolved_by}.")

    def _closing_note(self) -> str:
        view = self._view
        waived = (
            f" Reporting stages left open: {view.open_stages_waived}."
            if view.open_stages_waived
            else ""
        )
        return f"Post-incident review done; closed by {view.closed_by}.{waived}"

    async def _obligations(self, policy: ClientPolicy) -> None:
        """People first: once the first responder is paged, the reporting clocks are armed and
        the client is told."""
        report = self._start.report
        if self._staged:
            # Triage may have corrected the severity or type; the rules see the corrected ones.
            report = report.model_copy(
                update={"severity": self._view.severity, "category": self._view.category}
            )
        await self._clocks.start(policy, report)
        if self._ctx.patched(CLIENT_NOTIFICATION_PATCH):
            self._client.start(policy)

    async def _load_policy(self, client: str) -> ClientPolicy:
        return await workflow.execute_activity_method(
            PolicyActivities.load_client_policy,
            client,
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Load the policy of client {client}",
        )

    # --- people's actions -------------------------------------------------------------------

    @workflow.update(description="A responder takes ownership of the incident")
    async def acknowledge(self, action: Action) -> IncidentView:
        """The first acknowledgement stops the escalation; later ones are only recorded.

        Several responders on a chain often press "acknowledge" within seconds of each other
        (the pager and the API, two levels); refusing the slower one would tell them the
        incident is in trouble when it is not.
        """
        if self._applied():
            return self._answer()
        via = f" via {action.channel}"
        if self._view.acknowledged_by is None:
            self._view.acknowledged_by = action.by
            self._view.acknowledged_at = workflow.now()
            self._view.acknowledged_via = action.channel
            detail = f"{action.note or 'Acknowledged'}{via}"
            self._ctx.record("acknowledged", detail, by=action.by)
        else:
            first = self._view.acknowledged_by
            detail = f"{action.note or 'Also acknowledged'}{via} (owner remains {first})"
            self._ctx.record("also_acknowledged", detail, by=action.by)
            await self._ctx.comment(f"Also acknowledged by {action.by}{via}; {first} owns it.")
        return self._answer()

    @acknowledge.validator
    def _validate_acknowledge(self, action: Action) -> None:
        # Validators cannot be async and must not change state; a refusal never enters history.
        if self._repeat():
            return
        self._check_validated()
        if self._view.resolved_by is not None:
            raise ValueError(f"already resolved by {self._view.resolved_by}")

    @workflow.update(description="The incident is resolved; the page and the ticket are closed")
    async def resolve(self, action: Action) -> IncidentView:
        if self._applied():
            return self._answer()
        self._view.resolved_by = action.by
        self._view.resolved_at = workflow.now()
        self._ctx.record("resolved", action.note or "Resolved", by=action.by)
        return self._answer()

    @resolve.validator
    def _validate_resolve(self, action: Action) -> None:
        if self._repeat():
            return
        self._check_validated()
        if self._view.acknowledged_by is None:
            raise ValueError("nobody has acknowledged the incident yet: acknowledge it first")
        if self._view.resolved_by is not None:
            raise ValueError(f"already resolved by {self._view.resolved_by}")
        self._checklist.check_gate(Gate.RESOLVE)

    def _check_validated(self) -> None:
        if self._staged and self._view.validated_by is None:
            raise ValueError(
                "the report has not been validated yet: validate it, or mark it a false alarm, "
                "first"
            )

    def _check_staged(self, action: str) -> None:
        if not self._staged:
            raise ValueError(f"this incident started before Incident Desk tracked {action}")

    @workflow.update(description="An agent confirms the report is a real incident: it is paged")
    async def validate(self, validation: Validation) -> IncidentView:
        if self._applied():
            return self._answer()
        self._triage.validate(validation)
        return self._answer()

    @validate.validator
    def _validate_validate(self, validation: Validation) -> None:
        if self._repeat():
            return
        self._check_staged("validation")
        self._triage.check_open()

    @workflow.update(description="An agent dismisses the report as a false alarm; it closes")
    async def mark_false_alarm(self, alarm: FalseAlarm) -> IncidentView:
        if self._applied():
            return self._answer()
        self._triage.dismiss(alarm)
        return self._answer()

    @mark_false_alarm.validator
    def _validate_mark_false_alarm(self, alarm: FalseAlarm) -> None:
        if self._repeat():
            return
        self._check_staged("false alarms")
        self._triage.check_open()

    @workflow.update(description="The responder contained the incident: the harm stopped spreading")
    async def contain(self, containment: Containment) -> IncidentView:
        if self._applied():
            return self._answer()
        view = self._view
        view.contained_by = containment.by
        view.contained_at = workflow.now()
        view.containment_note = containment.note
        self._ctx.move_to(IncidentState.CONTAINED)
        self._ctx.record(
            "contained",
            f"Contained via {containment.channel}: {containment.note}",
            by=containment.by,
        )
        await self._ctx.comment(f"Contained by {containment.by}: {containment.note}")
        return self._answer()

    @contain.validator
    def _validate_contain(self, containment: Containment) -> None:
        if self._repeat():
            return
        self._check_staged("containment")
        self._check_validated()
        view = self._view
        if view.acknowledged_by is None:
            raise ValueError("nobody has acknowledged the incident yet: acknowledge it first")
        if view.resolved_by is not None:
            raise ValueError(f"already resolved by {view.resolved_by}")
        if view.contained_by is not None:
            raise ValueError(f"already contained by {view.contained_by}")
        self._checklist.check_gate(Gate.CONTAIN)

    @workflow.update(description="The post-incident review is done and the incident closes")
    async def close(self, close: CloseIncident) -> IncidentView:
        if self._applied():
            return self._answer()
        self._review.close(close)
        return self._answer()

    @close.validator
    def _validate_close(self, close: CloseIncident) -> None:
        if self._repeat():
            return
        if not self._staged:
            raise ValueError(
                "this incident started before the review stage: resolving it closes it"
            )
        self._review.check_close(close)
        self._checklist.check_gate(Gate.CLOSE)

    @workflow.update(description="A reporting obligation's stage was carried out, with evidence")
    async def mark_stage_done(self, done: StageDone) -> IncidentView:
        """Stops the stage's timers; the evidence stays with the clock and in the timeline."""
        if self._applied():
            return self._answer()
        await self._clocks.mark_done(done.obligation, done.stage, done.by, done.reference)
        return self._answer()

    @mark_stage_done.validator
    def _validate_mark_stage_done(self, done: StageDone) -> None:
        if self._repeat():
            return
        self._clocks.find_stage(done.obligation, done.stage)

    @workflow.update(description="Facts corrected or added; the reporting clocks are recomputed")
    async def update_facts(self, update: FactsUpdate) -> IncidentView:
        """New obligations are armed, ones that no longer apply cancelled, moved ones re-armed."""
        if self._applied():
            return self._answer()
        await self._clocks.update_facts(update)
        return self._answer()

    @update_facts.validator
    def _validate_update_facts(self, update: FactsUpdate) -> None:
        if self._repeat():
            return
        self._clocks.check_update(update)

    @workflow.update(description="The client acknowledged our notice (signed link, API or Jira)")
    async def client_acknowledged(self, ack: ClientAcknowledgement) -> IncidentView:
        """The first acknowledgement is the evidence and stops the chasing; later ones (a
        colleague, another link) are recorded beside it and change nothing."""
        if self._applied():
            return self._answer()
        await self._client.record_ack(ack)
        return self._answer()

    @client_acknowledged.validator
    def _validate_client_acknowledged(self, ack: ClientAcknowledgement) -> None:
        if self._repeat():
            return
        sent = self._view.client_notification
        if sent is None or not sent.notices:
            raise ValueError("the client has not been notified of this incident yet")
        if ack.channel == "link" and not sent.notified(ack.contact):
            raise ValueError(f"{ack.contact} was not sent a notice for this incident")

    @workflow.update(description="A comment on the Jira ticket, kept in the timeline")
    async def add_comment(self, comment: IncidentComment) -> IncidentView:
        """A stakeholder update restarts the status-update cadence. A client user's comment is
        acknowledged through `client_acknowledged`, which keeps the evidence rules in one place."""
        if self._applied():
            return self._answer()
        if comment.stakeholder_update:
            self._view.last_stakeholder_update_at = workflow.now()
        self._ctx.record(comment.event, comment.body, by=comment.by)
        return self._answer()

    @workflow.update(description="A stakeholder update from the API or CLI; the cadence restarts")
    async def post_update(self, update: StakeholderUpdate) -> IncidentView:
        if self._applied():
            return self._answer()
        await self._cadence.record_update(update)
        return self._answer()

    @post_update.validator
    def _validate_post_update(self, update: StakeholderUpdate) -> None:
        if self._repeat():
            return
        if self._view.state is IncidentState.CLOSED:
            raise ValueError("the incident is closed")

    @workflow.update(description="A later report of this incident, linked as a duplicate")
    async def record_duplicate(self, duplicate: DuplicateReport) -> IncidentView:
        if self._applied():
            return self._answer()
        self._view.duplicates.append(duplicate.ref)
        self._ctx.record("duplicate_report", duplicate.detail(), by=duplicate.by)
        await self._ctx.comment(f"{duplicate.detail()}.")
        return self._answer()

    @record_duplicate.validator
    def _validate_record_duplicate(self, duplicate: DuplicateReport) -> None:
        if self._repeat():
            return
        if duplicate.ref in self._view.duplicates:
            raise ValueError(f"{duplicate.ref} is already recorded as a duplicate")

    @workflow.update(description="A person answers an obligation's open questions: applies or not")
    async def assess_obligation(self, assessment: ObligationAssessment) -> IncidentView:
        """A "yes" runs its stages from the original trigger; a "no" drops it, with the reason."""
        if self._applied():
            return self._answer()
        await self._clocks.answer(assessment)
        return self._answer()

    @assess_obligation.validator
    def _validate_assess_obligation(self, assessment: ObligationAssessment) -> None:
        if self._repeat():
            return
        self._clocks.check_answer(assessment.obligation)

    @workflow.update(description="An agent ticks SOP checklist items, with the reporter's answers")
    async def tick_checklist(self, tick: ChecklistTick) -> IncidentView:
        """Answers that matter to the classification become facts (severity, clocks follow)."""
        if self._applied():
            return self._answer()
        await self._checklist.tick(tick)
        return self._answer()

    @tick_checklist.validator
    def _validate_tick_checklist(self, tick: ChecklistTick) -> None:
        if self._repeat():
            return
        self._checklist.check_tick(tick)

    @workflow.query(description="The incident's current state and timeline")
    def state(self) -> IncidentView:
        return self._view

    def _answer(self) -> IncidentView:
        """What an update answers: the incident with only its latest timeline entries.

        Temporal keeps every update's answer in the history; with the whole timeline in each,
        a long incident's history grew with the square of its activity (a SEV1 lifecycle: over
        half of 1.4 MB, docs/scale.md). Callers that need the whole timeline query `state`, as
        the intake does after every action.
        """
        recent = self._view.timeline[-ANSWER_TIMELINE:]
        return self._view.model_copy(update={"timeline": recent})
