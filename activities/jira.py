"""Jira effects of the incident lifecycle: one activity per effect, each safe to retry.

Each incident's issue lives on its client's Jira site and project (the policy's `jira:` section,
sites from configuration). The requests may name the client; recorded histories and today's
workflow do not, so the client is otherwise read from the workflow's IncidentClient search
attribute. Both are optional fields with defaults, so old histories replay unchanged.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import RPCError
from temporalio.exceptions import ApplicationError

from activities.policy_files import ClientLookup, ClientOfWorkflow, PolicyFiles
from incidents.client_routing import JiraRouting
from integrations.jira import JiraGateway, JiraRequestError
from integrations.jira_sites import JiraSites, JiraTarget, UnknownJiraSite

log = logging.getLogger(__name__)


class TicketRequest(BaseModel):
    workflow_id: str
    summary: str
    description: str
    labels: list[str]
    client: str | None = None  # None: the workflow's IncidentClient search attribute


class CommentRequest(BaseModel):
    key: str
    body: str
    client: str | None = None


class TransitionRequest(BaseModel):
    key: str
    status: str  # our name ("Done"); the client's policy may call it otherwise in its Jira
    client: str | None = None


def _as_application_error(exc: JiraRequestError) -> ApplicationError:
    """Tell Temporal which Jira failures are worth retrying (429/5xx) and which are not (4xx)."""
    return ApplicationError(str(exc), type="JiraRequestError", non_retryable=not exc.retryable)


class JiraActivities:
    """Thin adapters over the gateways; the `jira` library is blocking, so calls run in a thread."""

    def __init__(
        self,
        sites: JiraSites | JiraGateway,
        policies: PolicyFiles | None = None,
        client_of: ClientLookup | None = None,
        done_status: str = "Done",
    ) -> None:
        self._sites = sites
        self._policies = policies
        self._client_of = ClientOfWorkflow(client_of)
        # The deployment's name for "Done" (JIRA_DONE_STATUS); a client policy's own wins.
        self._default_statuses = {"Done": done_status}

    async def _client(self, named: str | None) -> str | None:
        if named is not None:
            return named
        workflow_id = activity.info().workflow_id
        if not workflow_id:
            return None
        try:
            return await self._client_of(workflow_id)
        except RPCError as exc:
            # Guessing would put one client's incident on another's Jira; wait for Temporal.
            raise ApplicationError(
                f"cannot read the incident's client from Temporal: {exc.message}",
                type="ClientLookupError",
            ) from exc

    def _routing(self, client: str | None) -> JiraRouting:
        policy = self._policies.get(client) if self._policies else None
        routing = policy.jira if policy is not None else JiraRouting()
        own = {name.casefold() for name in routing.statuses}
        defaults = {k: v for k, v in self._default_statuses.items() if k.casefold() not in own}
        statuses = {**routing.statuses, **defaults}
        return routing.model_copy(update={"statuses": statuses})

    def _gateway(self, routing: JiraRouting) -> JiraGateway:
        if isinstance(self._sites, JiraGateway):
            return self._sites
        target = JiraTarget(
            site=routing.site,
            project=routing.project,
            issue_type=routing.issue_type,
            custom_fields=routing.custom_fields,
        )
        try:
            return self._sites.gateway(target)
        except UnknownJiraSite as exc:
            # Only a configuration change fixes it; the worker checks policies at start-up.
            raise ApplicationError(str(exc), type="UnknownJiraSite", non_retryable=True) from exc

    async def _route(self, client: str | None) -> tuple[JiraGateway, JiraRouting]:
        routing = self._routing(await self._client(client))
        return self._gateway(routing), routing

    async def gateway_for(self, client: str | None) -> JiraGateway:
        """The client's gateway, for activities kept in their own modules (jira_writeback.py)."""
        return (await self._route(client))[0]

    @activity.defn(name="create_jira_ticket")
    async def create_jira_ticket(self, request: TicketRequest) -> str:
        gateway, _ = await self._route(request.client)
        try:
            return await asyncio.to_thread(
                gateway.create_incident_issue,
                workflow_id=request.workflow_id,
                summary=request.summary,
                description=request.description,
                labels=request.labels,
            )
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="comment_jira_ticket")
    async def comment_jira_ticket(self, request: CommentRequest) -> str:
        gateway, _ = await self._route(request.client)
        try:
            return await asyncio.to_thread(gateway.add_comment, request.key, request.body)
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="transition_jira_ticket")
    async def transition_jira_ticket(self, request: TransitionRequest) -> None:
        gateway, routing = await self._route(request.client)
        try:
            await asyncio.to_thread(
                gateway.transition_to, request.key, routing.status(request.status)
            )
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc
