"""The intake HTTP server: how reports get in and how people act on incidents over HTTP.

Stateless by design (issue 10 runs several): every fact lives in the incident's workflow, so the
server only validates, names the workflow, and talks to Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
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
from incident_desk.settings import Settings
from incident_desk.tokens import Permission, Principal
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
    """What the routes share: settings, client policies and the (lazily connected) Temporal client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policies: dict[str, ClientPolicy] = {}
        self.policy_error: str | None = None
        self._client: Client | None = None
        self.tracer_provider: TracerProvider | None = None
        self._http = httpx.AsyncClient(timeout=2.0)

    def load_policies(self) -> None:
        try:
            self.policies = load_policies(self.settings.policies_dir)
            self.policy_error = None
        except PolicyError as exc:
            self.policy_error = str(exc)
            log.error("client policies not loaded: %s", exc)

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

    def client(self) -> Client:
        if self._client is None:
            raise HTTPException(503, "Temporal is not reachable yet; retry shortly")
        return self._client

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
        if self._client is None:
            return False, "temporal not connected"
        try:
            response = await self._client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.settings.temporal_namespace,
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
            self.client(),
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
            await self.client().start_workflow(
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

    def handle(self, identifier: str) -> WorkflowHandle[Any, Any]:
        return self.client().get_workflow_handle(workflow_id_for(incident_id_from(identifier)))

    async def view(self, identifier: str) -> IncidentView:
        try:
            # Asked again while a continued run starts (intake/queries.py).
            return await query_state(self.handle(identifier))
        except RPCError as exc:
            raise _http_error(identifier, exc) from exc
        except WorkflowQueryFailedError as exc:
            raise HTTPException(409, f"incident state unavailable: {exc}") from exc

    async def act(
        self, identifier: str, update: Any, action: BaseModel, update_id: str | None = None
    ) -> IncidentView:
        """`update_id` names the outside event acted on: Temporal runs one update id once per
        run and answers repeats with the first outcome, so a redelivery cannot act twice."""
        handle = self.handle(identifier)
        try:
            # An update waits for a worker; without one, answer rather than hang the caller.
            return await asyncio.wait_for(
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
        await incident_client(intake, incident_id, principal, request)
        return await intake.view(incident_id)

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
        await incident_client(intake, incident_id, principal, request)
        action = attributed(_via_api(action), principal, "Acknowledged")
        return await intake.act(incident_id, IncidentWorkflow.acknowledge, action)

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
        await incident_client(intake, incident_id, principal, request)
        action = attributed(_via_api(action), principal, "Resolved")
        return await intake.act(incident_id, IncidentWorkflow.resolve, action)

    return app
