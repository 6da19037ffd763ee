"""Paging on-call responders. Pages carry classified fields and links, never the raw report."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.pagerduty import PagerDutyClient, PagerRequestError


class PageRequest(BaseModel):
    dedup_key: str
    summary: str
    severity: str
    custom_details: dict[str, str]
    workflow_id: str
    jira_key: str | None = None


class Links(BaseModel):
    """Where responders go from a page; deployment facts, so the worker knows them, not history."""

    jira_url: str
    temporal_ui_url: str
    namespace: str = "default"

    def for_incident(self, workflow_id: str, jira_key: str | None) -> list[tuple[str, str]]:
        links = [
            (
                f"{self.temporal_ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}",
                "Incident history (Temporal UI)",
            )
        ]
        if jira_key:
            links.insert(0, (f"{self.jira_url}/browse/{jira_key}", f"Jira {jira_key}"))
        return links


def _as_application_error(exc: PagerRequestError) -> ApplicationError:
    return ApplicationError(str(exc), type="PagerRequestError", non_retryable=not exc.retryable)


class PagingActivities:
    def __init__(self, pagerduty: PagerDutyClient, links: Links) -> None:
        self._pagerduty = pagerduty
        self._links = links

    @activity.defn(name="trigger_page")
    async def trigger_page(self, request: PageRequest) -> str:
        """The dedup key makes a retried trigger update the same alert instead of a second one."""
        try:
            return await self._pagerduty.trigger(
                dedup_key=request.dedup_key,
                summary=request.summary,
                severity=request.severity,
                source="incident-desk",
                custom_details=request.custom_details,
                links=self._links.for_incident(request.workflow_id, request.jira_key),
            )
        except PagerRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="acknowledge_page")
    async def acknowledge_page(self, dedup_key: str) -> None:
        try:
            await self._pagerduty.acknowledge(dedup_key)
        except PagerRequestError as exc:
            raise _as_application_error(exc) from exc

    @activity.defn(name="resolve_page")
    async def resolve_page(self, dedup_key: str) -> None:
        try:
            await self._pagerduty.resolve(dedup_key)
        except PagerRequestError as exc:
            raise _as_application_error(exc) from exc
