"""The post-incident review's Jira sub-task on a real Temporal server (Jira is the double).

On the time-skipping dev server (`dev_env`, as the other lifecycle tests: they send updates).
Resolution opens the review: the sub-task is requested under the incident's issue with the
review's due instant, the comment on the issue and the overdue reminder point at it, and the
`close` update (what the intake sends when the sub-task moves to Done) ends the incident and
closes the sub-task too.
A Jira that refuses sub-tasks, or a policy that asks for comments, keeps the comment alone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from incidents.clocks import StageDone
from incidents.lifecycle import Action, CloseIncident, IncidentState, Validation
from incidents.policy import ClientPolicy
from incidents.stages import ReviewTerms
from tests.workflows.doubles import Outside, new_worker
from tests.workflows.test_lifecycle_stages import POLICY, REVIEW, events, start, wait_until
from workflows.incident import IncidentWorkflow


async def resolve(env: WorkflowEnvironment, outside: Outside, queue: str):
    handle = await start(env, queue)
    await wait_until(handle, lambda v: bool(events(v, "triage_waiting")))
    await handle.execute_update(IncidentWorkflow.validate, Validation(by="ana", note="real"))
    await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="mo"))
    await handle.execute_update(IncidentWorkflow.resolve, Action(by="mo", note="done"))
    return handle


async def test_review_subtask_is_requested_and_the_close_ends_it(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=POLICY)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await resolve(dev_env, outside, worker.task_queue)
        view = await wait_until(handle, lambda v: bool(events(v, "review_subtask")))
        assert view.state == IncidentState.REVIEW
        [request] = outside.of("create_review_subtask")
        assert request.parent_key == "SEC-1" and request.workflow_id == handle.id
        assert request.client == "demo"
        assert request.due == view.review_due_at.isoformat()
        assert abs(view.review_due_at - view.resolved_at - timedelta(days=7)) < timedelta(seconds=5)
        assert "SEC-2" in events(view, "review_subtask")[0].detail
        # The comment follows the sub-task's timeline entry in the same review step; wait for it.
        for _ in range(200):
            asks = [
                c.body
                for c in outside.of("comment_jira_ticket")
                if c.body.startswith("Post-incident review, due")
            ]
            if asks:
                break
            await asyncio.sleep(0.05)
        ask = asks[0]
        assert "review sub-task SEC-2" in ask and "Training needs" in ask

        # Overdue: reminded on the incident's issue, pointing at the sub-task (virtual time).
        await dev_env.fast_forward(handle, timedelta(days=7, hours=1))
        view = await wait_until(handle, lambda v: bool(events(v, "review_overdue")))
        reminder = next(
            c.body
            for c in outside.of("comment_jira_ticket")
            if c.body.startswith("Reminder: the post-incident review")
        )
        assert "(in the review sub-task SEC-2)" in reminder

        for clock in view.obligations:  # open stages would refuse the close (kept rule)
            for stage in clock.stages:
                if clock.in_force and stage.status in ("pending", "breached", "no_fixed_deadline"):
                    await handle.execute_update(
                        IncidentWorkflow.mark_stage_done,
                        StageDone(obligation=clock.id, stage=stage.stage, by="dpo", reference="R"),
                    )
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(
                by="Sandbox Agent",
                review=REVIEW,
                summary="Post-incident review recorded in Jira sub-task SEC-2",
                channel="jira",
            ),
        )
        result = await handle.result()

    assert result.state == IncidentState.CLOSED and result.review == REVIEW
    moves = [(t.key, t.status) for t in outside.of("transition_jira_ticket")]
    assert moves == [("SEC-2", "Done"), ("SEC-1", "Done")]


async def test_a_jira_without_subtasks_keeps_the_comment(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=POLICY, subtasks_off=True)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await resolve(dev_env, outside, worker.task_queue)
        view = await wait_until(handle, lambda v: bool(events(v, "review_subtask_failed")))
        await handle.terminate("test over")
    assert "issue type selected is invalid" in events(view, "review_subtask_failed")[0].detail
    assert len(outside.of("create_review_subtask")) == 1  # a 400 is not retried
    ask = [c.body for c in outside.of("comment_jira_ticket") if "Post-incident review" in c.body]
    assert ask and "sub-task" not in ask[0]


async def test_the_comment_policy_asks_no_subtask(dev_env: WorkflowEnvironment) -> None:
    policy = POLICY.model_copy(update={"review": ReviewTerms(jira="comment")})
    assert isinstance(policy, ClientPolicy)
    outside = Outside(policy=policy)
    async with new_worker(dev_env.client, outside) as worker:
        handle = await resolve(dev_env, outside, worker.task_queue)
        view = await wait_until(handle, lambda v: bool(events(v, "review_requested")))
        await wait_until(
            handle,
            lambda v: any(
                "Post-incident review" in c.body for c in outside.of("comment_jira_ticket")
            ),
        )
        await handle.terminate("test over")
    assert view.state == IncidentState.REVIEW
    assert outside.of("create_review_subtask") == []
