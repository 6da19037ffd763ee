"""Jira effects of the incident lifecycle: one activity per effect, each safe to retry."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.jira import JiraGateway, JiraRequestError


class TicketRequest(BaseModel):
    workflow_id: str
    summary: str
    description: str
    labels: list[str]


class CommentRequest(BaseModel):
    key: str
    body: str


class TransitionRequest(BaseModel):
    key: str
    status: str


def _as_application_error(exc: JiraRequestError) -> ApplicationError:
    """Tell Temporal which Jira failures are worth retrying (429/5xx) and which are not (4xx)."""
    return ApplicationError(str(exc), type="JiraRequestError", non_retryable=not exc.retryable)


class JiraActivities:
    """Thin adapters over the gateway; the `jira` library is blocking, so calls run in a thread."""

    def __init__(self, gateway: JiraGateway) -> None:
        self._jira = gateway

    @activity.defn(name="create_jira_ticket")
    async def create_jira_ticket(self, request: TicketRequest) -> str:
        try:
            return await asyncio.to_thread(
                self._jira.create_incident_issue,
                workflow_id=request.workflow_id,
                summary=request.summary,
                description=request.description,
                labels=request.labels,
            )
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="comment_jira_ticket")
    async def comment_jira_ticket(self, request: CommentRequest) -> str:
        try:
            return await asyncio.to_thread(self._jira.add_comment, request.key, request.body)
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="transition_jira_ticket")
    async def transition_jira_ticket(self, request: TransitionRequest) -> None:
        try:
            await asyncio.to_thread(self._jira.transition_to, request.key, request.status)
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc
