"""What agents write in Jira besides status moves: field edits, comments, duplicate issues.

`JiraWebhooks` (jira_webhooks.py) authenticates and routes a delivery; the three kinds of event
here turn into updates of the incident:

* an edit of a field that matters → `update_facts` (the clocks re-arm), update id = the
  changelog id; a value Incident Desk cannot read is explained in a comment and changes nothing;
* a comment → `add_comment` (timeline, with its author), update id = the comment id, so the
  `comment_created` and `jira:issue_updated` deliveries of one comment count once; a comment by
  one of the client's Jira users (policy `jira_users:`) also acknowledges (`client_acknowledged`,
  channel `jira`);
* a comment of ticks (`done <item>: <answer>`, one per line) → `tick_checklist` on the SOP
  checklist; a refusal (unknown item, unreadable answer) is explained in a comment;
* a new issue for an open incident (same reporter contact or external reference, the fields
  named in `JIRA_FIELDS`) → linked as "Duplicate" and `record_duplicate` on the original, and
  no second incident.

Comments Incident Desk posts itself come back as webhooks too; they are recognised by their
author being Incident Desk's Jira account, like its other changes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from incidents.assessments import CommentFormError, ObligationAssessment, parse_comment
from incidents.checklist import ChecklistTick, TickFormError, parse_done_comment
from incidents.comments import IncidentComment, clip, is_stakeholder_update
from incidents.duplicates import DuplicateReport
from incidents.lifecycle import IncidentView
from incidents.notification import ClientAcknowledgement
from incidents.report import IncidentReport
from intake import duplicates
from intake.jira_edits import EditProblem, edited_fields, facts_update
from intake.jira_payloads import ChangelogItem, JiraIssue, JiraWebhookEvent, plain_text
from intake.queries import query_state
from integrations.jira import JiraRequestError
from integrations.jira_writeback import link_duplicate
from workflows.incident import IncidentWorkflow

if TYPE_CHECKING:
    from intake.jira_webhooks import JiraWebhooks, WebhookOutcome

log = logging.getLogger("incident_desk.intake.jira")

# Comments Incident Desk's intake posts carry this; never read back as agents' comments.
OWN_MARKER = "[Incident Desk ref "


class Refused(Exception):
    """The workflow's validator refused the update; `reason` is its message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Gone(Exception):
    """No running incident: never started, or closed (`closed`)."""

    def __init__(self, closed: bool) -> None:
        super().__init__("closed" if closed else "not found")
        self.closed = closed


