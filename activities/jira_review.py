"""The post-incident review's Jira effect: its sub-task under the incident's issue.

Kept beside activities/jira.py rather than in it: it routes through the same client sites
(`JiraActivities.gateway_for`) but is the review's concern alone.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import activity

from activities.jira import JiraActivities, _as_application_error
from incidents.review_form import subtask_description, subtask_summary
from integrations.jira import JiraRequestError
from integrations.jira_review import SUBTASK_TYPE, create_review_subtask


class ReviewSubtaskRequest(BaseModel):
    workflow_id: str
    parent_key: str
    due: str  # as people read it, already formatted by the workflow
    client: str | None = None


class JiraReviewActivities:
    def __init__(self, jira: JiraActivities, issue_type: str = SUBTASK_TYPE) -> None:
        self._jira = jira
        self._issue_type = issue_type

    @activity.defn(name="create_review_subtask")
    async def create_review_subtask(self, request: ReviewSubtaskRequest) -> str:
        """The sub-task's key; a repeat finds the one already made. A Jira without sub-tasks
        answers 400, which is not retried: the workflow then asks in a comment instead."""
        gateway = await self._jira.gateway_for(request.client)
        try:
            return await asyncio.to_thread(
                create_review_subtask,
                gateway,
                workflow_id=request.workflow_id,
                parent_key=request.parent_key,
                summary=subtask_summary(request.parent_key),
                description=subtask_description(request.parent_key, request.due),
                issue_type=self._issue_type,
            )
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc
