"""Post-incident review: after resolution the incident waits in REVIEW until its lessons are
written down, then closes.

Resolution is not the end of the BPO's duties: regulatory stages due later (a NIS2 final report a
month on) keep their timers while the review is open, and closing with such a stage still open
is refused unless someone gives the reason it may stay open. The review's questions (root cause,
what went well, what to improve, training needs) are asked in Jira, with a due date from the
client policy; an overdue review is reminded a bounded number of times.

Where the policy says so (`review.jira: subtask`, the default) the questions get a Jira sub-task
of their own under the incident's issue: agents fill it in and move it to Done, and the intake
turns that into the `close` update with the answers (intake/jira_review.py). A Jira that refuses
sub-tasks leaves the comment on the issue, which works everywhere. Incidents that reached review
before sub-tasks existed keep the comment (`REVIEW_SUBTASK_PATCH`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.jira import JiraActivities, TransitionRequest
    from activities.jira_review import JiraReviewActivities, ReviewSubtaskRequest
    from incidents import clocks, escalation
    from incidents.clocks import ClockStatus
    from incidents.lifecycle import CloseIncident, IncidentState, IncidentView
    from incidents.policy import ClientPolicy
    from workflows.context import IncidentContext, at
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

# The review gets its own Jira sub-task (an activity more than recorded histories expect).
REVIEW_SUBTASK_PATCH = "review-subtask"

# Stages that still owe someone an action; a stage waiting on a trigger that never came does not.
OWED = clocks.OPEN | {ClockStatus.NO_FIXED_DEADLINE}

QUESTIONS = (
    "1. Root cause: what let this happen?",
    "2. What went well in detecting, reporting and handling it?",
    "3. What should we improve (process, tooling, client communication)?",
    "4. Training needs: who needs what, by when?",
)


# Waits for a condition like `workflow.wait_condition`; the workflow's own may hand the incident
# over to a new run while it waits (workflows/carry_over.py).
Until = Callable[..., Awaitable[None]]


class ReviewCarry(BaseModel):
    """Overdue reminders sent so far, when the last one was, and the review's sub-task."""

    reminded: int = 0
    last_reminded_at: datetime | None = None
    subtask: str | None = None