class JiraInbound:
    def __init__(self, hooks: JiraWebhooks) -> None:
        self.hooks = hooks
        self.settings = hooks.settings

    # -- plumbing --------------------------------------------------------------------------------

    def _outcome(self, outcome: str, detail: str, issue: str | None, wf: str | None = None) -> Any:
        from intake.jira_webhooks import WebhookOutcome

        return WebhookOutcome(outcome=outcome, detail=detail, issue_key=issue, workflow_id=wf)  # type: ignore[arg-type]

    async def _update(
        self, workflow_id: str, update: Any, arg: Any, update_id: str, client: str | None = None
    ) -> IncidentView:
        """Run an update, mapping Temporal's answers: Refused, Gone, or 503 (Jira retries).
        `client`, when known, picks the namespace of that client's incidents."""
        intake = self.hooks.intake
        handle = await self.hooks.handle(workflow_id, client)
        timeout = self.hooks.update_timeout
        try:
            return await asyncio.wait_for(handle.execute_update(update, arg, id=update_id), timeout)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise HTTPException(
                503,
                f"incident {workflow_id} did not answer within {timeout:g} s "
                "(is a worker running?); retry",
            ) from exc
        except WorkflowUpdateFailedError as exc:
            raise Refused(getattr(exc.cause, "message", None) or str(exc.cause)) from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise Gone(await intake.is_closed(handle)) from exc
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc

    def _gone(self, exc: Gone, issue: str, workflow_id: str) -> WebhookOutcome:
        if exc.closed:
            return self._outcome(
                "unchanged", f"incident {workflow_id} is closed", issue, workflow_id
            )
        return self._outcome("ignored", f"no incident workflow {workflow_id} for {issue}", issue)

    # -- field edits -----------------------------------------------------------------------------

    def edits(self, event: JiraWebhookEvent) -> dict[str, tuple[str, ChangelogItem]]:
        """The changes of fields that matter. Changelog items name a field by its display name,
        the name `JIRA_FIELDS` holds, so routing a delivery costs no Jira call."""
        return edited_fields(event.changelog, self.settings.jira_fields)

    async def fields_edited(
        self,
        event: JiraWebhookEvent,
        issue: JiraIssue,
        edits: dict[str, tuple[str, ChangelogItem]],
        ref: str,
    ) -> WebhookOutcome:
        hooks = self.hooks
        if await hooks._is_self(event.user):
            return self._outcome("ignored", "Incident Desk's own change", issue.key)
        who = (event.user.label if event.user else "a Jira user")[:200]
        shown = ", ".join(f'"{name}" to "{item.to_string or ""}"' for name, item in edits.values())
        try:
            update = facts_update(edits, by=who, reason=f"{who} set {shown} on {issue.key}")
        except EditProblem as exc:
            await hooks._comment_once(
                issue.key,
                f"Incident Desk did not take this edit: {exc}.\n"
                "The incident keeps its previous facts; correct the field in Jira.",
                ref,
            )
            return self._outcome("refused", f"edit refused: {exc}", issue.key)
        workflow_id = await hooks._workflow_for(issue)
        try:
            await self._update(workflow_id, IncidentWorkflow.update_facts, update, ref)
        except Refused as exc:
            await hooks._comment_once(
                issue.key,
                f"Incident Desk did not take this edit: {exc.reason}.\n"
                f"{who} set {shown}, but the incident's facts did not change.",
                ref,
            )
            return self._outcome("refused", f"edit refused: {exc.reason}", issue.key, workflow_id)
        except Gone as exc:
            return self._gone(exc, issue.key, workflow_id)
        return self._outcome(
            "updated", f"{who} set {shown}; clocks recomputed", issue.key, workflow_id
        )

    # -- comments --------------------------------------------------------------------------------

    async def commented(self, event: JiraWebhookEvent) -> WebhookOutcome:
        hooks, comment, issue = self.hooks, event.comment, event.issue
        key = issue.key if issue else None
        if comment is None or not comment.id:
            return self._outcome("ignored", "a comment event without a comment id", key)
        if event.webhook_event != "comment_created" and event.issue_event_type_name not in (
            "issue_commented",
            None,
        ):
            return self._outcome("ignored", "only new comments go into the timeline", key)
        if issue is None:
            return self._outcome("ignored", "a comment event without its issue", None)
        if issue.fields.project is not None and not hooks._in_scope(issue):
            return self._outcome("ignored", f"{issue.key} is not an incident issue", key)
        body = plain_text(comment.body).strip()
        if not body or OWN_MARKER in body:
            return self._outcome("ignored", "an empty comment or Incident Desk's own", key)
        author = comment.author
        if await hooks._is_self(author):
            return self._outcome("ignored", "Incident Desk's own comment", key)
        who = (author.label if author else "a Jira user")[:200]
        workflow_id = await hooks._workflow_for(issue)
        view = await self._state(workflow_id)
        if view is None:
            return self._outcome("ignored", f"no running incident {workflow_id}", key)
        try:
            answer = parse_comment(body)
        except CommentFormError as exc:
            return await self._assessment_refused(issue.key, workflow_id, comment.id, str(exc))
        if answer is not None:
            return await self._assessed(issue.key, workflow_id, comment.id, who, answer)
        try:
            ticks = parse_done_comment(body)
        except TickFormError as exc:
            return await self._tick_refused(issue.key, workflow_id, comment.id, str(exc))
        if ticks is not None:
            return await self._ticked(issue.key, workflow_id, comment.id, who, ticks)
        policy = hooks.intake.policies.get(view.client)
        from_client = bool(
            author
            and policy
            and policy.jira_users.includes(
                author.account_id, author.name, author.key, email=author.email_address
            )
        )
        entry = IncidentComment(
            comment_id=comment.id,
            by=who,
            body=clip(body),
            stakeholder_update=is_stakeholder_update(body, self.settings.jira_update_marker),
            from_client=from_client,
        )
        ref = f"jira-comment-{comment.id}"
        try:
            await self._update(workflow_id, IncidentWorkflow.add_comment, entry, ref)
        except Refused as exc:
            return self._outcome("refused", exc.reason, key, workflow_id)
        except Gone as exc:
            return self._gone(exc, issue.key, workflow_id)
        if not from_client:
            return self._outcome(
                "commented", f"{who}'s comment is in the timeline", key, workflow_id
            )
        return await self._client_ack(issue.key, workflow_id, who, author.email_address, ref)

    async def _assessed(
        self, key: str, workflow_id: str, comment_id: str, who: str, answer: tuple[str, bool, str]
    ) -> WebhookOutcome:
        """`assess <obligation>: yes|no — <reason>` answers the question instead of being talk."""
        obligation, applies, reason = answer
        try:
            assessment = ObligationAssessment(
                obligation=obligation, applies=applies, by=who, reason=reason, channel="jira"
            )
        except ValidationError as exc:
            problem = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            return await self._assessment_refused(key, workflow_id, comment_id, problem)
        ref = f"jira-comment-{comment_id}"
        try:
            await self._update(workflow_id, IncidentWorkflow.assess_obligation, assessment, ref)
        except Refused as exc:
            return await self._assessment_refused(key, workflow_id, comment_id, exc.reason)
        except Gone as exc:
            return self._gone(exc, key, workflow_id)
        return self._outcome(
            "updated", f"{who}: {obligation} {assessment.verdict}", key, workflow_id
        )

    async def _assessment_refused(
        self, key: str, workflow_id: str, comment_id: str, reason: str
    ) -> WebhookOutcome:
        await self.hooks._comment_once(
            key, f"Assessment not recorded: {reason}", f"jira-comment-{comment_id}-refused"
        )
        return self._outcome("refused", f"assessment refused: {reason}", key, workflow_id)

    async def _ticked(
        self, key: str, workflow_id: str, comment_id: str, who: str, ticks: list[Any]
    ) -> WebhookOutcome:
        """`done <item>: <answer>` ticks the SOP checklist (workflows/checklist.py)."""
        tick = ChecklistTick(by=who, channel="jira", items=tuple(ticks))
        try:
            await self._update(
                workflow_id, IncidentWorkflow.tick_checklist, tick, f"jira-comment-{comment_id}"
            )
        except Refused as exc:
            return await self._tick_refused(key, workflow_id, comment_id, exc.reason)
        except Gone as exc:
            return self._gone(exc, key, workflow_id)
        ids = ", ".join(t.id for t in ticks)
        return self._outcome("updated", f"{who} ticked {ids}", key, workflow_id)

    async def _tick_refused(
        self, key: str, workflow_id: str, comment_id: str, reason: str
    ) -> WebhookOutcome:
        await self.hooks._comment_once(
            key, f"Checklist not updated: {reason}", f"jira-comment-{comment_id}-refused"
        )
        return self._outcome("refused", f"checklist tick refused: {reason}", key, workflow_id)

    async def _client_ack(
        self, key: str, workflow_id: str, who: str, email: str | None, ref: str
    ) -> WebhookOutcome:
        contact = email or who
        try:
            ack = ClientAcknowledgement(contact=contact, channel="jira")
            await self._update(workflow_id, IncidentWorkflow.client_acknowledged, ack, f"{ref}-ack")
        except (Refused, ValidationError) as exc:
            # The comment is in the timeline either way; only the evidence is withheld.
            reason = exc.reason if isinstance(exc, Refused) else str(exc)
            log.info("client comment on %s not taken as acknowledgement: %s", key, reason)
            return self._outcome("commented", f"client comment recorded; not an ack: {reason}", key)
        except Gone as exc:
            return self._gone(exc, key, workflow_id)
        return self._outcome(
            "acknowledged", f"{who} (client) acknowledged by commenting", key, workflow_id
        )

    async def _state(self, workflow_id: str) -> IncidentView | None:
        handle = await self.hooks.handle(workflow_id)
        try:
            return await asyncio.wait_for(query_state(handle), 10)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc
        except TimeoutError as exc:
            raise HTTPException(503, f"incident {workflow_id} did not answer; retry") from exc

    # -- duplicate issues ------------------------------------------------------------------------

    async def duplicate(
        self, issue: JiraIssue, report: IncidentReport, ref: str
    ) -> tuple[WebhookOutcome | None, list[str]]:
        """(outcome, report keys): an outcome when the issue duplicates an open incident (then
        nothing starts), else the keys the new incident carries for later matches."""
        names, gateway = self.settings.jira_fields, self.hooks.gateway()
        try:
            contact_id, ref_id = await asyncio.gather(
                asyncio.to_thread(gateway.fields.id_of, names.reporter_contact),
                asyncio.to_thread(gateway.fields.id_of, names.external_reference),
            )
        except JiraRequestError as exc:
            log.warning("cannot read Jira's field list (%s); duplicates not matched", exc)
            return None, []
        # The issue's reporter is the agent who logged it, not the caller: only the fields count.
        keys = duplicates.keys_for(
            self.settings, report.client, issue.field_text(contact_id), issue.field_text(ref_id)
        )
        original = await duplicates.find_open(
            self.hooks.intake.client(report.client),
            client=report.client,
            keys=keys,
            window=timedelta(hours=self.settings.duplicate_window_hours),
            exclude=self.hooks.site.workflow_id(issue.key),
        )
        if original is None:
            return None, list(keys.values())
        if original.jira_key:
            try:
                await asyncio.to_thread(link_duplicate, gateway, issue.key, original.jira_key)
            except JiraRequestError as exc:
                if exc.retryable:
                    raise HTTPException(503, f"could not link {issue.key} ({exc}); retry") from exc
                log.error("could not link %s to %s: %s", issue.key, original.jira_key, exc)
        entry = DuplicateReport(
            ref=issue.key,
            matched_on=original.matched_on,
            channel=str(report.channel),
            jira_key=issue.key,
            by=report.reporter.name,
        )
        try:
            await self._update(
                original.workflow_id,
                IncidentWorkflow.record_duplicate,
                entry,
                ref,
                client=report.client,
            )
        except Refused:
            pass  # recorded before (a redelivery that missed the update id's window)
        except Gone:
            return None, list(keys.values())  # closed meanwhile: the new issue is its own incident
        where = f"issue {original.jira_key}" if original.jira_key else original.workflow_id
        await self.hooks._comment_once(
            issue.key,
            f"Incident Desk linked this issue as a duplicate of {where}, an open incident "
            f"with the same {original.matched_on.replace('_', ' ')}; no second incident was "
            f"opened. Continue on {where}.",
            ref,
        )
        return (
            self._outcome(
                "duplicate",
                f"{issue.key} duplicates {where}; linked",
                issue.key,
                original.workflow_id,
            ),
            list(keys.values()),
        )
