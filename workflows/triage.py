"""Triage: a report is not an incident until an agent says so.

After intake the incident waits in TRIAGE for an agent to validate the report (it goes on to be
paged) or to dismiss it as a false alarm (nobody is paged, no reporting clock runs). A report the
filer already validated, or one from a channel the client trusts, skips the wait. The client's
triage SLA is one durable timer: when it runs out the team lead is paged, once and at a lower
urgency, and mentioned in Jira, and the wait goes on; the page is resolved when triage ends.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.paging import PageRequest, PagingActivities
    from incidents import escalation, notices
    from incidents.lifecycle import FalseAlarm, IncidentState, Validation
    from incidents.policy import ClientPolicy
    from incidents.report import IncidentReport
    from workflows.context import IncidentContext, at
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT


class Triage:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        # Set when an agent corrected the severity: the policy's default must not override it.
        self.severity_corrected = False

    def vouched(self, report: IncidentReport, received_at: datetime) -> None:
        """A report validated on filing is validated from the first instant, before any update
        can ask (the timeline entry follows once the run starts)."""
        if report.validation is not None:
            view = self._ctx.view
            view.validated_by = report.validation.by
            view.validation_note = report.validation.note
            view.triaged_at = received_at

    def decided(self) -> bool:
        return self._ctx.view.triaged_at is not None

    def validated(self) -> bool:
        return self._ctx.view.validated_by is not None

    async def run(self, policy: ClientPolicy, report: IncidentReport) -> bool:
        """Wait for the agents' verdict; True when the report is a real incident."""
        view = self._ctx.view
        terms = policy.triage
        if report.validation is not None:
            note = report.validation.note
            self._ctx.record(
                "validated",
                f"Validated on filing{': ' + note if note else ''}",
                by=view.validated_by,
            )
        elif not self.decided() and report.channel in terms.auto_validated_channels:
            self._validated(
                f"policy:{policy.id}",
                f"{report.channel} reports are validated on arrival (client policy)",
                "automatically",
            )
        if not self.decided():
            sla = terms.sla_for(view.severity)
            view.triage_due_at = workflow.now() + sla
            self._ctx.record(
                "triage_waiting",
                f"Waiting for an agent to validate the report or mark it a false alarm; "
                f"triage SLA {escalation.format_duration(sla)} ({view.severity}), "
                f"due at {at(view.triage_due_at)}",
            )
            await self._ctx.comment(
                f"New report awaiting triage ({view.severity}). Validate it, or mark it a false "
                f"alarm with the reason, by {at(view.triage_due_at)}; after that the team lead "
                "is paged."
            )
            try:
                await workflow.wait_condition(
                    self.decided,
                    timeout=sla,
                    timeout_summary=f"Triage SLA ({view.severity}, "
                    f"{escalation.format_duration(sla)}): page {terms.team_lead} if untriaged",
                )
            except TimeoutError:
                # A verdict may land in the same task as the timer; it still wins.
                if not self.decided():
                    await self._escalate(policy)
                    await workflow.wait_condition(self.decided)
        if view.triage_escalated_at is not None:
            await self._ctx.resolve_page(
                triage_key(view.workflow_id), "Resolve the team lead's triage page"
            )
        if not self.validated():
            self._ctx.move_to(IncidentState.FALSE_ALARM)
            await self._ctx.comment(
                f"Closed as a false alarm by {view.false_alarm_by}: {view.false_alarm_reason}. "
                "Nobody was paged and no reporting clock was started."
            )
            return False
        self._ctx.move_to(IncidentState.VALIDATED)
        note = f": {view.validation_note}" if view.validation_note else ""
        await self._ctx.comment(f"Validated by {view.validated_by}{note}.")
        self._ctx.move_to(IncidentState.CLASSIFIED)
        self._ctx.record("classified", f"Classified as {view.severity}, type {view.category}")
        return True

    # --- agents' verdicts (update handlers call these; validators call `check_open`) ---------

    def check_open(self) -> None:
        view = self._ctx.view
        if view.validated_by is not None:
            raise ValueError(f"the report was already validated by {view.validated_by}")
        if view.false_alarm_by is not None:
            raise ValueError(
                f"the report was already marked a false alarm by {view.false_alarm_by}"
            )

    def validate(self, validation: Validation) -> None:
        view = self._ctx.view
        corrected = []
        if validation.severity is not None and validation.severity != view.severity:
            corrected.append(f"severity {view.severity} → {validation.severity}")
            self.severity_corrected = True
            view.severity = validation.severity
        if validation.category is not None and validation.category != view.category:
            corrected.append(f"type {view.category} → {validation.category}")
            view.category = str(validation.category)
        note = validation.note
        if corrected:
            note = f"{note + '; ' if note else ''}corrected {', '.join(corrected)}"
        self._validated(validation.by, note, f"via {validation.channel}")

    def dismiss(self, alarm: FalseAlarm) -> None:
        view = self._ctx.view
        view.false_alarm_by = alarm.by
        view.false_alarm_reason = alarm.reason
        view.triaged_at = workflow.now()
        self._ctx.record(
            "false_alarm", f"Marked a false alarm via {alarm.channel}: {alarm.reason}", by=alarm.by
        )

    def _validated(self, by: str, note: str | None, how: str) -> None:
        view = self._ctx.view
        view.validated_by = by
        view.validation_note = note
        view.triaged_at = workflow.now()
        self._ctx.record("validated", f"Validated {how}{': ' + note if note else ''}", by=by)

    async def _escalate(self, policy: ClientPolicy) -> None:
        view = self._ctx.view
        terms = policy.triage
        key = triage_key(view.workflow_id)
        late = escalation.format_duration(terms.sla_for(view.severity))
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=key,
                summary=f"[{view.severity}] Report not triaged within {late}: incident "
                f"{view.incident_id} ({view.client})",
                severity=terms.page_severity,
                custom_details=notices.page_details(view)
                | {"alert": "triage_sla", "targets": terms.team_lead, "triage_sla": late},
                workflow_id=view.workflow_id,
                jira_key=view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Page {terms.team_lead}: triage SLA ({late}) missed",
        )
        view.triage_escalated_at = workflow.now()
        self._ctx.record(
            "triage_sla_missed",
            f"Not triaged within the {late} SLA for {view.severity}; {terms.team_lead} paged",
        )
        await self._ctx.comment(
            f"Triage SLA missed: this {view.severity} report was due to be validated or "
            f"dismissed by {at(view.triage_due_at)}. {terms.mention()}, please have it "
            "validated or marked a false alarm. The team lead has been paged."
        )


def triage_key(workflow_id: str) -> str:
    """The dedup key of the team lead's triage page: one per incident."""
    return f"{workflow_id}-triage"