class Review:
    def __init__(self, ctx: IncidentContext) -> None:
        self._ctx = ctx
        self._state = ReviewCarry()

    def closed(self) -> bool:
        return self._ctx.view.closed_by is not None

    def snapshot(self) -> ReviewCarry:
        return self._state.model_copy()

    def restore(self, carried: ReviewCarry) -> None:
        self._state = carried.model_copy()

    async def run(self, policy: ClientPolicy, until: Until) -> None:
        """Ask for the review and wait until someone closes the incident with it."""
        view = self._ctx.view
        terms = policy.review
        self._ctx.move_to(IncidentState.REVIEW)
        if self.closed():
            return
        view.review_due_at = workflow.now() + terms.due_after
        self._ctx.record(
            "review_requested", f"Post-incident review due at {at(view.review_due_at)}"
        )
        if terms.jira == "subtask" and view.jira_key and self._ctx.patched(REVIEW_SUBTASK_PATCH):
            await self._open_subtask(view.jira_key)
        owed = open_stages(view)
        still = f"\nStill open: {', '.join(owed)}; mark them done before closing." if owed else ""
        where = (
            f"\nAnswer them in the review sub-task {self._state.subtask} and move it to Done, "
            "or close the incident once the answers are recorded here or in Incident Desk."
            if self._state.subtask
            else "\nClose the incident once the answers are recorded here or in Incident Desk."
        )
        await self._ctx.comment(
            f"Post-incident review, due {at(view.review_due_at)}. Please answer:\n"
            + "\n".join(QUESTIONS)
            + where
            + still
        )
        await self.wait(policy, until)

    async def _open_subtask(self, parent_key: str) -> None:
        """A Jira without sub-tasks (or that refuses this one) keeps the comment alone."""
        view = self._ctx.view
        try:
            key = await workflow.execute_activity_method(
                JiraReviewActivities.create_review_subtask,
                ReviewSubtaskRequest(
                    workflow_id=view.workflow_id,
                    parent_key=parent_key,
                    due=at(view.review_due_at),
                    client=view.client,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Review sub-task under {parent_key}",
            )
        except ActivityError as exc:
            cause = getattr(exc.cause, "message", None) or str(exc.cause or exc)
            self._ctx.record(
                "review_subtask_failed", f"No review sub-task ({cause}); asked in a comment"
            )
            return
        self._state = self._state.model_copy(update={"subtask": key})
        self._ctx.record("review_subtask", f"Post-incident review sub-task {key} opened")

    async def _finish_subtask(self) -> None:
        """Closed through another channel (API, CLI, the issue itself): the sub-task follows,
        so nobody is left a review to write. Already Done, it is left alone."""
        if self._state.subtask is None:
            return
        await workflow.execute_activity_method(
            JiraActivities.transition_jira_ticket,
            TransitionRequest(key=self._state.subtask, status="Done", client=self._ctx.view.client),
            start_to_close_timeout=EFFECT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Close review sub-task {self._state.subtask}",
        )

    async def wait(self, policy: ClientPolicy, until: Until) -> None:
        """Until closed; then the review's sub-task, if any, is closed too."""
        await self._wait_closed(policy, until)
        await self._finish_subtask()

    async def _wait_closed(self, policy: ClientPolicy, until: Until) -> None:
        """Until closed: the review is due at its instant, then reminded every `remind_every`
        (a bounded number of times). A continued run waits on from the reminders sent."""
        view, terms = self._ctx.view, policy.review
        assert view.review_due_at is not None
        while (number := self._state.reminded + 1) <= terms.reminders:
            last = self._state.last_reminded_at
            if last is None:
                wait = view.review_due_at - workflow.now()
                summary = (
                    f"Post-incident review due ({escalation.format_duration(terms.due_after)})"
                )
            else:
                wait = last + terms.remind_every - workflow.now()
                summary = f"Post-incident review overdue: reminder {number} of {terms.reminders}"
            try:
                if wait > timedelta(0):
                    await until(self.closed, timeout=wait, timeout_summary=summary)
                    return
            except TimeoutError:
                pass
            if self.closed():
                return
            await self._remind(number)
            self._state = self._state.model_copy(
                update={"reminded": number, "last_reminded_at": workflow.now()}
            )
        await until(self.closed)

    async def _remind(self, number: int) -> None:
        view = self._ctx.view
        assert view.review_due_at is not None
        late = escalation.format_duration(workflow.now() - view.review_due_at)
        self._ctx.record(
            "review_overdue", f"Post-incident review overdue by {late or '0m'} (reminder {number})"
        )
        await self._ctx.comment(
            f"Reminder: the post-incident review was due at {at(view.review_due_at)} and the "
            "incident is still open. Record the root cause, what went well, what to improve "
            "and training needs, then close it"
            + (f" (in the review sub-task {self._state.subtask})." if self._state.subtask else ".")
        )

    # --- the close action (the update handler and its validator call these) -----------------

    def check_close(self, close: CloseIncident) -> None:
        view = self._ctx.view
        if view.closed_by is not None:
            raise ValueError(f"already closed by {view.closed_by}")
        if view.resolved_by is None:
            raise ValueError(f"the incident is {view.state}, not resolved: resolve it first")
        owed = open_stages(view)
        if owed and close.waive_open_stages is None:
            raise ValueError(
                f"reporting stages still open: {', '.join(owed)}. Mark each done with its "
                "filing reference, or close with waive_open_stages giving the reason they may "
                "stay open"
            )

    def close(self, close: CloseIncident) -> None:
        view = self._ctx.view
        view.review = close.review
        view.review_summary = close.summary
        view.closed_by = close.by
        view.closed_at = workflow.now()
        review = close.review
        detail = f"root cause: {review.root_cause}" if review else (close.summary or "")
        self._ctx.record(
            "review_done", f"Post-incident review via {close.channel}: {detail}", by=close.by
        )
        owed = open_stages(view)
        if owed and close.waive_open_stages is not None:
            view.open_stages_waived = close.waive_open_stages
            self._ctx.record(
                "open_stages_waived",
                f"Closed with {', '.join(owed)} open: {close.waive_open_stages}",
                by=close.by,
            )


def open_stages(view: IncidentView) -> list[str]:
    """Reporting stages in force that nobody has marked done, as `obligation (stage)`."""
    return [
        f"{c.id} ({s.stage})"
        for c in view.obligations
        if c.in_force
        for s in c.stages
        if s.status in OWED
    ]
