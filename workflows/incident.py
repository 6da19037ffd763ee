"""IncidentWorkflow: one durable workflow per inbound security incident report.

First slice of the lifecycle in DESIGN.md: the report is recorded, a Jira ticket is opened for
the agents, on-call is paged, and the incident waits for a person to take ownership
(acknowledge) and then to resolve it. Every step lands in the timeline and in Jira.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.jira import CommentRequest, JiraActivities, TicketRequest, TransitionRequest
    from activities.paging import PageRequest, PagingActivities
    from activities.policies import PolicyActivities
    from incidents import escalation, notices
    from incidents.escalation import Step
    from incidents.lifecycle import Action, IncidentState, IncidentView, Page, TimelineEntry
    from incidents.policy import ClientPolicy
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
        self._published: dict[SA, str] = {}

    @workflow.run
    async def run(self, start: StartIncident) -> IncidentView:
        self._record("reported", f"Reported by {start.report.channel}")
        policy = await self._load_policy(start.report.client)
        if start.report.severity is None:
            self._view.severity = policy.default_severity
        self._move_to(IncidentState.TRIAGE)

        if start.jira_key:
            self._view.jira_key = start.jira_key
            self._record("jira_ticket_linked", f"Born in Jira as {start.jira_key}")
        else:
            await self._open_ticket()
        if workflow.patched(ESCALATION_CHAIN_PATCH):
            await self._escalate(policy)
        else:
            await self._page_on_call(policy)

        await workflow.wait_condition(self._acknowledged)
        await self._on_acknowledged()

        await workflow.wait_condition(lambda: self._view.resolved_by is not None)
        await self._on_resolved()

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

    async def _escalate(self, policy: ClientPolicy) -> None:
        """Page the chain level by level until someone acknowledges or it runs out.

        Each wait is a durable timer, so a level's deadline holds across worker restarts. A page
        already sent stays open when the next level is paged: whoever on it acts first counts.
        """
        steps = escalation.plan(policy, self._view.severity)
        for step in steps:
            await self._page_step(policy, step)
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
        changed = [
            attribute.key.value_set(value)
            for attribute, value in values.items()
            if self._published.get(attribute) != value
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published.update(values)
        workflow.set_current_details(notices.current_details(self._view))
