"""The SOP checklist: posted to Jira when the incident is classified, swapped when it is
reclassified, ticked by agents, and chased when required items stay open.

Once the incident is classified a watcher runs beside the lifecycle (it must not hold back the
page: people first). It posts the checklist for the incident's type in the language of the
client's BPO floor, and posts the new type's list whenever the type changes (a Jira edit or an
API correction: `update_facts`), keeping the answers to items both lists share. Answers that
matter to the classification (records affected, data categories, credentials entered...) go
through `update_facts` like a field edit, so severity and reporting clocks follow; an answer
given before the clocks are armed waits for them. A required item still open after the type's
`remind_after` reminds the assignee in Jira, after `lead_after` pages the triage team lead at
low urgency (resolved when the list is done). The gates themselves are checked by the
validators of the steps they hold back (`check_gate`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.checklists import ChecklistActivities, ChecklistRequest
    from activities.paging import PageRequest, PagingActivities
    from incidents import escalation, notices
    from incidents.checklist import ChecklistState, ChecklistTick, fact_update
    from incidents.checklist_render import language_for, render_checklist, render_overdue
    from incidents.lifecycle import IncidentState
    from incidents.policy import ClientPolicy
    from incidents.sop import Gate
    from incidents.taxonomy import IncidentType
    from workflows.clocks import ReportingClocks
    from workflows.context import IncidentContext
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

# Patch ids are recorded in running histories: never rename one (CONTRIBUTING.md).
# Runs started after this change post the SOP checklist at classification and gate on it.
CHECKLIST_PATCH = "sop-checklist"
# Reading local files either works or needs a person to mend one; a few tries are plenty.
LOAD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
LEAD_PAGE_SEVERITY = "info"


class ChecklistCarry(BaseModel):
    """The watcher's own state; the checklist itself is in the view."""

    running: bool = False
    pending: list[str] = Field(default_factory=list)
    unavailable: IncidentType | None = None


