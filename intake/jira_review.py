"""A review sub-task moved to Done in Jira closes its incident with the answers written in it.

The sub-task (integrations/jira_review.py) carries the `incident-desk-review` label, so its
webhooks are recognised from the payload alone. Only a move to a close status (the same
statuses that close an incident from its own issue) acts. The sub-task is read fresh from Jira,
since a webhook's copy of the description may be trimmed and holds no comments, and its answers
(incidents/review_form.py) become the ordinary `close` update: the workflow's rules for closing
hold unchanged, open reporting stages included. Whatever stops the close (answers missing, a
stage open) is explained in a comment on the sub-task, once per change, and the incident stays
in REVIEW.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fastapi import HTTPException
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from incidents.lifecycle import CloseIncident
from incidents.review_form import read_review
from intake.jira_payloads import ChangelogItem, JiraIssue, JiraWebhookEvent
from intake.jira_transitions import TransitionMap, already
from integrations.jira import JiraRequestError
from integrations.jira_review import REVIEW_LABEL, ReviewSubtask, read_review_subtask
from workflows.incident import IncidentWorkflow

if TYPE_CHECKING:
    from intake.jira_webhooks import JiraWebhooks, WebhookOutcome

log = logging.getLogger("incident_desk.intake.jira")

BY_MAX = 200


def is_review(issue: JiraIssue) -> bool:
    return REVIEW_LABEL in issue.labels


class ReviewSubtasks:
    def __init__(self, hooks: JiraWebhooks) -> None:
        self.hooks = hooks

    def _outcome(
        self, outcome: str, detail: str, key: str, workflow_id: str | None = None
    ) -> WebhookOutcome:
        from intake.jira_webhooks import WebhookOutcome

        return WebhookOutcome(
            outcome=outcome, detail=detail, issue_key=key, workflow_id=workflow_id
        )  # type: ignore[arg-type]

    async def updated(self, event: JiraWebhookEvent, issue: JiraIssue, ref: str) -> WebhookOutcome:
        change = event.changelog.find("status") if event.changelog else None
        if change is None:
            return self._outcome(
                "ignored", "review sub-task: only moving it to Done closes the incident", issue.key
            )
        target = (change.to_string or "").strip()
        if TransitionMap.from_settings(self.hooks.settings).verb_for(target) != "close":
            return self._outcome(
                "ignored", f"review sub-task moved to '{target}', not a close status", issue.key
            )
        if await self.hooks._is_self(event.user):
            return self._outcome("ignored", "Incident Desk's own change", issue.key)
        subtask = await self._read(issue.key)
        parent = subtask.parent_key
        # The sub-task's property names its incident; else its parent's, on this same site.
        if subtask.workflow_id:
            await self.hooks.owned_here(subtask.workflow_id, subtask.key)
        workflow_id = subtask.workflow_id or (
            self.hooks.site.workflow_id(parent) if parent else None
        )
        if workflow_id is None:
            return self._outcome(
                "ignored", f"review sub-task {issue.key} names no incident", issue.key
            )
        who = (event.user.label if event.user else "a Jira user")[:BY_MAX]
        found = read_review(subtask.description, subtask.comments)
        if found.answers is None:
            missing = ", ".join(found.missing)
            return await self._refused(
                subtask,
                workflow_id,
                f"the review has no answer for: {missing}",
                "Write each answer under its heading (h3. Root cause, h3. What went well, "
                "h3. What to improve, h3. Training needs) in the description or in a comment, "
                "then move this sub-task out of Done and back to Done.",
                change,
                who,
                ref,
            )
        close = CloseIncident(
            by=who,
            review=found.answers,
            summary=f"Post-incident review recorded in Jira sub-task {subtask.key}",
            channel="jira",
        )
        return await self._close(subtask, workflow_id, close, change, who, ref)

    async def _read(self, key: str) -> ReviewSubtask:
        try:
            return await asyncio.to_thread(read_review_subtask, self.hooks.gateway(), key)
        except JiraRequestError as exc:
            # Nothing was done yet: Jira's redelivery (or the agent's next move) tries again.
            raise HTTPException(
                503, f"could not read review sub-task {key} ({exc}); retry"
            ) from exc

    async def _close(
        self,
        subtask: ReviewSubtask,
        workflow_id: str,
        close: CloseIncident,
        change: ChangelogItem,
        who: str,
        ref: str,
    ) -> WebhookOutcome:
        hooks = self.hooks
        handle = await hooks.handle(workflow_id)
        try:
            await asyncio.wait_for(
                handle.execute_update(IncidentWorkflow.close, close, id=ref), hooks.update_timeout
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise HTTPException(
                503,
                f"incident {workflow_id} did not answer within {hooks.update_timeout:g} s "
                "(is a worker running?); retry",
            ) from exc
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause)
            return await self._refused(
                subtask,
                workflow_id,
                reason,
                "Mark the open reporting stages done with their references (or close through "
                "Incident Desk with a reason to waive them), then move this sub-task out of "
                "Done and back.",
                change,
                who,
                ref,
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return self._outcome(
                    "unchanged", f"no running incident {workflow_id}", subtask.key, workflow_id
                )
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc
        return self._outcome(
            "closed",
            f"{who} moved review sub-task {subtask.key} to Done: the incident is closed",
            subtask.key,
            workflow_id,
        )

    async def _refused(
        self,
        subtask: ReviewSubtask,
        workflow_id: str,
        reason: str,
        next_step: str,
        change: ChangelogItem,
        who: str,
        ref: str,
    ) -> WebhookOutcome:
        view = await self.hooks._view(workflow_id)
        if view is not None and already(view, "close"):
            return self._outcome(
                "unchanged", f"the incident is already {view.state}", subtask.key, workflow_id
            )
        state = f"is still {view.state}" if view is not None else "has not changed"
        await self.hooks._comment_once(
            subtask.key,
            f"Incident Desk did not close the incident: {reason}.\n"
            f'{who} moved {subtask.key} from "{change.from_string}" to "{change.to_string}", '
            f"but the incident {state}. {next_step}",
            ref,
        )
        return self._outcome("refused", f"close refused: {reason}", subtask.key, workflow_id)
