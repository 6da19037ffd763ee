"""Write-back onto the incident's Jira issue: obligation labels, next deadline, issue property.

One activity, `sync_jira_ticket`, because the three are one effect from the agents' point of
view (the issue shows the incident as it is now) and the integration makes each part a no-op
when the issue already shows it, so the workflow can repeat it freely.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import activity

from activities.jira import JiraActivities, _as_application_error
from integrations.jira import JiraRequestError
from integrations.jira_writeback import TicketState, sync_ticket


class TicketSyncRequest(BaseModel):
    key: str
    ticket: TicketState
    client: str | None = None  # None: the workflow's IncidentClient search attribute


class JiraWriteBackActivities:
    def __init__(self, jira: JiraActivities, deadline_field: str | None) -> None:
        self._jira = jira
        self._deadline_field = deadline_field

    @activity.defn(name="sync_jira_ticket")
    async def sync_jira_ticket(self, request: TicketSyncRequest) -> list[str]:
        gateway = await self._jira.gateway_for(request.client)
        try:
            return await asyncio.to_thread(
                sync_ticket, gateway, request.key, request.ticket, self._deadline_field
            )
        except JiraRequestError as exc:
            raise _as_application_error(exc) from exc
