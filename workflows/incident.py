"""IncidentWorkflow: one durable workflow per inbound security incident report.

The lifecycle in DESIGN.md: the report is recorded, a Jira ticket is opened for the agents,
on-call is paged down the client's escalation chain, the reporting clocks are armed and the client
is told, and the incident waits for a person to take ownership (acknowledge) and then to resolve
it. Every step lands in the timeline and in Jira.

This module holds the lifecycle and the actions people take on it (updates, validated); the
mechanics of each concern live in the helpers the workflow owns: `Escalation` (escalation.py),
`ReportingClocks` (clocks.py), `ClientNotice` (client_notice.py) and `JiraTicket` (ticket.py),
all sharing one `IncidentContext` (context.py).
"""

from __future__ import annotations

from functools import partial

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.policies import PolicyActivities
    from incidents.clocks import FactsUpdate, StageDone
    from incidents.lifecycle import Action, IncidentState, IncidentView
    from incidents.notification import ClientAcknowledgement
    from incidents.policy import ClientPolicy
    from incidents.report import StartIncident
    from workflows.client_notice import ClientNotice
    from workflows.clocks import ReportingClocks
    from workflows.context import IncidentContext
    from workflows.escalation import Escalation
    from workflows.options import (
        CLIENT_NOTIFICATION_PATCH,
        EFFECT_RETRY,
        EFFECT_TIMEOUT,
        ESCALATION_CHAIN_PATCH,
        REPORTING_CLOCKS_PATCH,
    )
    from workflows.ticket import JiraTicket


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
        self._ctx = IncidentContext(self._view)
        self._ticket = JiraTicket(self._ctx)
        self._escalation = Escalation(self._ctx)
        self._clocks = ReportingClocks(self._ctx)
        self._client = ClientNotice(self._ctx, self._clocks)

    @workflow.run
    async def run(self, start: StartIncident) -> IncidentView:
        ctx, view = self._ctx, self._view
        ctx.record("reported", f"Reported by {start.report.channel}")
        policy = await self._load_policy(start.report.client)
        if start.report.severity is None:
            view.severity = policy.default_severity
        ctx.move_to(IncidentState.TRIAGE)

        if start.jira_key:
            self._ticket.link(start.jira_key)
        else:
            await self._ticket.open(start.report)
        if workflow.patched(ESCALATION_CHAIN_PATCH):
            arm = workflow.patched(REPORTING_CLOCKS_PATCH)
            await self._escalation.escalate(
                policy, after_first_page=partial(self._obligations, policy) if arm else None
            )
        else:
            await self._escalation.page_on_call(policy)

        await workflow.wait_condition(ctx.acknowledged)
        await self._escalation.acknowledge_pages()
        via = view.acknowledged_via
        suffix = f" via {via}" if via and via != "api" else ""
        await ctx.comment(f"Acknowledged by {view.acknowledged_by}{suffix}.")

        await workflow.wait_condition(lambda: view.resolved_by is not None)
        await self._escalation.resolve_pages()
        ctx.move_to(IncidentState.RESOLVED)
        await ctx.comment(f"Resolved by {view.resolved_by}.")
        await self._ticket.close()

        self._clocks.note_open()
        ctx.move_to(IncidentState.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return view

    async def _obligations(self, policy: ClientPolicy) -> None:
        """People first: once the first responder is paged, the reporting clocks are armed and
        the client is told."""
        await self._clocks.start(policy, self._start.report)
        if workflow.patched(CLIENT_NOTIFICATION_PATCH):
            self._client.start(policy)

    async def _load_policy(self, client: str) -> ClientPolicy:
        return await workflow.execute_activity_method(
            PolicyActivities.load_client_policy,
            client,
            start_to_close_timeout=EFFECT_TIMEOUT,
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
        self._ctx.record("resolved", action.note or "Resolved", by=action.by)
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
        await self._clocks.mark_done(done.obligation, done.stage, done.by, done.reference)
        return self._view

    @mark_stage_done.validator
    def _validate_mark_stage_done(self, done: StageDone) -> None:
        self._clocks.find_stage(done.obligation, done.stage)

    @workflow.update(description="Facts corrected or added; the reporting clocks are recomputed")
    async def update_facts(self, update: FactsUpdate) -> IncidentView:
        """New obligations are armed, ones that no longer apply cancelled, moved ones re-armed."""
        await self._clocks.update_facts(update)
        return self._view

    @update_facts.validator
    def _validate_update_facts(self, update: FactsUpdate) -> None:
        if not self._clocks.on or self._view.facts is None:
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
        await self._client.record_ack(ack)
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
