"""The intake HTTP server: how reports get in and how people act on incidents over HTTP.

Stateless by design (issue 10 runs several): every fact lives in the incident's workflow, so the
server only validates, names the workflow, and talks to Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from incident_desk.connection import connect_configured
from incident_desk.jira_sites import default_site_auth
from incident_desk.namespaces import Namespaces, WorkflowNamespaces, clients_for
from incident_desk.settings import Settings
from incident_desk.tokens import ALL_CLIENTS, Permission, Principal
from incidents import notices
from incidents.duplicates import DuplicateReport
from incidents.lifecycle import Action, IncidentState, IncidentView
from incidents.policy import ClientPolicy, PolicyError, load_policies
from incidents.report import IncidentReport, StartIncident
from intake import duplicates
from intake.assessments_api import router as assessments_api
from intake.auth import (
    attributed,
    authorize_filing,
    check_filed_client,
    incident_client,
    install_auth,
    requires,
)
from intake.checklist_api import router as checklist_api
from intake.client_ack import router as client_ack
from intake.jira_webhooks import install_jira_webhooks
from intake.lifecycle_api import router as lifecycle_api
from intake.obligations_api import router as obligations_api
from intake.observability import observe
from intake.opsgenie_webhooks import router as opsgenie_webhooks
from intake.pager_webhooks import router as pager_webhooks
from intake.queries import query_state
from intake.reports_api import router as reports_api
from intake.status_api import router as status_api
from intake.updates_api import router as updates_api
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA
from workflows.names import incident_id_from, workflow_id_for

log = logging.getLogger("incident_desk.intake")

ACT_TIMEOUT = 10.0

IncidentId = Annotated[
    str,
    Path(
        description="The incident id, or the workflow id (`incident-<incident id>`)",
        min_length=1,
        max_length=300,
        pattern=r"^[A-Za-z0-9._:-]+$",
    ),
]


class IncidentAccepted(BaseModel):
    incident_id: str
    workflow_id: str
    status_url: str
    duplicate_of: str | None = Field(
        None, description="Set when the report duplicates this open incident: it was linked to it"
    )


class Dependency(BaseModel):
    url: str
    ready: bool
    detail: str | None = None


class Health(BaseModel):
    ready: bool
    dependencies: dict[str, Dependency]


def _field(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # its loc is the character offset, not a field
    parts = [str(p) for p in error["loc"] if p not in ("body",)]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        position = error["loc"][-1] if error["loc"] else "?"
        return f"not valid JSON (at character {position})"
    return str(error["msg"])


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with one line per bad field, without echoing the submitted values back."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field(e), "message": _message(e)} for e in exc.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": f"invalid request: {summary}", "errors": errors},
    )


class Intake:
    """What the routes share: settings, client policies and the (lazily connected) Temporal
    clients, one per namespace in use (a client policy may name its own, docs/multi-client.md)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policies: dict[str, ClientPolicy] = {}
        self.policy_error: str | None = None
        self.namespaces = Namespaces(settings.temporal_namespace)
        self._client: Client | None = None  # the default namespace's; the others share its line
        self._by_namespace: dict[str, Client] = {}
        self._located = WorkflowNamespaces()
        self.tracer_provider: TracerProvider | None = None
        self._http = httpx.AsyncClient(timeout=2.0)

    def load_policies(self) -> None:
        try:
            self.policies = load_policies(self.settings.policies_dir)
            self.policy_error = None
            self.namespaces = Namespaces(self.settings.temporal_namespace, self.policies)
        except PolicyError as exc:
            self.policy_error = str(exc)
            log.error("client policies not loaded: %s", exc)
            # The readable policies still say where their incidents are.
            self.namespaces = Namespaces.from_dir(
                self.settings.temporal_namespace, self.settings.policies_dir
            )

    async def keep_connecting(self) -> None:
        """Temporal may start after us (`make run` starts everything at once): keep trying."""
        while self._client is None:
            try:
                self._client = await connect_configured(
                    self.settings, tracer_provider=self.tracer_provider
                )
            except Exception as exc:  # any connection failure means "not yet"
                log.debug("temporal not reachable yet: %s", exc)
                await asyncio.sleep(0.5)

    def client(self, client: str | None = None) -> Client:
        """The Temporal client for an incident-client's namespace; None: the default one."""
        return self.namespace_client(self.namespaces.of(client))

    def namespace_client(self, namespace: str) -> Client:
        if self._client is None:
            raise HTTPException(503, "Temporal is not reachable yet; retry shortly")
        if namespace == self._client.namespace:
            return self._client
        if namespace not in self._by_namespace:
            self._by_namespace.update(clients_for(self._client, [namespace]))
        return self._by_namespace[namespace]

    def namespaces_for(self, principal: Principal) -> list[str]:
        """The namespaces holding incidents the token may see: every one for an all-clients
        token, else those of the clients in its scope."""
        if ALL_CLIENTS in principal.clients:
            return self.namespaces.all()
        return self.namespaces.for_clients(principal.clients)

    async def close(self) -> None:
        await self._http.aclose()

    # --- health ---------------------------------------------------------------------------

    async def health(self) -> Health:
        s = self.settings
        checks = await asyncio.gather(
            self._temporal_ready(),
            self._worker_ready(),
            self._http_ready(
                f"{s.jira_base_url}/rest/api/2/serverInfo",
                auth=default_site_auth(s),
            ),
            self._pager_ready(),
        )
        deps = {
            "temporal": Dependency(url=s.temporal_target, ready=checks[0][0], detail=checks[0][1]),
            "temporal_ui": Dependency(url=s.temporal_ui, ready=checks[0][0]),
            "worker": Dependency(url=s.task_queue, ready=checks[1][0], detail=checks[1][1]),
            "jira": Dependency(url=s.jira_base_url, ready=checks[2][0], detail=checks[2][1]),
            "pager": Dependency(
                url=s.pagerduty_enqueue_url, ready=checks[3][0], detail=checks[3][1]
            ),
            "policies": Dependency(
                url=str(s.policies_dir),
                ready=bool(self.policies) and self.policy_error is None,
                detail=self.policy_error or f"{len(self.policies)} client policies",
            ),
        }
        return Health(ready=all(d.ready for d in deps.values()), dependencies=deps)

    async def _temporal_ready(self) -> tuple[bool, str | None]:
        if self._client is None:
            return False, "not connected"
        try:
            return await self._client.service_client.check_health(), None
        except RPCError as exc:
            return False, exc.message

    async def _worker_ready(self) -> tuple[bool, str | None]:
        """Ready when a worker polls the task queue in every namespace in use: a client whose
        namespace nobody polls would file incidents that never run."""
        if self._client is None:
            return False, "temporal not connected"
        namespaces = self.namespaces.all()
        answers = await asyncio.gather(*(self._pollers(ns) for ns in namespaces))
        if len(namespaces) == 1:
            return answers[0]
        ready = all(ok for ok, _ in answers)
        return ready, "; ".join(
            f"{ns}: {detail}" for ns, (_, detail) in zip(namespaces, answers, strict=True)
        )

    async def _pollers(self, namespace: str) -> tuple[bool, str]:
        assert self._client is not None
        try:
            response = await self._client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=namespace,
                    task_queue=TaskQueue(name=self.settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError as exc:
            return False, exc.message
        if not response.pollers:
            return False, "no worker is polling the task queue"
        return True, f"{len(response.pollers)} poller(s)"

    async def _http_ready(
        self, url: str, auth: httpx.Auth | tuple[str, str] | None = None
    ) -> tuple[bool, str | None]:
        try:
            response = await self._http.get(url, auth=auth)
        except httpx.HTTPError as exc:
            return False, type(exc).__name__
        return response.status_code == 200, f"HTTP {response.status_code}"

    async def _pager_ready(self) -> tuple[bool, str | None]:
        if not self.settings.pager_sandboxed:
            # The Events API has no health route; a configured endpoint is taken as ready.
            return True, "configured"
        return await self._http_ready(f"{self.settings.pager_sandbox_url}/sandbox/events")

    # --- incidents ------------------------------------------------------------------------

    async def file(self, report: IncidentReport, base_url: str) -> IncidentAccepted:
        policy = self.policies.get(report.client)
        if policy is None:
            known = ", ".join(sorted(self.policies)) or "none loaded"
            raise HTTPException(
                422, f"client: unknown client '{report.client}'; known clients: {known}"
            )
        incident_id = f"{report.client}-{report.external_ref or uuid.uuid4().hex[:12]}"
        keys = duplicates.keys_for(
            self.settings, report.client, report.reporter.contact, report.external_ref
        )
        original = await duplicates.find_open(
            self.client(report.client),
            client=report.client,
            keys=keys,
            window=timedelta(hours=self.settings.duplicate_window_hours),
            exclude=workflow_id_for(incident_id),
        )
        if original is not None:
            duplicate = DuplicateReport(
                ref=incident_id, matched_on=original.matched_on, channel=str(report.channel)
            )
            await self.act(
                original.workflow_id,
                IncidentWorkflow.record_duplicate,
                duplicate,
                update_id=f"duplicate-{incident_id}",
            )
            original_id = incident_id_from(original.workflow_id)
            return IncidentAccepted(
                incident_id=original_id,
                workflow_id=original.workflow_id,
                status_url=f"{base_url}/api/v1/incidents/{original_id}",
                duplicate_of=original_id,
            )
        workflow_id = await self.start_incident(
            StartIncident(incident_id=incident_id, report=report, received_at=datetime.now(UTC)),
            policy,
            report_keys=list(keys.values()),
        )
        return IncidentAccepted(
            incident_id=incident_id,
            workflow_id=workflow_id,
            status_url=f"{base_url}/api/v1/incidents/{incident_id}",
        )

    async def start_incident(
        self, start: StartIncident, policy: ClientPolicy, report_keys: list[str] | None = None
    ) -> str:
        """Start the incident's workflow unless it exists, running or finished; its workflow id.

        Every way in (API, Jira webhook) starts incidents here, so a repeated report, a retried
        request or a redelivered webhook never becomes a second incident.
        """
        report = start.report
        workflow_id = workflow_id_for(start.incident_id)
        severity = report.severity or policy.default_severity
        category = report.category or "unclassified"
        attributes = [
            SearchAttributePair(SA.CLIENT.key, report.client),
            SearchAttributePair(SA.STATE.key, str(IncidentState.REPORTED)),
            SearchAttributePair(SA.SEVERITY.key, str(severity)),
            SearchAttributePair(SA.TYPE.key, category),
        ]
        if start.jira_key:
            attributes.append(SearchAttributePair(SA.JIRA_KEY.key, start.jira_key))
        if report_keys:
            attributes.append(SearchAttributePair(SA.REPORT_KEYS.key, report_keys))
        try:
            await self.client(report.client).start_workflow(
                IncidentWorkflow.run,
                start,
                id=workflow_id,
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(attributes),
                static_summary=notices.static_summary(
                    start.incident_id, severity, category, report.client, start.jira_key
                ),
            )
        except WorkflowAlreadyStartedError:
            log.info("incident %s already exists; not started again", start.incident_id)
        except RPCError as exc:
            raise HTTPException(
                503,
                f"Temporal did not accept the incident ({exc.message}); nothing was filed, retry",
            ) from exc
        return workflow_id

    def handle(self, identifier: str, client: str | None = None) -> WorkflowHandle[Any, Any]:
        """Where the incident was found (an incident stays in the namespace it started in, even
        if its client's policy has since named another), else its client's namespace, else the
        default one; `locate` finds it when clients have namespaces of their own."""
        workflow_id = workflow_id_for(incident_id_from(identifier))
        namespace = self._located.get(workflow_id) or self.namespaces.of(client)
        return self.namespace_client(namespace).get_workflow_handle(workflow_id)

    async def locate(self, identifier: str, client: str | None = None) -> WorkflowHandle[Any, Any]:
        """The incident's handle in its client's namespace; found by `find` when the client is
        not known (a pager's dedup key, an ack link carry only the workflow id)."""
        if client is not None or not self.namespaces.separated:
            return self.handle(identifier, client)
        return (await self.find(identifier))[0]

    async def find(
        self, identifier: str, sees: Callable[[str | None], bool] | None = None
    ) -> tuple[WorkflowHandle[Any, Any], str | None]:
        """The incident's handle and its client (IncidentClient), when all that is known is its
        id; RPCError NOT_FOUND when there is none.

        With one namespace that is one describe, as before namespaces. With several the id
        names no namespace for sure (a Jira-born id names no client; an API-born one is
        ambiguous when client ids contain dashes), so this fans out: it describes the workflow
        in every namespace in use at once. Namespaces may hold the same id (two clients' Jira
        sites both with a SEC project): then only those the caller `sees` count, and if that
        still leaves more than one the request is refused (409) rather than guessed. Where an
        id is in one namespace only, that is remembered: an incident never moves.
        """
        workflow_id = workflow_id_for(incident_id_from(identifier))
        known = self._located.get(workflow_id)
        order = [known] if known else self._suggested_namespaces(incident_id_from(identifier))
        found = await asyncio.gather(*(self._described(ns, workflow_id) for ns in order))
        hits = [(ns, c) for ns, (there, c) in zip(order, found, strict=True) if there]
        if not hits:
            for _, error in found:
                if isinstance(error, RPCError) and error.status != RPCStatusCode.NOT_FOUND:
                    raise error  # a namespace that cannot answer may hold it: do not say "none"
            raise RPCError(f"workflow {workflow_id} not found", RPCStatusCode.NOT_FOUND, b"")
        if len(hits) == 1 and self.namespaces.separated:
            self._located.remember(workflow_id, hits[0][0])
        if len(hits) > 1 and sees is not None:
            hits = [hit for hit in hits if sees(hit[1])] or hits[:1]
        if len(hits) > 1:
            raise HTTPException(
                409,
                f"incident id '{identifier}' exists in more than one client's namespace; "
                "use a token scoped to the client",
            )
        namespace, client = hits[0]
        return self.namespace_client(namespace).get_workflow_handle(workflow_id), client

    def _suggested_namespaces(self, incident_id: str) -> list[str]:
        """Every namespace in use, those of the clients the id suggests first."""
        if not self.namespaces.separated:
            return self.namespaces.all()
        project = incident_id.split("-", 1)[0]
        suggested = [
            cid
            for cid, policy in self.policies.items()
            if incident_id.startswith(f"{cid}-")
            or (policy.jira.project or self.settings.jira_project) == project
        ]
        first = self.namespaces.for_clients(suggested)
        return first + [ns for ns in self.namespaces.all() if ns not in first]

    async def _described(
        self, namespace: str, workflow_id: str
    ) -> tuple[bool, str | RPCError | None]:
        """(True, its client) when the workflow is in `namespace`; (False, the error) else."""
        handle = self.namespace_client(namespace).get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            return False, exc
        return True, description.typed_search_attributes.get(SA.CLIENT.key)

    async def view(self, identifier: str, client: str | None = None) -> IncidentView:
        """`client`, when the caller knows it (from `incident_client`), names the namespace."""
        try:
            # Asked again while a continued run starts (intake/queries.py).
            return await query_state(await self.locate(identifier, client))
        except RPCError as exc:
            raise _http_error(identifier, exc) from exc
        except WorkflowQueryFailedError as exc:
            raise HTTPException(409, f"incident state unavailable: {exc}") from exc

    async def act(
        self,
        identifier: str,
        update: Any,
        action: BaseModel,
        update_id: str | None = None,
        client: str | None = None,
    ) -> IncidentView:
        """`update_id` names the outside event acted on: Temporal runs one update id once per
        run and answers repeats with the first outcome, so a redelivery cannot act twice.
        `client`, when known, names the namespace; else the incident is found by its id."""
        try:
            handle = await self.locate(identifier, client)
        except RPCError as exc:
            raise _http_error(identifier, exc) from exc
        try:
            # An update waits for a worker; without one, answer rather than hang the caller.
            answer = await asyncio.wait_for(
                handle.execute_update(update, action, id=update_id), ACT_TIMEOUT
            )
        except TimeoutError as exc:
            raise HTTPException(
                503, f"no worker answered within {ACT_TIMEOUT:.0f} s; nothing was changed, retry"
            ) from exc
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause)
            raise HTTPException(409, f"refused: {reason}") from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND and await self.is_closed(handle):
                raise HTTPException(409, f"refused: incident '{identifier}' is closed") from exc
            raise _http_error(identifier, exc) from exc
        return await self._whole(handle, answer)

    async def _whole(self, handle: WorkflowHandle[Any, Any], answer: IncidentView) -> IncidentView:
        """The incident after the action, timeline and all: an update answers with its latest
        entries only (they are kept in the history), so the rest comes from a query. Should the
        query fail, the action still happened: answer with what the update said."""
        try:
            return await asyncio.wait_for(query_state(handle), ACT_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError, TimeoutError) as exc:
            log.warning("incident %s acted on, but its state could not be read: %s", handle.id, exc)
            return answer

    async def is_closed(self, handle: WorkflowHandle[Any, Any]) -> bool:
        """An update to a finished workflow reports NOT_FOUND; tell "closed" from "never was"."""
        try:
            return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        except RPCError:
            return False


