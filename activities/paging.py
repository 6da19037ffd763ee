"""Paging on-call responders. Pages carry classified fields and links, never the raw report."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, RPCError
from temporalio.exceptions import ApplicationError

from activities.namespaces import NamespaceClients, current_namespace
from incidents.escalation import workflow_id_from_page_key
from incidents.pager_routes import PagerRoute, PagerRouting
from incidents.policy import PolicyError, load_policy
from integrations.pagerduty import PagerDutyClient, PagerRequestError
from integrations.pagers import PageContent, Pager, PagerDutyPager, PagerSet, PagingError
from workflows.names import IncidentSearchAttribute

logger = logging.getLogger(__name__)

ClientLookup = Callable[[str], Awaitable[str | None]]

_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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

    def for_incident(
        self, workflow_id: str, jira_key: str | None, namespace: str | None = None
    ) -> list[tuple[str, str]]:
        """`namespace` is the incident's (a client may have its own); else the running
        activity's, else the deployment's."""
        namespace = namespace or current_namespace() or self.namespace
        links = [
            (
                f"{self.temporal_ui_url}/namespaces/{namespace}/workflows/{workflow_id}",
                "Incident history (Temporal UI)",
            )
        ]
        if jira_key:
            links.insert(0, (f"{self.jira_url}/browse/{jira_key}", f"Jira {jira_key}"))
        return links


def _as_application_error(exc: PagerRequestError) -> ApplicationError:
    return ApplicationError(str(exc), type="PagerRequestError", non_retryable=not exc.retryable)


class PolicyRouting:
    """Each client's `pagers:` section, read from its policy file when it changes.

    Read here rather than carried by the workflow, so the activity names and inputs stay as they
    were and a routing change (a team moving to Opsgenie) applies to the next page sent.
    """

    def __init__(self, policies_dir: Path) -> None:
        self._clients = policies_dir / "clients"
        self._cache: dict[str, tuple[float, PagerRouting]] = {}

    def for_client(self, client: str | None) -> PagerRouting:
        if not client or not _CLIENT_ID.match(client):
            return PagerRouting()
        path = self._clients / f"{client}.yaml"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return PagerRouting()
        cached = self._cache.get(client)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            routing = load_policy(path).pagers
        except PolicyError as exc:
            # A policy broken since the incident started must not stop the page: the default
            # pager still reaches someone, and the error says what to mend.
            logger.error("pager routing for %s unreadable, using the default: %s", client, exc)
            return PagerRouting()
        self._cache[client] = (mtime, routing)
        return routing


def temporal_client_lookup(client: Client | NamespaceClients) -> ClientLookup:
    """The incident's client, from the IncidentClient search attribute of its workflow, read in
    the namespace of the running activity (the workflow's own)."""
    clients = NamespaceClients.of(client)

    async def lookup(workflow_id: str) -> str | None:
        description = await clients.current().get_workflow_handle(workflow_id).describe()
        return description.typed_search_attributes.get(IncidentSearchAttribute.CLIENT.key)

    return lookup


class PagingActivities:
    """Routes each page to the pager(s) its targets are on; PagerDuty when nothing says else.

    Acknowledge and resolve receive only a dedup key, so they go to every pager the incident's
    client routes to: the pagers key alerts by that dedup key and ignore keys they never
    opened, and the client's own routes are the only ones told about its incident.
    """

    def __init__(
        self,
        pagerduty: PagerDutyClient | Pager,
        links: Links,
        *,
        pagers: PagerSet | None = None,
        routing: PolicyRouting | None = None,
        client_of: ClientLookup | None = None,
    ) -> None:
        default = pagerduty if isinstance(pagerduty, Pager) else PagerDutyPager(pagerduty)
        self._pagers = pagers or PagerSet({default.kind: default})
        self._links = links
        self._routing = routing
        self._client_of = client_of

    def _routes_for(self, client: str | None) -> PagerRouting:
        return self._routing.for_client(client) if self._routing else PagerRouting()

    def _usable(self, route: PagerRoute, routing: PagerRouting) -> PagerRoute | None:
        """A route whose pager this worker lacks falls back to the default: page somebody."""
        if route.kind in self._pagers:
            return route
        if routing.default.kind in self._pagers:
            logger.error("%s is not configured here; paging the default pager", route.kind.value)
            return routing.default
        return None

    @activity.defn(name="trigger_page")
    async def trigger_page(self, request: PageRequest) -> str:
        """The dedup key makes a retried trigger update the same alert instead of a second one.

        With several routes, one failing fails the activity; the retry re-triggers the others
        under the same key, which they fold into the alert already open.
        """
        details = request.custom_details
        targets = [t.strip() for t in details.get("targets", "").split(",") if t.strip()]
        routing = self._routes_for(details.get("client"))
        links = tuple(self._links.for_incident(request.workflow_id, request.jira_key))
        key = request.dedup_key
        try:
            routes: list[PagerRoute] = []
            for wanted in routing.routes_for(targets):
                route = self._usable(wanted, routing)
                if route is None:
                    raise PagingError(wanted.kind.value, None, "no configured pager to page")
                if route not in routes:
                    routes.append(route)
            for route in routes:
                page = PageContent(
                    dedup_key=key,
                    summary=request.summary,
                    severity=request.severity,
                    details=details,
                    links=links,
                    destination=route.destination,
                )
                key = await self._pagers.for_route(route).trigger(page) or key
        except PagerRequestError as exc:
            raise _as_application_error(exc) from exc
        return key

    @activity.defn(name="acknowledge_page")
    async def acknowledge_page(self, dedup_key: str) -> None:
        for route, pager in await self._pagers_for_key(dedup_key):
            try:
                await pager.acknowledge(dedup_key, route.destination)
            except PagerRequestError as exc:
                raise _as_application_error(exc) from exc

    @activity.defn(name="resolve_page")
    async def resolve_page(self, dedup_key: str) -> None:
        for route, pager in await self._pagers_for_key(dedup_key):
            try:
                await pager.resolve(dedup_key, route.destination)
            except PagerRequestError as exc:
                raise _as_application_error(exc) from exc

    async def _pagers_for_key(self, dedup_key: str) -> list[tuple[PagerRoute, Pager]]:
        client = None
        if self._client_of is not None and self._routing is not None:
            try:
                client = await self._client_of(workflow_id_from_page_key(dedup_key))
            except RPCError as exc:
                # Temporal itself is briefly unreachable: worth Temporal's retry.
                raise ApplicationError(
                    f"cannot look up the incident's client: {exc.message}", type="PagerRouting"
                ) from exc
        routing = self._routes_for(client)
        found: list[tuple[PagerRoute, Pager]] = []
        for wanted in routing.all_routes():
            route = self._usable(wanted, routing)
            if route is not None and all(route != r for r, _ in found):
                found.append((route, self._pagers.for_route(route)))
        return found
