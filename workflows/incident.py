"""IncidentWorkflow: one durable workflow per inbound security incident report.

First slice of the lifecycle in DESIGN.md: the report is recorded, a Jira ticket is opened for
the agents, on-call is paged, and the incident waits for a person to take ownership
(acknowledge) and then to resolve it. Every step lands in the timeline and in Jira.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.jira import CommentRequest, JiraActivities, TicketRequest, TransitionRequest
    from activities.notify import NoticeRequest, NotifyActivities
    from activities.obligations import ObligationActivities, ObligationRequest
    from activities.paging import PageRequest, PagingActivities
    from activities.policies import PolicyActivities
    from incidents import clocks, escalation, notices, notification
    from incidents.calendars import reminder_times
    from incidents.classification import facts_from_report
    from incidents.clocks import ClockStatus, FactsUpdate, ObligationClock, StageClock, StageDone
    from incidents.escalation import Step
    from incidents.facts import IncidentFacts
    from incidents.lifecycle import Action, IncidentState, IncidentView, Page, TimelineEntry
    from incidents.notification import (
        ClientAcknowledgement,
        ClientNotification,
        NoticeContent,
        Recipient,
        SentNotice,
    )
    from incidents.policy import ClientPolicy, SecurityContact
    from incidents.report import StartIncident
    from workflows.names import IncidentSearchAttribute as SA

# Effects on outside systems retry with back-off for a bounded time; a permanent 4xx is marked
# non-retryable by the activity and fails fast.
EFFECT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
EFFECT_TIMEOUT = timedelta(seconds=30)
TICKET_DEADLINE = timedelta(minutes=10)
DONE_STATUS = "Done"
# Old runs page once and wait; runs started after this change walk the client's chain.
ESCALATION_CHAIN_PATCH = "escalation-chain"
# Runs started after this change assess their reporting obligations once on-call is paged and
# keep one durable timer per due stage.
REPORTING_CLOCKS_PATCH = "reporting-clocks"
# Runs started after this change email the client's security contacts once the clocks are armed
# and chase their acknowledgement.
CLIENT_NOTIFICATION_PATCH = "client-notification"
# A notice that cannot be sent within this long is reported to people rather than retried on.
NOTICE_DEADLINE = timedelta(hours=1)
NOTIFIER = "incident-desk"


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, start: StartIncident) -> None:
        # Handler state exists before the first update can arrive.
        report = start.report
        self._start = start
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
        self._published: dict[SA, object] = {}
        self._policy: ClientPolicy | None = None
        self._clocks_on = False
        # One task per armed stage, with the due instant it was armed for.
        self._timers: dict[tuple[str, str], tuple[datetime, asyncio.Task[None]]] = {}
        # Assessments run one at a time, so a slow one never overwrites a newer one.
        self._assessing = asyncio.Lock()
        self._notifying: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, start: StartIncident) -> IncidentView:
        self._record("reported", f"Reported by {start.report.channel}")
        policy = await self._load_policy(start.report.client)
        self._policy = policy
        if start.report.severity is None:
            self._view.severity = policy.default_severity
        self._move_to(IncidentState.TRIAGE)

        if start.jira_key:
            self._view.jira_key = start.jira_key
            self._record("jira_ticket_linked", f"Born in Jira as {start.jira_key}")
        else:
            await self._open_ticket()
        if workflow.patched(ESCALATION_CHAIN_PATCH):
            await self._escalate(policy, arm_clocks=workflow.patched(REPORTING_CLOCKS_PATCH))
        else:
            await self._page_on_call(policy)

        await workflow.wait_condition(self._acknowledged)
        await self._on_acknowledged()

        await workflow.wait_condition(lambda: self._view.resolved_by is not None)
        await self._on_resolved()

        self._note_open_clocks()
        self._move_to(IncidentState.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    # --- people's actions -------------------------------------------------------------------

    @workflow.update(description="A responder takes ownership of the incident")
    async def acknowledge(self, action: Action) -> IncidentView:
        """The first acknowledgement stops the escalation; later ones are only recorded.

        Several responders on a chain often press "acknowledge" within seconds of each other
        (the pager and the API, two levels); refusing the slower one would tell them the
        incident is in trouble when it is not.
        """
        via = f" via {action.channel}"
        if self._view.acknowledged_by is None:
            self._view.acknowledged_by = action.by
            self._view.acknowledged_at = workflow.now()
            self._view.acknowledged_via = action.channel
            detail = f"{action.note or 'Acknowledged'}{via}"
            self._record("acknowledged", detail, by=action.by)
        else:
            first = self._view.acknowledged_by
            detail = f"{action.note or 'Also acknowledged'}{via} (owner remains {first})"
            self._record("also_acknowledged", detail, by=action.by)
            await self._comment(f"Also acknowledged by {action.by}{via}; {first} owns it.")
        return self._view

    @acknowledge.validator
    def _validate_acknowledge(self, action: Action) -> None:
        # Validators cannot be async and must not change state; a refusal never enters history.
        if self._view.resolved_by is not None:
            raise ValueError(f"already resolved by {self._view.resolved_by}")

    @workflow.update(description="The incident is resolved; the page and the ticket are closed")
    async def resolve(self, action: Action) -> IncidentView:
        self._view.resolved_by = action.by
        self._view.resolved_at = workflow.now()
        self._record("resolved", action.note or "Resolved", by=action.by)
        return self._view

    @resolve.validator
    def _validate_resolve(self, action: Action) -> None:
        if self._view.acknowledged_by is None:
            raise ValueError("nobody has acknowledged the incident yet: acknowledge it first")
        if self._view.resolved_by is not None:
            raise ValueError(f"already resolved by {self._view.resolved_by}")

    @workflow.update(description="A reporting obligation's stage was carried out, with evidence")
    async def mark_stage_done(self, done: StageDone) -> IncidentView:
        """Stops the stage's timers; the evidence stays with the clock and in the timeline."""
        clock, stage = self._find_stage(done.obligation, done.stage)
        await self._stage_done(clock, stage, done.by, done.reference)
        return self._view

    async def _stage_done(
        self, clock: ObligationClock, stage: StageClock, by: str, reference: str
    ) -> None:
        was_breached = stage.status is ClockStatus.BREACHED
        stage.status = ClockStatus.DONE
        stage.done_at = workflow.now()
        stage.done_by = by
        stage.reference = reference
        self._rearm()
        late = " (after its deadline)" if was_breached else ""
        self._record(
            "obligation_stage_done",
            f"{clock.name} ({stage.stage}) done{late}; reference: {reference}",
            by=by,
        )
        await self._comment(
            f"Reporting obligation done{late}: {clock.name} ({stage.stage}) by {by}, "
            f"reference {reference}."
        )
        if was_breached:
            await self._resolve_page(
                clocks.breach_key(self._view.workflow_id, clock.id, stage.stage),
                f"Resolve the breach alert of {clock.id} ({stage.stage})",
            )

    @mark_stage_done.validator
    def _validate_mark_stage_done(self, done: StageDone) -> None:
        self._find_stage(done.obligation, done.stage)

    @workflow.update(description="Facts corrected or added; the reporting clocks are recomputed")
    async def update_facts(self, update: FactsUpdate) -> IncidentView:
        """New obligations are armed, ones that no longer apply cancelled, moved ones re-armed."""
        async with self._assessing:
            before = self._view.facts
            assert before is not None
            facts = update.apply(before)
            self._view.facts = facts
            changed = ", ".join(_changed_fields(before, facts)) or "nothing"
            reason = f" ({update.reason})" if update.reason else ""
            self._record("facts_updated", f"Facts updated: {changed}{reason}", by=update.by)
            await self._assess()
        return self._view

    @update_facts.validator
    def _validate_update_facts(self, update: FactsUpdate) -> None:
        if not self._clocks_on or self._view.facts is None:
            raise ValueError("this incident has no reporting clocks yet; retry once it is paged")
        if self._view.resolved_by is not None:
            raise ValueError(f"already resolved by {self._view.resolved_by}")
        facts = update.apply(self._view.facts)
        if facts == self._view.facts:
            raise ValueError("the update changes no fact")

    @workflow.update(description="The client acknowledged our notice (signed link, API or Jira)")
    async def client_acknowledged(self, ack: ClientAcknowledgement) -> IncidentView:
        """The first acknowledgement is the evidence and stops the chasing; later ones (a
        colleague, another link) are recorded beside it and change nothing."""
        sent = self._view.client_notification
        assert sent is not None
        ack = ack.model_copy(update={"at": workflow.now()})
        via = f"via {ack.channel}"
        if ack.message_id:
            via += f", message {ack.message_id}"
        if ack.ip:
            via += f", from {ack.ip}"
        if ack.user_agent:
            via += f" ({ack.user_agent})"
        if sent.acknowledgement is not None:
            first = sent.acknowledgement
            self._record(
                "client_also_acknowledged",
                f"Client acknowledgement also from {ack.contact} {via} "
                f"(first: {first.contact} at {_at(first.at)})",
                by=ack.contact,
            )
            return self._view
        sent.acknowledgement = ack
        self._record("client_acknowledged", f"Client acknowledged {via}", by=ack.contact)
        await self._comment(f"Client acknowledgement: {ack.contact} at {_at(ack.at)} {via}.")
        if sent.escalation_key:
            await self._resolve_page(
                sent.escalation_key, "Resolve the client-acknowledgement alert"
            )
        return self._view

    @client_acknowledged.validator
    def _validate_client_acknowledged(self, ack: ClientAcknowledgement) -> None:
        sent = self._view.client_notification
        if sent is None or not sent.notices:
            raise ValueError("the client has not been notified of this incident yet")
        if ack.channel == "link" and not sent.notified(ack.contact):
            raise ValueError(f"{ack.contact} was not sent a notice for this incident")

    @workflow.query(description="The incident's current state and timeline")
    def state(self) -> IncidentView:
        return self._view

    # --- steps ------------------------------------------------------------------------------

    async def _load_policy(self, client: str) -> ClientPolicy:
        return await workflow.execute_activity_method(
            PolicyActivities.load_client_policy,
            client,
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Load the policy of client {client}",
        )

    async def _open_ticket(self) -> None:
        """A Jira outage must not hold back the page: after a bounded wait we page without it."""
        report = self._start.report
        try:
            key = await workflow.execute_activity_method(
                JiraActivities.create_jira_ticket,
                TicketRequest(
                    workflow_id=self._view.workflow_id,
                    summary=f"[{self._view.severity}] {report.summary}",
                    description=notices.jira_description(
                        report, self._view.incident_id, self._view.received_at.isoformat()
                    ),
                    labels=["incident-desk", f"client-{report.client}"],
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                schedule_to_close_timeout=TICKET_DEADLINE,
                retry_policy=EFFECT_RETRY,
                summary="Open the Jira ticket for the agents",
            )
        except ActivityError as err:
            self._record("jira_ticket_failed", f"Jira ticket could not be created: {err.cause}")
            return
        self._view.jira_key = key
        self._record("jira_ticket_created", f"Jira ticket {key} created")

    async def _page_on_call(self, policy: ClientPolicy) -> None:
        self._view.page_dedup_key = self._view.workflow_id
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=self._view.page_dedup_key,
                summary=notices.page_summary(self._view),
                severity=policy.pager.severity_map[self._view.severity],
                custom_details=notices.page_details(self._view),
                workflow_id=self._view.workflow_id,
                jira_key=self._view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Page on-call ({self._view.severity})",
        )
        self._move_to(IncidentState.ESCALATED)
        self._record("paged", f"On-call paged at {self._view.severity}")
        await self._comment("On-call has been paged. Waiting for a responder to acknowledge.")

    async def _escalate(self, policy: ClientPolicy, *, arm_clocks: bool = False) -> None:
        """Page the chain level by level until someone acknowledges or it runs out.

        Each wait is a durable timer, so a level's deadline holds across worker restarts. A page
        already sent stays open when the next level is paged: whoever on it acts first counts.
        """
        steps = escalation.plan(policy, self._view.severity)
        for step in steps:
            await self._page_step(policy, step)
            if arm_clocks and step is steps[0]:
                # People first: the clocks are armed once the first responder has been paged.
                await self._start_clocks(policy)
                if workflow.patched(CLIENT_NOTIFICATION_PATCH):
                    # Its own task: the escalation chain keeps its timers while the client is
                    # told and chased.
                    self._notifying = asyncio.create_task(self._notify_client(policy))
            if self._acknowledged() or step.ack_timeout is None:
                return
            try:
                await workflow.wait_condition(
                    self._acknowledged,
                    timeout=step.ack_timeout,
                    timeout_summary=step.timeout_summary,
                )
                return
            except TimeoutError:
                pass
            # An acknowledgement may land in the same task as the timer; it still wins.
            if self._acknowledged():
                return
            self._record(
                "ack_timeout",
                f"{step.label}: no acknowledgement within "
                f"{escalation.format_duration(step.ack_timeout)}",
            )
        await self._alert_no_responder(policy, steps[-1].rounds)

    async def _page_step(self, policy: ClientPolicy, step: Step) -> None:
        key = escalation.page_key(self._view.workflow_id, step.level, step.round)
        await self._trigger(
            key,
            notices.step_page_summary(self._view, step),
            policy.pager.severity_map[self._view.severity],
            notices.step_page_details(self._view, step),
            summary=f"Page {step.label}"
            if step.targets
            else f"Page on-call ({self._view.severity})",
        )
        self._view.pages.append(
            Page(
                dedup_key=key,
                level=step.level,
                round=step.round,
                targets=list(step.targets),
                paged_at=workflow.now(),
            )
        )
        if self._view.state != IncidentState.ESCALATED:
            self._move_to(IncidentState.ESCALATED)
        if step.targets:
            wait = escalation.format_duration(step.ack_timeout) if step.ack_timeout else "-"
            self._record("paged", f"{step.label} paged at {self._view.severity}")
            await self._comment(
                f"{step.label} paged. Escalating to the next level if nobody acknowledges "
                f"within {wait}."
            )
        else:
            self._record("paged", f"On-call paged at {self._view.severity}")
            await self._comment("On-call has been paged. Waiting for a responder to acknowledge.")

    async def _alert_no_responder(self, policy: ClientPolicy, rounds: int) -> None:
        target = policy.no_responder_target
        key = escalation.no_responder_key(self._view.workflow_id)
        await self._trigger(
            key,
            notices.no_responder_summary(self._view, target, rounds),
            "critical",
            notices.no_responder_details(self._view, target, rounds),
            summary=f"Alert {target}: no responder",
        )
        self._view.pages.append(
            Page(dedup_key=key, level=0, targets=[target], paged_at=workflow.now())
        )
        self._view.no_responder = True
        self._record(
            "no_responder", f"Nobody acknowledged after {rounds} round(s); {target} alerted"
        )
        await self._comment(
            f"No responder: nobody acknowledged after {rounds} round(s) of the escalation "
            f"chain. The operations manager ({target}) has been alerted. Pages stay open; "
            "acknowledge in Incident Desk or on the pager."
        )

    async def _trigger(
        self, key: str, text: str, severity: str, details: dict[str, str], *, summary: str
    ) -> None:
        if self._view.page_dedup_key is None:
            self._view.page_dedup_key = key
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=key,
                summary=text,
                severity=severity,
                custom_details=details,
                workflow_id=self._view.workflow_id,
                jira_key=self._view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=summary,
        )

    def _open_pages(self) -> list[Page]:
        """Old runs kept only `page_dedup_key`; they get a one-page list on the fly."""
        if self._view.pages:
            return [page for page in self._view.pages if page.status != "resolved"]
        if self._view.page_dedup_key is None:
            return []
        return [Page(dedup_key=self._view.page_dedup_key, level=1, paged_at=self._view.received_at)]

    async def _on_acknowledged(self) -> None:
        for page in self._open_pages():
            await workflow.execute_activity_method(
                PagingActivities.acknowledge_page,
                page.dedup_key,
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary="Acknowledge the page"
                if len(self._view.pages) <= 1
                else f"Acknowledge page {page.dedup_key}",
            )
            page.status = "acknowledged"
        self._show_details()
        via = self._view.acknowledged_via
        suffix = f" via {via}" if via and via != "api" else ""
        await self._comment(f"Acknowledged by {self._view.acknowledged_by}{suffix}.")

    async def _on_resolved(self) -> None:
        for page in self._open_pages():
            await workflow.execute_activity_method(
                PagingActivities.resolve_page,
                page.dedup_key,
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary="Resolve the page"
                if len(self._view.pages) <= 1
                else f"Resolve page {page.dedup_key}",
            )
            page.status = "resolved"
            self._show_details()
        self._move_to(IncidentState.RESOLVED)
        await self._comment(f"Resolved by {self._view.resolved_by}.")
        if self._view.jira_key:
            await workflow.execute_activity_method(
                JiraActivities.transition_jira_ticket,
                TransitionRequest(key=self._view.jira_key, status=DONE_STATUS),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Move {self._view.jira_key} to {DONE_STATUS}",
            )

    # --- reporting clocks -------------------------------------------------------------------

    async def _start_clocks(self, policy: ClientPolicy) -> None:
        async with self._assessing:
            self._clocks_on = True
            self._view.facts = facts_from_report(self._start.report, self._view.received_at, policy)
            await self._assess()

    async def _assess(self) -> None:
        """Ask the rules again and bring the clocks and their timers in line with the answer."""
        assert self._policy is not None and self._view.facts is not None
        try:
            report = await workflow.execute_activity_method(
                ObligationActivities.assess_obligations,
                ObligationRequest(facts=self._view.facts, policy=self._policy),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary="Assess reporting obligations and deadlines",
            )
        except ActivityError as err:
            self._record(
                "obligations_unassessed", f"Obligations could not be assessed: {err.cause}"
            )
            await self._comment(
                "Reporting obligations could not be assessed; correct the facts. "
                f"Reason: {err.cause}"
            )
            return
        self._view.aware_at = self._view.facts.aware_at
        alerted = self._breach_alerts()
        self._view.obligations, changes = clocks.clocks_from(
            report, self._view.obligations, workflow.now()
        )
        self._rearm()
        for change in changes:
            self._record(change.event, change.detail)
        self._publish()
        if changes:
            await self._comment(clocks.jira_overview(self._view.obligations, changes))
        # A breach the new facts withdraw (obligation gone, deadline moved later) stops alerting.
        for key in sorted(alerted - self._breach_alerts()):
            await self._resolve_page(key, "Resolve a withdrawn breach alert")

    def _breach_alerts(self) -> set[str]:
        return {
            clocks.breach_key(self._view.workflow_id, c.id, s.stage)
            for c in self._view.obligations
            for s in c.stages
            if s.status is ClockStatus.BREACHED
        }

    def _rearm(self) -> None:
        """Cancel timers whose stage settled or moved, start those missing; keeps the view's
        next deadline in step."""
        wanted = {(c.id, s.stage): s.due_at for c, s in clocks.armed(self._view.obligations)}
        for key, (due, task) in list(self._timers.items()):
            if wanted.get(key) != due:
                task.cancel()
                del self._timers[key]
        for key, due in wanted.items():
            if key not in self._timers and due is not None:
                self._timers[key] = (due, asyncio.create_task(self._watch(key, due)))
        self._view.next_deadline = clocks.next_deadline(self._view.obligations)
        self._view.deadline_breached = clocks.breached(self._view.obligations)

    async def _watch(self, key: tuple[str, str], due: datetime) -> None:
        """Reminders at the policy's offsets, then the breach at the due instant. Cancelled (with
        its timer) when the stage is done or its due instant moves."""
        assert self._policy is not None
        clock, stage = self._clock(*key)
        offsets = list(self._policy.reminders)
        for at in reminder_times(due, offsets, not_before=workflow.now()):
            offset = due - at
            await workflow.sleep(
                at - workflow.now(), summary=clocks.reminder_summary(clock, stage, offset)
            )
            await self._remind(clock, stage, offset)
        remaining = due - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary=clocks.due_summary(clock, stage))
        # From here on nothing cancels the task: a breach alert is sent whole.
        self._timers.pop(key, None)
        await self._breach(clock, stage)

    async def _remind(self, clock: ObligationClock, stage: StageClock, offset: timedelta) -> None:
        label = clocks.offset_label(offset)
        stage.reminders_sent.append(label)
        left = escalation.format_duration(offset)
        self._record(
            "deadline_reminder",
            f"{label}: {clock.name} ({stage.stage}) due at {_at(stage.due_at)}, {left} left",
        )
        await self._comment(
            f"Reminder ({label}): {clock.name} ({stage.stage}), owed by {clock.owed_by}, is due "
            f"at {_at(stage.due_at)}. Mark it done with the filing reference once sent."
        )

    async def _breach(self, clock: ObligationClock, stage: StageClock) -> None:
        assert self._policy is not None
        stage.status = ClockStatus.BREACHED
        stage.breached_at = workflow.now()
        self._rearm()
        target = self._policy.compliance_target
        self._record(
            "deadline_breached",
            f"{clock.name} ({stage.stage}) was due at {_at(stage.due_at)} and is not done; "
            f"{target} alerted",
        )
        try:
            await workflow.execute_activity_method(
                PagingActivities.trigger_page,
                PageRequest(
                    dedup_key=clocks.breach_key(self._view.workflow_id, clock.id, stage.stage),
                    summary=notices.breach_summary(self._view, clock, stage),
                    severity="critical",
                    custom_details=notices.breach_details(self._view, clock, stage, target),
                    workflow_id=self._view.workflow_id,
                    jira_key=self._view.jira_key,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Alert {target}: {clock.id} ({stage.stage}) deadline missed",
            )
        except ActivityError as err:
            self._record("breach_alert_failed", f"Breach alert not sent: {err.cause}")
        await self._comment(
            f"Deadline missed: {clock.name} ({stage.stage}), owed by {clock.owed_by}, was due at "
            f"{_at(stage.due_at)} and has not been marked done. {target} has been alerted."
        )

    # --- client notification ----------------------------------------------------------------

    async def _notify_client(self, policy: ClientPolicy) -> None:
        """Tell the client's security contacts, prove it (the contract stage is done with the
        message ids as its reference), then chase the acknowledgement step by step."""
        contacts = [_recipient(c) for c in policy.contacts]
        if not contacts:
            # Timeline only: the contract clock, if there is one, reminds the agents in Jira.
            self._record(
                "client_not_notified",
                "The client policy names no security contacts: nobody at the client was emailed",
            )
            return
        self._view.client_notification = ClientNotification(recipients=[c.email for c in contacts])
        sent = await self._send_notices(policy, notification.NOTIFICATION, contacts)
        if not sent:
            return
        await self._contract_notified(policy, sent)
        await self._comment(f"Client notified: {notification.contact_label(contacts)}")
        await self._chase_client_ack(policy, contacts)

    async def _send_notices(
        self, policy: ClientPolicy, kind: str, recipients: list[Recipient]
    ) -> list[SentNotice]:
        content = self._notice_content(policy, kind)
        sent: list[SentNotice] = []
        for number, recipient in enumerate(recipients, start=1):
            language = notification.template_language(recipient.language)
            if language != recipient.language.split("-")[0].lower():
                self._record(
                    "notice_language_fallback",
                    f"No {recipient.language} template: {recipient.name} was written to in "
                    f"{language}",
                )
            try:
                notice = await workflow.execute_activity_method(
                    NotifyActivities.send_client_notice,
                    NoticeRequest(
                        workflow_id=self._view.workflow_id,
                        purpose=kind,
                        recipient=recipient,
                        content=content,
                    ),
                    start_to_close_timeout=EFFECT_TIMEOUT,
                    schedule_to_close_timeout=NOTICE_DEADLINE,
                    retry_policy=EFFECT_RETRY,
                    # Summaries are not encrypted by every codec set-up: no address here.
                    summary=f"Email the client's {kind} to contact {number} of {len(recipients)}",
                )
            except ActivityError as err:
                self._record(
                    "client_notice_failed", f"{kind} to {recipient.email} not sent: {err.cause}"
                )
                await self._comment(
                    f"The client {kind} to {recipient.email} could not be sent: {err.cause}. "
                    "Notify them by other means."
                )
                continue
            assert self._view.client_notification is not None
            self._view.client_notification.notices.append(notice)
            sent.append(notice)
        if sent:
            to = ", ".join(f"{n.name} <{n.to}> (message {n.message_id})" for n in sent)
            self._record(f"client_{kind}_sent", f"Client {kind} emailed to {to}", by=NOTIFIER)
        return sent

    def _notice_content(self, policy: ClientPolicy, kind: str) -> NoticeContent:
        facts = self._view.facts
        return NoticeContent(
            kind=kind,
            incident_id=self._view.incident_id,
            client_name=policy.name,
            jira_key=self._view.jira_key,
            severity=str(self._view.severity),
            incident_type=str(facts.incident_type or self._view.category)
            if facts
            else self._view.category,
            aware_at=self._view.aware_at,
            received_at=self._view.received_at,
            jurisdictions=[str(j) for j in facts.jurisdictions] if facts else [],
            data_categories=[str(d) for d in facts.data_categories] if facts else [],
            records_affected=facts.records_affected if facts else None,
            contract_clause=policy.contract.clause if policy.contract else None,
            client_obligations=notification.client_obligations(self._view.obligations),
            timezone=policy.timezone,
            link_expires_at=workflow.now() + policy.client_ack.link_valid_for,
        )

    async def _contract_notified(self, policy: ClientPolicy, sent: list[SentNotice]) -> None:
        """The email is the contract's notice: its stage is done, with the message ids."""
        wanted = notification.contract_obligation_id(policy.id)
        clock = next((c for c in self._view.obligations if c.id == wanted and c.in_force), None)
        stage = clock.stage("notification") if clock else None
        if clock is None or stage is None:
            return
        if stage.status in (ClockStatus.DONE, ClockStatus.CANCELLED):
            return
        await self._stage_done(clock, stage, NOTIFIER, ", ".join(n.message_id for n in sent))

    async def _chase_client_ack(self, policy: ClientPolicy, contacts: list[Recipient]) -> None:
        """Each wait is a durable timer named for what follows it, so the history reads as the
        escalation it is."""
        terms = policy.client_ack
        steps = [
            (terms.remind_after, "reminder to the same contacts"),
            (terms.alternates_after, "alternate contacts"),
            (terms.escalate_after, f"alert {terms.account_manager}"),
        ]
        for number, (wait, then) in enumerate(steps):
            try:
                await workflow.wait_condition(
                    self._client_acked,
                    timeout=wait,
                    timeout_summary=f"Client acknowledgement — {then} after "
                    f"{escalation.format_duration(wait)}",
                )
                return
            except TimeoutError:
                pass
            if self._client_acked():
                return
            self._record(
                "client_ack_timeout",
                f"No acknowledgement from the client within "
                f"{escalation.format_duration(wait)}; next: {then}",
            )
            if number == 0:
                if await self._send_notices(policy, notification.REMINDER, contacts):
                    await self._comment(
                        "Client has not acknowledged; reminder sent to "
                        f"{notification.contact_label(contacts)}"
                    )
            elif number == 1:
                await self._notify_alternates(policy)
            else:
                await self._alert_account_manager(policy)

    async def _notify_alternates(self, policy: ClientPolicy) -> None:
        alternates = [_recipient(c) for c in policy.client_ack.alternate_contacts]
        if not alternates:
            self._record("client_no_alternates", "The client policy names no alternate contacts")
            return
        assert self._view.client_notification is not None
        self._view.client_notification.recipients += [a.email for a in alternates]
        if await self._send_notices(policy, notification.ALTERNATES, alternates):
            await self._comment(
                "Client has still not acknowledged; alternate contacts notified: "
                f"{notification.contact_label(alternates)}"
            )

    async def _alert_account_manager(self, policy: ClientPolicy) -> None:
        target = policy.client_ack.account_manager
        key = notification.ack_key(self._view.workflow_id)
        sent = self._view.client_notification
        assert sent is not None
        notified = ", ".join(sorted({n.to for n in sent.notices}))
        try:
            await workflow.execute_activity_method(
                PagingActivities.trigger_page,
                PageRequest(
                    dedup_key=key,
                    summary=f"{policy.name} has not acknowledged the notice of incident "
                    f"{self._view.incident_id} ({self._view.severity})",
                    severity="warning",
                    custom_details={
                        "incident": self._view.incident_id,
                        "client": self._view.client,
                        "targets": target,
                        "notified": notified,
                    },
                    workflow_id=self._view.workflow_id,
                    jira_key=self._view.jira_key,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Alert {target}: client has not acknowledged",
            )
        except ActivityError as err:
            self._record("client_ack_alert_failed", f"{target} not alerted: {err.cause}")
        else:
            sent.escalated_to = target
            sent.escalation_key = key
            self._record("client_ack_escalated", f"Client has not acknowledged; {target} alerted")
        await self._comment(
            f"The client has not acknowledged the incident notice (sent to {notified}). "
            f"The account manager ({target}) has been alerted to reach them directly."
        )

    def _client_acked(self) -> bool:
        sent = self._view.client_notification
        return sent is not None and sent.acknowledgement is not None

    async def _resolve_page(self, key: str, summary: str) -> None:
        await workflow.execute_activity_method(
            PagingActivities.resolve_page,
            key,
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=summary,
        )

    def _note_open_clocks(self) -> None:
        owed = [
            f"{c.id} ({s.stage})"
            for c in self._view.obligations
            if c.in_force
            for s in c.stages
            if s.status in clocks.OPEN
        ]
        if owed:
            self._record(
                "clocks_open_at_close",
                f"Closed with reporting stages not marked done: {', '.join(owed)}",
            )

    def _clock(self, obligation: str, stage: str) -> tuple[ObligationClock, StageClock]:
        clock = next(c for c in self._view.obligations if c.id == obligation)
        found = clock.stage(stage)
        assert found is not None
        return clock, found

    def _find_stage(self, obligation: str, stage: str) -> tuple[ObligationClock, StageClock]:
        """The stage a person acts on, or the reason they cannot."""
        if not self._clocks_on:
            raise ValueError("this incident has no reporting clocks")
        clock = next((c for c in self._view.obligations if c.id == obligation), None)
        if clock is None:
            known = ", ".join(c.id for c in self._view.obligations) or "none"
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
                f"{_at(found.done_at)}, reference {found.reference}"
            )
        return clock, found

    async def _comment(self, body: str) -> None:
        if not self._view.jira_key:
            return
        await workflow.execute_activity_method(
            JiraActivities.comment_jira_ticket,
            CommentRequest(key=self._view.jira_key, body=body),
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Comment on {self._view.jira_key}",
        )

    # --- bookkeeping ------------------------------------------------------------------------

    def _acknowledged(self) -> bool:
        return self._view.acknowledged_by is not None

    def _record(self, event: str, detail: str, by: str | None = None) -> None:
        self._view.timeline.append(
            TimelineEntry(at=workflow.now(), event=event, detail=detail, by=by)
        )
        self._publish()

    def _move_to(self, state: IncidentState) -> None:
        self._view.state = state
        self._record("state_changed", f"State is now {state}")

    def _publish(self) -> None:
        """Keep the Temporal UI's view (search attributes, current details) in step.

        Search attributes are upserted only when one changed: each upsert is a history event.
        """
        values = {
            SA.STATE: str(self._view.state),
            SA.SEVERITY: str(self._view.severity),
            SA.TYPE: self._view.category,
            SA.CLIENT: self._view.client,
        }
        if self._view.jira_key:
            values[SA.JIRA_KEY] = self._view.jira_key
        if self._clocks_on:
            values[SA.REGIMES] = clocks.regimes(self._view.obligations)
            values[SA.DEADLINE_BREACHED] = self._view.deadline_breached
            values[SA.NEXT_DEADLINE] = self._view.next_deadline
        changed = [
            attribute.key.value_set(value) if value is not None else attribute.key.value_unset()
            for attribute, value in values.items()
            if attribute not in self._published or self._published[attribute] != value
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published.update(values)
        self._show_details()

    def _show_details(self) -> None:
        # Metadata, not a command: refreshing it never changes what replay expects.
        workflow.set_current_details(notices.current_details(self._view))


def _recipient(contact: SecurityContact) -> Recipient:
    return Recipient(name=contact.name, email=contact.email, language=contact.language)


def _at(instant: datetime | None) -> str:
    return instant.isoformat() if instant else "-"


def _changed_fields(before: IncidentFacts, after: IncidentFacts) -> list[str]:
    old, new = dict(before), dict(after)
    return [name for name in new if old.get(name) != new[name]]