def _via_api(action: Action) -> Action:
    """Only the pager and Jira webhooks may claim their channels; an API call is the API (or the
    CLI, which calls it)."""
    return action.model_copy(update={"channel": "cli" if action.channel == "cli" else "api"})


def _http_error(identifier: str, exc: RPCError) -> HTTPException:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(404, f"no incident '{identifier}'")
    if exc.status == RPCStatusCode.FAILED_PRECONDITION:
        return HTTPException(409, f"incident '{identifier}' is closed: {exc.message}")
    return HTTPException(503, f"Temporal error: {exc.message}")


def create_app(settings: Settings | None = None) -> FastAPI:
    intake = Intake(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        intake.load_policies()
        connecting = asyncio.create_task(intake.keep_connecting())
        yield
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await intake.close()

    app = FastAPI(
        title="Incident Desk intake API",
        version="1",
        description="File security incident reports and act on them. Each incident is a "
        "durable Temporal workflow; agents work in Jira, responders get pages.",
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.state.intake = intake
    observe(app, intake)
    install_auth(app, intake)
    install_jira_webhooks(app, intake)
    app.include_router(pager_webhooks)
    app.include_router(opsgenie_webhooks)
    app.include_router(obligations_api)
    app.include_router(lifecycle_api)
    app.include_router(updates_api)
    app.include_router(assessments_api)
    app.include_router(checklist_api)
    app.include_router(reports_api)
    app.include_router(status_api)
    app.include_router(client_ack)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> JSONResponse:
        health = await intake.health()
        return JSONResponse(health.model_dump(), status_code=200 if health.ready else 503)

    @app.post(
        "/api/v1/incidents",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IncidentAccepted,
        tags=["incidents"],
    )
    async def file_incident(
        report: IncidentReport,
        request: Request,
        principal: Annotated[Principal, Depends(requires(Permission.FILE))],
    ) -> IncidentAccepted:
        """File a report. The same `client` + `external_ref` twice is one incident."""
        authorize_filing(principal, report.client, intake.policies, request)
        accepted = await intake.file(report, str(request.base_url).rstrip("/"))
        await check_filed_client(intake, accepted.workflow_id, report.client)
        return accepted

    @app.get("/api/v1/incidents/{incident_id}", response_model=IncidentView, tags=["incidents"])
    async def get_incident(
        incident_id: IncidentId,
        request: Request,
        principal: Annotated[Principal, Depends(requires(Permission.READ))],
    ) -> IncidentView:
        client = await incident_client(intake, incident_id, principal, request)
        return await intake.view(incident_id, client)

    @app.post(
        "/api/v1/incidents/{incident_id}/ack", response_model=IncidentView, tags=["incidents"]
    )
    async def acknowledge(
        incident_id: IncidentId,
        action: Action,
        request: Request,
        principal: Annotated[Principal, Depends(requires(Permission.ACKNOWLEDGE))],
    ) -> IncidentView:
        """Take ownership of the incident; the page is acknowledged and Jira is told."""
        client = await incident_client(intake, incident_id, principal, request)
        action = attributed(_via_api(action), principal, "Acknowledged")
        return await intake.act(incident_id, IncidentWorkflow.acknowledge, action, client=client)

    @app.post(
        "/api/v1/incidents/{incident_id}/resolve", response_model=IncidentView, tags=["incidents"]
    )
    async def resolve(
        incident_id: IncidentId,
        action: Action,
        request: Request,
        principal: Annotated[Principal, Depends(requires(Permission.RESOLVE))],
    ) -> IncidentView:
        """Resolve an acknowledged incident: its pages are resolved and the post-incident review
        starts (runs from before the review stage close here)."""
        client = await incident_client(intake, incident_id, principal, request)
        action = attributed(_via_api(action), principal, "Resolved")
        return await intake.act(incident_id, IncidentWorkflow.resolve, action, client=client)

    return app