class Checklist:
    def __init__(self, ctx: IncidentContext, clocks: ReportingClocks) -> None:
        self._ctx = ctx
        self._clocks = clocks
        # Answered items whose facts wait for the reporting clocks to be armed.
        self._pending: list[str] = []
        self._unavailable: IncidentType | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, policy: ClientPolicy) -> None:
        """Called once the incident is classified; old runs never had a checklist."""
        if not self._ctx.patched(CHECKLIST_PATCH):
            return
        self._task = asyncio.create_task(self._watch(policy))

    def snapshot(self) -> ChecklistCarry:
        return ChecklistCarry(
            running=self._task is not None and not self._task.done(),
            pending=list(self._pending),
            unavailable=self._unavailable,
        )

    def restore(self, carried: ChecklistCarry) -> None:
        self._pending = list(carried.pending)
        self._unavailable = carried.unavailable

    def resume(self, carried: ChecklistCarry, policy: ClientPolicy) -> None:
        """The watcher reads the checklist in the view: it picks up where the last run was."""
        if carried.running:
            self._task = asyncio.create_task(self._watch(policy))

    # --- the watcher ---------------------------------------------------------------------------

    def _wanted(self) -> IncidentType | None:
        view = self._ctx.view
        if view.facts is not None and view.facts.incident_type is not None:
            return view.facts.incident_type
        try:
            return IncidentType(view.category)
        except ValueError:
            return None  # "unclassified": a checklist follows once someone sets the type

    def _ended(self) -> bool:
        view = self._ctx.view
        return view.closed_by is not None or view.state in (
            IncidentState.CLOSED,
            IncidentState.FALSE_ALARM,
        )

    def _snapshot(self) -> tuple[object, ...]:
        state = self._ctx.view.checklist
        return (
            self._ended(),
            self._wanted(),
            state.incident_type if state else None,
            state.complete if state else None,
            bool(self._pending) and self._clocks.on,
        )

    async def _watch(self, policy: ClientPolicy) -> None:
        view = self._ctx.view
        while not self._ended():
            wanted, state = self._wanted(), view.checklist
            if (
                wanted is not None
                and wanted != self._unavailable
                and (state is None or state.incident_type != wanted)
            ):
                with self._ctx.effect():
                    await self._post(policy, wanted)
                continue
            if self._pending and self._clocks.on:
                with self._ctx.effect():
                    await self._apply_pending()
                continue
            before = self._snapshot()
            due, summary, act = self._next_overdue(policy)
            timeout = None if due is None else max(due - workflow.now(), timedelta(0))
            if timeout == timedelta(0) and act is not None:
                with self._ctx.effect():
                    await act()
                continue
            try:
                await workflow.wait_condition(
                    lambda b=before: self._snapshot() != b, timeout=timeout, timeout_summary=summary
                )
            except TimeoutError:
                if act is not None and self._snapshot() == before:
                    with self._ctx.effect():
                        await act()

    def _next_overdue(self, policy: ClientPolicy):  # type: ignore[no-untyped-def]
        state = self._ctx.view.checklist
        if state is None or state.complete:
            return None, None, None
        open_ids = ", ".join(i.id for i in state.open_required)
        if state.reminded_at is None:
            limit = escalation.format_duration(state.remind_after)
            return (
                state.posted_at + state.remind_after,
                f"SOP checklist items open after {limit}: remind the assignee ({open_ids})",
                lambda: self._remind(state),
            )
        if state.lead_paged_at is None:
            limit = escalation.format_duration(state.lead_after)
            return (
                state.posted_at + state.lead_after,
                f"SOP checklist items open after {limit}: page {policy.triage.team_lead}",
                lambda: self._page_lead(policy, state),
            )
        return None, None, None

    async def _post(self, policy: ClientPolicy, incident_type: IncidentType) -> None:
        view = self._ctx.view
        request = ChecklistRequest(
            incident_type=incident_type,
            language=language_for(policy.sites),
            client=policy.id,
            override=policy.sop_overrides.get(incident_type),
        )
        try:
            resolved = await workflow.execute_activity_method(
                ChecklistActivities.load_sop_checklist,
                request,
                start_to_close_timeout=EFFECT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=LOAD_RETRY,
                summary=f"Load the {incident_type.value} SOP checklist ({request.language.value})",
            )
        except ActivityError as exc:
            self._unavailable = incident_type
            cause = getattr(exc.cause, "message", None) or str(exc)
            self._ctx.record("checklist_unavailable", f"No {incident_type.value} SOP: {cause}")
            await self._ctx.comment(
                f"The {incident_type.value} SOP checklist could not be loaded; work from the "
                "SOP binder and tell operations (policies/sops needs mending)."
            )
            return
        now, old = workflow.now(), view.checklist
        if old is None:
            state, kept = ChecklistState.posted(resolved, now), []
            self._ctx.view.checklist = state
            self._ctx.record(
                "checklist_posted",
                f"SOP checklist {incident_type.value} ({state.language.value}) posted: "
                f"{len(state.required)} required items",
            )
        else:
            state, kept = old.swapped(resolved, now)
            self._ctx.view.checklist = state
            self._ctx.record(
                "checklist_swapped",
                f"Reclassified {old.incident_type.value} → {incident_type.value}: checklist "
                f"replaced; answers kept: {', '.join(kept) or 'none'}",
            )
        await self._ctx.comment(
            render_checklist(state, swapped_from=old.title if old else None, kept=kept)
        )
        if old is not None and old.lead_paged_at is not None and old.completed_at is None:
            await self._resolve_lead_page()

    async def _remind(self, state: ChecklistState) -> None:
        state.reminded_at = workflow.now()
        late = escalation.format_duration(state.remind_after)
        ids = ", ".join(i.id for i in state.open_required)
        self._ctx.record("checklist_overdue", f"Required items open after {late}: {ids}")
        await self._ctx.comment(render_overdue(state, late))

    async def _page_lead(self, policy: ClientPolicy, state: ChecklistState) -> None:
        view, terms = self._ctx.view, policy.triage
        late = escalation.format_duration(state.lead_after)
        ids = ", ".join(i.id for i in state.open_required)
        await workflow.execute_activity_method(
            PagingActivities.trigger_page,
            PageRequest(
                dedup_key=checklist_key(view.workflow_id),
                summary=f"[{view.severity}] SOP checklist overdue ({late}): incident "
                f"{view.incident_id} ({view.client})",
                severity=LEAD_PAGE_SEVERITY,
                custom_details=notices.page_details(view)
                | {"alert": "checklist_overdue", "targets": terms.team_lead, "open_items": ids},
                workflow_id=view.workflow_id,
                jira_key=view.jira_key,
            ),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Page {terms.team_lead}: SOP checklist overdue ({late})",
        )
        state.lead_paged_at = workflow.now()
        self._ctx.record(
            "checklist_lead_paged", f"Required items open after {late}: {ids}; team lead paged"
        )
        await self._ctx.comment(render_overdue(state, late, lead=terms.mention()))

    async def _resolve_lead_page(self) -> None:
        await self._ctx.resolve_page(
            checklist_key(self._ctx.view.workflow_id), "Resolve the team lead's checklist page"
        )

    async def _apply_pending(self) -> None:
        state = self._ctx.view.checklist
        ids, self._pending = self._pending, []
        for item_id in ids:
            item = state.item(item_id) if state else None
            if item is not None:
                await self._answer_to_facts(item.id, item.done_by or "agent")

    async def _answer_to_facts(self, item_id: str, by: str) -> None:
        view = self._ctx.view
        item = view.checklist.item(item_id) if view.checklist else None
        if item is None or view.resolved_by is not None:
            return
        update = fact_update(item, by, view.facts, str(view.severity))
        if update is not None:
            await self._clocks.update_facts(update)

    # --- people's actions (the update handler and validators call these) -------------------

    def check_gate(self, gate: Gate) -> None:
        state = self._ctx.view.checklist
        if state is not None:
            state.check_gate(gate)

    def check_tick(self, tick: ChecklistTick) -> None:
        state = self._ctx.view.checklist
        if state is None:
            raise ValueError(
                "this incident has no SOP checklist yet: it is posted once the incident is "
                "classified (validated, with a type)"
            )
        if self._ended():
            raise ValueError(f"the incident is {self._ctx.view.state}")
        state.check_tick(tick)

    async def tick(self, tick: ChecklistTick) -> None:
        view = self._ctx.view
        state = view.checklist
        assert state is not None
        was_complete = state.completed_at is not None
        changed = state.apply(tick, workflow.now())
        for item in changed:
            answer = f": {item.answer}" if item.answer else ""
            self._ctx.record(
                "checklist_item_done", f"{item.id} done via {tick.channel}{answer}", by=tick.by
            )
        if tick.channel != "jira":
            # A tick in Jira is the agent's own comment; one from elsewhere is shown there.
            shown = "; ".join(f"{i.id}{': ' + i.answer if i.answer else ''}" for i in changed)
            await self._ctx.comment(f"Checklist: {shown} — done by {tick.by} via {tick.channel}.")
        for item in changed:
            if item.fact is None:
                continue
            if self._clocks.on:
                await self._answer_to_facts(item.id, tick.by)
            elif item.id not in self._pending:
                self._pending.append(item.id)
        if not was_complete and state.completed_at is not None:
            took = escalation.format_duration(state.completed_at - state.first_posted_at)
            self._ctx.record("checklist_complete", f"Every required item done ({took})")
            await self._ctx.comment(f"SOP checklist complete: every required item done ({took}).")
            if state.lead_paged_at is not None:
                await self._resolve_lead_page()


def checklist_key(workflow_id: str) -> str:
    """The dedup key of the team lead's checklist page: one per incident."""
    return f"{workflow_id}-checklist"
