"""A stand-in Jira Cloud for the embedded default stack and for tests.

It speaks the slice of the Jira Cloud platform REST API v2 that the `jira` PyPI library
(pycontribs/jira) uses for Incident Desk, so `jira.JIRA(server=url, basic_auth=(user, token))`
works against it unchanged, and its answers are checked against Atlassian's published OpenAPI
contract in `tests/contract/test_jira_sandbox.py`. State lives in SQLite (`sandbox.jira_store`),
so issue keys keep counting after a restart just as they do on a real instance. The JSON shapes
are in `sandbox.jira_render`, the JQL subset in `sandbox.jira_jql`, injected faults in
`sandbox.jira_faults`; this module holds the routes.

It reports `deploymentType: "Cloud"`, because that is what production runs against. The library
therefore searches with the enhanced `/rest/api/2/search/jql` endpoint (`nextPageToken` paging);
the retired `/rest/api/2/search` answers 410 Gone here, as it does on Jira Cloud today.
With `--flavour datacenter` it imitates Jira Data Center instead: `deploymentType: "Server"`,
personal access tokens accepted as `Authorization: Bearer` (besides basic auth), the classic
`/rest/api/2/search` with `startAt`/`total` paging and no `/search/jql`, and `myself` naming the
user by `name`/`key`. The Cloud flavour refuses Bearer tokens, as Jira Cloud does for anything but
OAuth 2.0 apps.

Jira routes (all under /rest/api/2, HTTP basic auth required, errors in Jira's
`{"errorMessages": [...], "errors": {...}}` shape):

    GET  serverInfo | myself | field | issuetype | status | project | project/{idOrKey}
    POST issue                                        create (201 CreatedIssue)
    GET|PUT|DELETE issue/{idOrKey}                    read / edit (204) / delete (204)
    GET|POST issue/{idOrKey}/transitions              list / do (204)
    GET|POST issue/{idOrKey}/comment                  list / add (201)
    GET  issue/{idOrKey}/comment/{id}
    GET  issue/{idOrKey}/properties
    GET|PUT|DELETE issue/{idOrKey}/properties/{propertyKey}
    GET|POST search/jql                               the JQL subset in `sandbox.jira_jql`

Users: the main user (`--user`/`--token`, the account Incident Desk uses) and `agent`/`agent`
("Sandbox Agent"), a person to act as. A REST call acts as its basic-auth user: it is the reporter
of the issues it creates, the author of its comments and the `user` of its webhooks.

Webhooks: creating, editing, transitioning, commenting on and deleting issues through the REST
API sends Jira Cloud's webhook events (`jira:issue_created`, `jira:issue_updated` with a
`changelog`, `comment_created`, `jira:issue_deleted`) to every registered URL, signed with its
secret, asynchronously and with retries (`sandbox.jira_webhooks`).

Workflow: "To Do" (status 10000) → "In Progress" (10001) → "Done" (10002), and the incident
lifecycle's "Validated", "False Alarm", "Contained", "Resolved", "Closed" (10003-10007); every
status can move to every other one through transitions 11 / 21 / ... / 81, named after their
target status.

Sandbox-only routes (no auth, not part of Jira; for tests and humans):

    GET    /sandbox/health            {"status": "ok"}
    GET    /sandbox/issues            every issue: key, summary, status, labels, properties,
                                      comments, ... (no paging)
    POST   /sandbox/faults            inject failures into the next matching /rest requests:
           {"status": 503, "count": 2, "retry_after": 1, "path": "/rest/api/2/issue",
            "method": "GET", "delay": 0.0}
           - status: HTTP status to answer instead of serving the request (omit it to only delay)
           - count: how many matching requests are affected (default 1)
           - retry_after: seconds for a Retry-After header (optional)
           - path / method: only requests whose path starts with `path` / with that method
           - delay: seconds to wait before answering (or before serving, without `status`)
           Faults apply before authentication, like a proxy or load balancer in front of Jira.
    GET    /sandbox/faults            pending faults
    DELETE /sandbox/faults            clear them
    POST   /sandbox/webhooks          register a webhook: {"url": ..., "secret": optional,
                                      "events": optional list of event names}
    GET    /sandbox/webhooks          registered webhooks (never their secrets)
    DELETE /sandbox/webhooks/{id}     unregister one
    GET    /sandbox/webhooks/deliveries[?event=...&issue=KEY]
                                      every delivery (latest 1000): identifier, state, attempts,
                                      the exact headers and body sent
    DELETE /sandbox/webhooks/deliveries   forget them

Run it: `python -m sandbox.jira --host 127.0.0.1 --port 8080 --db .state/jira.sqlite3
[--webhook-url URL ...] [--webhook-secret S]` (the secret defaults to $JIRA_WEBHOOK_SECRET).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import fastapi
import uvicorn
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox import jira_fields, jira_jql
from sandbox.jira_faults import FaultInjector, FaultSpec
from sandbox.jira_render import (
    API,
    ISSUE_TYPE_ID,
    PROJECT_ID,
    SUBTASK_TYPE,
    SUBTASK_TYPE_ID,
    SandboxConfig,
    SandboxUser,
    comment_json,
    field_selector,
    fields_json,
    issue_json,
    issue_types_json,
    jira_time,
    project_json,
    property_selector,
    status_json,
    user_json,
)
from sandbox.jira_store import WORKFLOW, Comment, Issue, JiraStore, Status, now_utc
from sandbox.jira_webhooks import (
    WebhookRegistration,
    WebhookSender,
    change,
    comment_event,
    issue_event,
    status_changes,
)

PROPERTY_VALUE_MAX_BYTES = 32768
SUMMARY_MAX = 255
SEARCH_MAX_RESULTS = 100
_NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
# A person to act as in tests, distinct from the account Incident Desk uses.
# `client` is someone at the demo client (policies/clients/demo.yaml `jira_users`).
DEFAULT_AGENTS = (
    SandboxUser("agent", "agent", "Sandbox Agent"),
    SandboxUser("client", "client", "Demo Client Security"),
)


# -- errors ---------------------------------------------------------------------------------------


Flavour = Literal["cloud", "datacenter"]


class JiraJSONResponse(JSONResponse):
    media_type = "application/json;charset=UTF-8"


class JiraApiError(Exception):
    """An error answer in Jira's shape; raised anywhere inside a route."""

    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}
        self.headers = headers or {}


def jira_error(
    status: int,
    messages: list[str] | None = None,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JiraJSONResponse:
    return JiraJSONResponse(
        {"errorMessages": messages or [], "errors": errors or {}},
        status_code=status,
        headers=headers,
    )


# -- request helpers ------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise JiraApiError(400, ["No content to map due to end-of-input"])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise JiraApiError(400, [f"The request body is not valid JSON: {exc}"]) from None


async def _json_object(request: Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise JiraApiError(400, ["The request body must be a JSON object."])
    return body


def _int_param(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise JiraApiError(400, [f"The value '{raw}' is not valid for {name}."]) from None
    if value < minimum:
        raise JiraApiError(400, [f"The value '{raw}' is not valid for {name}."])
    return value


def _check_summary(value: Any, errors: dict[str, str]) -> str | None:
    if not isinstance(value, str):
        errors["summary"] = "Operation value must be a string"
        return None
    if not value.strip():
        errors["summary"] = "You must specify a summary of the issue."
        return None
    if "\n" in value or "\r" in value:
        errors["summary"] = "The summary is invalid because it contains newline characters."
        return None
    if len(value) > SUMMARY_MAX:
        errors["summary"] = f"Summary must be less than {SUMMARY_MAX} characters."
        return None
    return value


def _check_label(value: Any, errors: dict[str, str]) -> str | None:
    if not isinstance(value, str) or not value:
        errors["labels"] = "Labels must be non-empty strings."
        return None
    if any(ch.isspace() for ch in value):
        errors["labels"] = f"The label '{value}' contains spaces which is invalid."
        return None
    if len(value) > 255:
        errors["labels"] = "The label must not be longer than 255 characters."
        return None
    return value


def _check_labels(value: Any, errors: dict[str, str]) -> list[str] | None:
    if not isinstance(value, list):
        errors["labels"] = "Labels must be given as a list of strings."
        return None
    labels: list[str] = []
    for item in value:
        label = _check_label(item, errors)
        if label is None:
            return None
        if label not in labels:
            labels.append(label)
    return labels


@dataclass
class _Edit:
    summary: str | None = None
    description: str | None = None
    set_description: bool = False
    labels: list[str] | None = None
    comments: list[str] | None = None


def _parse_edit(
    fields: Any, update: Any, current_labels: list[str], *, allowed_extra: frozenset[str]
) -> tuple[_Edit, dict[str, str]]:
    """Validate `fields` + `update` of an edit, create or transition body like Jira does."""
    errors: dict[str, str] = {}
    edit = _Edit()
    if fields is None:
        fields = {}
    if update is None:
        update = {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        return edit, {"fields": "'fields' and 'update' must be JSON objects."}
    for name in set(fields) & set(update):
        errors[name] = f"Field '{name}' cannot be set in both 'fields' and 'update'."
    for name, value in fields.items():
        if name == "summary":
            edit.summary = _check_summary(value, errors)
        elif name == "description":
            if value is not None and not isinstance(value, str):
                errors["description"] = "Operation value must be a string"
            edit.description, edit.set_description = value, True
        elif name == "labels":
            edit.labels = _check_labels(value, errors)
        elif name not in allowed_extra:
            errors[name] = _NOT_SETTABLE.format(name)
    labels = list(current_labels)
    for name, operations in update.items():
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            errors[name] = "Update operations must be a list of objects."
            continue
        for operation in operations:
            for verb, value in operation.items():
                if name == "labels" and verb in ("add", "remove"):
                    label = _check_label(value, errors)
                    if label is not None and verb == "add" and label not in labels:
                        labels.append(label)
                    if label is not None and verb == "remove" and label in labels:
                        labels.remove(label)
                    edit.labels = labels
                elif name == "labels" and verb == "set":
                    checked = _check_labels(value, errors)
                    if checked is not None:
                        labels = checked
                        edit.labels = labels
                elif name == "summary" and verb == "set":
                    edit.summary = _check_summary(value, errors)
                elif name == "description" and verb == "set":
                    if value is not None and not isinstance(value, str):
                        errors["description"] = "Operation value must be a string"
                    edit.description, edit.set_description = value, True
                elif name == "comment" and verb == "add":
                    body = value.get("body") if isinstance(value, dict) else None
                    if not isinstance(body, str) or not body.strip():
                        errors["comment"] = "Comment body can not be empty!"
                    else:
                        edit.comments = [*(edit.comments or []), body]
                else:
                    errors[name] = _NOT_SETTABLE.format(name)
    return edit, errors


# -- the application ------------------------------------------------------------------------------


def create_app(
    db_path: Path,
    *,
    user: str = "sandbox",
    token: str = "sandbox",
    project_key: str = "SEC",
    issue_type: str = "Incident",
    agents: Sequence[SandboxUser] = DEFAULT_AGENTS,
    webhook_urls: Sequence[str] = (),
    webhook_secret: str | None = None,
    webhook_backoff_seconds: float = 0.25,
    flavour: Flavour = "cloud",
    custom_fields: Sequence[str] = (),
) -> fastapi.FastAPI:
    """Build the stand-in; the SQLite file is opened at startup and closed at shutdown.

    Each of `webhook_urls` is registered at startup, signed with `webhook_secret` if given.
    `custom_fields` are the custom field ids the project's create screen offers (any JSON value
    is stored as given); Jira refuses any other field, and so does the stand-in.
    `flavour` picks what it imitates: Jira Cloud (basic auth with an API token only, enhanced
    search) or Jira Data Center (personal access tokens as Bearer besides basic auth, reports
    itself as "Server", the classic `/search` with `startAt` paging, users named by `name`).
    """
    datacenter = flavour == "datacenter"
    cfg = SandboxConfig(
        project_key=project_key.upper(),
        issue_type=issue_type,
        user=user,
        token=token,
        agents=tuple(agents),
        # The incident fields of docs/jira.md are always there, as on a configured Jira.
        custom_fields=tuple(dict.fromkeys([*jira_fields.INCIDENT_FIELD_IDS, *custom_fields])),
    )
    faults = FaultInjector()
    holder: dict[str, Any] = {}  # the store and the webhook sender, while running

    @asynccontextmanager
    async def lifespan(_: fastapi.FastAPI) -> AsyncIterator[None]:
        holder["store"] = JiraStore(db_path)
        sender = holder["webhooks"] = WebhookSender(backoff_seconds=webhook_backoff_seconds)
        for url in webhook_urls:
            sender.register(url, webhook_secret)
        try:
            yield
        finally:
            holder.pop("webhooks").close()
            holder.pop("store").close()

    app = fastapi.FastAPI(
        title="Incident Desk Jira sandbox",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sandbox_config = cfg
    app.state.faults = faults

    def store() -> JiraStore:
        try:
            store_: JiraStore = holder["store"]
        except KeyError:
            raise JiraApiError(503, ["The Jira sandbox is not running."]) from None
        return store_

    def webhooks() -> WebhookSender:
        try:
            sender: WebhookSender = holder["webhooks"]
        except KeyError:
            raise JiraApiError(503, ["The Jira sandbox is not running."]) from None
        return sender

    def actor(request: Request) -> str:
        """The basic-auth user of the request: the author of what it changes, as in Jira."""
        return str(getattr(request.state, "jira_user", cfg.user))

    def emit_issue(
        request: Request,
        issue_id: int,
        *,
        event: str,
        type_name: str,
        items: list[dict[str, Any]] | None = None,
        comment: Comment | None = None,
    ) -> None:
        issue = load_issue(str(issue_id))
        changelog = (store().next_changelog_id(), items) if items else None
        webhooks().emit(
            issue_event(
                _base(request),
                cfg,
                event=event,
                type_name=type_name,
                actor=actor(request),
                issue=issue,
                changelog=changelog,
                comment=comment,
            )
        )

    def emit_comments(request: Request, issue_id: int, comments: list[Comment]) -> None:
        """Jira sends `comment_created` besides the `jira:issue_updated` that carries a comment;
        receivers must tolerate both (see ../shared/specs/README.md, section 6)."""
        if not comments:
            return
        issue = load_issue(str(issue_id))
        for comment in comments:
            webhooks().emit(
                comment_event(
                    _base(request), cfg, event="comment_created", issue=issue, comment=comment
                )
            )

    def load_issue(id_or_key: str) -> Issue:
        issue = store().get_issue(id_or_key)
        if issue is None:
            raise JiraApiError(404, [_NO_ISSUE])
        return issue

    # -- cross-cutting: faults, then authentication ----------------------------------------------

    def authenticated(header: str | None) -> str | None:
        """The user the header proves to be, if any; every user is compared, in constant time.

        Basic auth everywhere; a Bearer personal access token only on Data Center, as on the
        real products (Jira Cloud takes Bearer only for OAuth 2.0 apps, which we do not model).
        Each user's token doubles as their personal access token.
        """
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() == "bearer" and datacenter:
            presented = credentials.strip().encode()
            found = None
            for candidate in cfg.users:
                if hmac.compare_digest(presented, candidate.token.encode()):
                    found = candidate.name
            return found
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, secret = decoded.partition(":")
        found = None
        for candidate in cfg.users:
            if hmac.compare_digest(name.encode(), candidate.name.encode()) & hmac.compare_digest(
                secret.encode(), candidate.token.encode()
            ):
                found = candidate.name
        return found

    @app.middleware("http")
    async def gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith("/rest/"):
            return await call_next(request)
        fault = faults.take(request.method, path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                return jira_error(
                    fault.status, [f"Injected fault: HTTP {fault.status}."], headers=headers
                )
        header = request.headers.get("authorization")
        user = authenticated(header)
        if user is None:
            headers = {"WWW-Authenticate": 'Basic realm="Incident Desk Jira sandbox"'}
            if header:
                headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
            return jira_error(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
                headers=headers,
            )
        request.state.jira_user = user
        return await call_next(request)

    @app.exception_handler(JiraApiError)
    async def _jira_api_error(_: Request, exc: JiraApiError) -> Response:
        return jira_error(exc.status, exc.messages, exc.errors, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            message = f"No such resource in the Jira sandbox: {request.method} {request.url.path}"
        else:
            message = str(exc.detail)
        return jira_error(exc.status_code, [message], headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        messages = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return jira_error(400, messages)

    # -- server and user information -------------------------------------------------------------

    @app.get(f"{API}/serverInfo")
    async def server_info(request: Request) -> Response:
        base = _base(request)
        return JiraJSONResponse(
            {
                "baseUrl": base,
                "displayUrl": base,
                "version": "9.12.0" if datacenter else "1001.0.0-SNAPSHOT",
                "versionNumbers": [9, 12, 0] if datacenter else [1001, 0, 0],
                "deploymentType": "Server" if datacenter else "Cloud",
                "buildNumber": 100292,
                "buildDate": "2026-11-01T00:00:00.000+0000",
                "serverTime": jira_time(now_utc()),
                "scmInfo": "incident-desk-sandbox",
                "serverTitle": "Incident Desk Jira sandbox",
                "serverTimeZone": "UTC",
            }
        )

    @app.get(f"{API}/myself")
    async def myself(request: Request) -> Response:
        name = actor(request)
        user = (
            {  # Data Center names users by name and key; it has no accountId
                "self": f"{_base(request)}{API}/user?username={name}",
                "key": name,
                "name": name,
                "displayName": cfg.display_name(name),
                "active": True,
                "timeZone": "UTC",
            }
            if datacenter
            else user_json(_base(request), name, cfg.display_name(name))
        )
        return JiraJSONResponse(
            {
                **user,
                "locale": "en_US",
                "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []},
                "expand": "groups,applicationRoles",
            }
        )

    @app.get(f"{API}/field")
    async def fields() -> Response:
        return JiraJSONResponse(fields_json() + jira_fields.fields_json(cfg.custom_fields))

    @app.get(f"{API}/issuetype")
    async def issue_types(request: Request) -> Response:
        return JiraJSONResponse(issue_types_json(_base(request), cfg))

    @app.get(f"{API}/status")
    async def statuses(request: Request) -> Response:
        base = _base(request)
        return JiraJSONResponse([status_json(base, s) for s in WORKFLOW])

    @app.get(f"{API}/project")
    async def projects(request: Request) -> Response:
        return JiraJSONResponse([project_json(_base(request), cfg)])

    @app.get(API + "/project/{project_id_or_key}")
    async def project(request: Request, project_id_or_key: str) -> Response:
        if project_id_or_key.upper() not in (cfg.project_key, PROJECT_ID):
            raise JiraApiError(404, [f"No project could be found with key '{project_id_or_key}'."])
        return JiraJSONResponse(project_json(_base(request), cfg))

    # -- issues ----------------------------------------------------------------------------------

    @app.post(f"{API}/issue")
    async def create_issue(request: Request) -> Response:
        body = await _json_object(request)
        fields = body.get("fields")
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise JiraApiError(400, ["'fields' must be a JSON object."])
        errors: dict[str, str] = {}

        project = fields.get("project")
        if not isinstance(project, dict) or not (
            str(project.get("key", "")).upper() == cfg.project_key
            or str(project.get("id", "")) == PROJECT_ID
        ):
            errors["project"] = "Specify a valid project ID or key"
        issuetype = fields.get("issuetype")
        issue_type, parent = cfg.issue_type, None
        if not isinstance(issuetype, dict) or not ({"id", "name"} & set(issuetype)):
            errors["issuetype"] = "Specify an issue type"
        elif issuetype.get("name") == SUBTASK_TYPE or str(issuetype.get("id")) == SUBTASK_TYPE_ID:
            issue_type = SUBTASK_TYPE
            parent, problem = subtask_parent(fields.get("parent"))
            if problem:
                errors["parent"] = problem
        elif not (
            issuetype.get("name") == cfg.issue_type or str(issuetype.get("id")) == ISSUE_TYPE_ID
        ):
            errors["issuetype"] = "The issue type selected is invalid."
        elif "parent" in fields:
            errors["parent"] = "Only sub-task issue types can have a parent."
        if "summary" not in fields and "summary" not in (body.get("update") or {}):
            errors["summary"] = "You must specify a summary of the issue."

        custom = {k: v for k, v in fields.items() if k in cfg.custom_fields}
        skip = ("project", "issuetype", "parent", *custom)
        rest = {k: v for k, v in fields.items() if k not in skip}
        edit, edit_errors = _parse_edit(rest, body.get("update"), [], allowed_extra=frozenset())
        errors.update(edit_errors)

        properties: dict[str, Any] = {}
        raw_properties = body.get("properties") or []
        if not isinstance(raw_properties, list) or not all(
            isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p
            for p in raw_properties
        ):
            errors["properties"] = "Properties must be a list of {key, value} objects."
        else:
            properties = {p["key"]: p["value"] for p in raw_properties}
        if errors:
            raise JiraApiError(400, errors=errors)

        assert edit.summary is not None
        issue = store().create_issue(
            project_key=cfg.project_key,
            issue_type=issue_type,
            summary=edit.summary,
            description=edit.description,
            labels=edit.labels or [],
            reporter=actor(request),
            properties=properties,
            custom_fields=custom,
            parent_id=None if parent is None else parent.id,
        )
        for comment in edit.comments or []:
            store().add_comment(issue.id, comment, actor(request))
        emit_issue(request, issue.id, event="jira:issue_created", type_name="issue_created")
        base = _base(request)
        return JiraJSONResponse(
            {"id": str(issue.id), "key": issue.key, "self": f"{base}{API}/issue/{issue.id}"},
            status_code=201,
        )

    def subtask_parent(given: object) -> tuple[Issue | None, str | None]:
        """The parent a sub-task names (`{"key": ...}` or `{"id": ...}`), or why it cannot be
        one: Jira requires it, and a sub-task's parent must be a standard issue."""
        if not isinstance(given, dict) or not ({"id", "key"} & set(given)):
            return None, "Parent issue is required for a sub-task."
        parent = store().get_issue(str(given.get("key") or given.get("id")))
        if parent is None:
            return None, "Could not find issue by id or key."
        if parent.issue_type == SUBTASK_TYPE:
            return None, "Given parent issue does not belong to appropriate hierarchy."
        return parent, None

    @app.get(API + "/issue/{issue_id_or_key}")
    async def get_issue(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        params = request.query_params
        wanted = field_selector(params.getlist("fields"), "*all")
        props = property_selector(params.getlist("properties"))
        body = issue_json(_base(request), cfg, issue, wanted, props)
        if wanted("issuelinks"):
            body["fields"]["issuelinks"] = issue_links(_base(request), issue)
        return JiraJSONResponse(body)

    def issue_links(base: str, issue: Issue) -> list[dict[str, Any]]:
        out = []
        for link_id, type_id, inward_id, outward_id in store().links_of(issue.id):
            other = store().get_issue(str(outward_id if inward_id == issue.id else inward_id))
            if other is None:
                continue
            side = "outwardIssue" if inward_id == issue.id else "inwardIssue"
            out.append(
                {
                    "id": str(link_id),
                    "self": f"{base}{API}/issueLink/{link_id}",
                    "type": jira_fields.link_type_json(base, type_id),
                    side: {
                        "id": str(other.id),
                        "key": other.key,
                        "self": f"{base}{API}/issue/{other.id}",
                        "fields": {
                            "summary": other.summary,
                            "status": status_json(base, other.status),
                        },
                    },
                }
            )
        return out

    @app.get(f"{API}/issueLinkType")
    async def issue_link_types(request: Request) -> Response:
        base = _base(request)
        types = [jira_fields.link_type_json(base, t[0]) for t in jira_fields.LINK_TYPES]
        return JiraJSONResponse({"issueLinkTypes": types})

    @app.post(f"{API}/issueLink")
    async def create_issue_link(request: Request) -> Response:
        body = await _json_object(request)
        kind = body.get("type") if isinstance(body.get("type"), dict) else {}
        type_id = jira_fields.link_type_named(str(kind.get("name", ""))) or (
            str(kind.get("id"))
            if str(kind.get("id")) in {t[0] for t in jira_fields.LINK_TYPES}
            else None
        )
        if type_id is None:
            raise JiraApiError(404, [f"No issue link type with name '{kind.get('name')}' found."])
        ends = []
        for side in ("inwardIssue", "outwardIssue"):
            ref = body.get(side) if isinstance(body.get(side), dict) else {}
            ends.append(load_issue(str(ref.get("key") or ref.get("id") or "")))
        store().add_link(type_id, ends[0].id, ends[1].id)
        return Response(status_code=201)

    @app.put(API + "/issue/{issue_id_or_key}")
    async def edit_issue(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        body = await _json_object(request)
        given = body.get("fields")
        custom = (
            {k: v for k, v in given.items() if k in cfg.custom_fields}
            if isinstance(given, dict)
            else {}
        )
        rest = (
            {k: v for k, v in given.items() if k not in custom}
            if isinstance(given, dict)
            else given
        )
        edit, errors = _parse_edit(
            rest, body.get("update"), issue.labels, allowed_extra=frozenset()
        )
        if errors:
            raise JiraApiError(400, errors=errors)
        custom = {k: v for k, v in custom.items() if issue.custom_fields.get(k) != v}
        if custom:
            store().set_custom_fields(issue.id, custom)
        added = store().update_issue(
            issue.id,
            summary=edit.summary,
            description=edit.description,
            set_description=edit.set_description,
            labels=edit.labels,
            comments=[(c, actor(request)) for c in edit.comments or []],
        )
        items = _edit_changes(issue, edit) + [
            jira_fields.field_change(k, issue.custom_fields.get(k), v) for k, v in custom.items()
        ]
        if items:
            emit_issue(
                request,
                issue.id,
                event="jira:issue_updated",
                type_name="issue_updated",
                items=items,
                comment=added[-1] if added else None,
            )
        elif added:
            emit_issue(
                request,
                issue.id,
                event="jira:issue_updated",
                type_name="issue_commented",
                comment=added[-1],
            )
        emit_comments(request, issue.id, added)
        if request.query_params.get("returnIssue", "").lower() == "true":
            updated = load_issue(str(issue.id))
            return JiraJSONResponse(
                issue_json(_base(request), cfg, updated, field_selector([], "*all"))
            )
        return Response(status_code=204)

    @app.delete(API + "/issue/{issue_id_or_key}")
    async def delete_issue(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        payload = issue_event(
            _base(request),
            cfg,
            event="jira:issue_deleted",
            type_name="issue_deleted",
            actor=actor(request),
            issue=issue,
        )
        store().delete_issue(issue.id)
        webhooks().emit(payload)
        return Response(status_code=204)

    # -- transitions -----------------------------------------------------------------------------

    def transition_json(base: str, target: Status) -> dict[str, Any]:
        return {
            "id": target.transition_id,
            "name": target.name,
            "to": status_json(base, target),
            "hasScreen": False,
            "isGlobal": True,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    def available(issue: Issue) -> list[Status]:
        return [s for s in WORKFLOW if s.id != issue.status_id]

    @app.get(API + "/issue/{issue_id_or_key}/transitions")
    async def list_transitions(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        only = request.query_params.get("transitionId")
        base = _base(request)
        transitions = [
            transition_json(base, s)
            for s in available(issue)
            if only is None or s.transition_id == only
        ]
        return JiraJSONResponse({"expand": "transitions", "transitions": transitions})

    @app.post(API + "/issue/{issue_id_or_key}/transitions")
    async def do_transition(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        body = await _json_object(request)
        transition = body.get("transition")
        if not isinstance(transition, dict) or transition.get("id") in (None, ""):
            raise JiraApiError(400, ["Missing 'transition' identifier"])
        # Jira accepts the id as a string or a number; pycontribs/jira sends a number when it
        # is given one.
        wanted_id = str(transition["id"])
        target = next((s for s in available(issue) if s.transition_id == wanted_id), None)
        if target is None:
            raise JiraApiError(400, [f"Transition id '{wanted_id}' is not valid for this issue."])
        edit, errors = _parse_edit(
            body.get("fields"),
            body.get("update"),
            issue.labels,
            allowed_extra=frozenset({"resolution"}),
        )
        if errors:
            raise JiraApiError(400, errors=errors)
        if edit.summary or edit.set_description or edit.labels is not None:
            store().update_issue(
                issue.id,
                summary=edit.summary,
                description=edit.description,
                set_description=edit.set_description,
                labels=edit.labels,
            )
        added = store().set_status(
            issue.id, target, comments=[(c, actor(request)) for c in edit.comments or []]
        )
        emit_issue(
            request,
            issue.id,
            event="jira:issue_updated",
            type_name="issue_generic",
            items=[*status_changes(issue.status, target), *_edit_changes(issue, edit)],
            comment=added[-1] if added else None,
        )
        emit_comments(request, issue.id, added)
        return Response(status_code=204)

    # -- comments --------------------------------------------------------------------------------

    @app.get(API + "/issue/{issue_id_or_key}/comment")
    async def list_comments(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        start = _int_param(request, "startAt", 0)
        limit = _int_param(request, "maxResults", 100)
        order = request.query_params.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):
            raise JiraApiError(400, [f"Invalid orderBy value '{order}'."])
        comments = sorted(issue.comments, key=lambda c: c.id, reverse=order == "-created")
        page = comments[start : start + limit]
        base = _base(request)
        return JiraJSONResponse(
            {
                "comments": [comment_json(base, cfg, issue.id, c) for c in page],
                "maxResults": limit,
                "total": len(comments),
                "startAt": start,
            }
        )

    @app.post(API + "/issue/{issue_id_or_key}/comment")
    async def add_comment(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        body = await _json_object(request)
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise JiraApiError(400, errors={"comment": "Comment body can not be empty!"})
        comment = store().add_comment(issue.id, text, actor(request))
        emit_issue(
            request,
            issue.id,
            event="jira:issue_updated",
            type_name="issue_commented",
            comment=comment,
        )
        emit_comments(request, issue.id, [comment])
        return JiraJSONResponse(
            comment_json(_base(request), cfg, issue.id, comment), status_code=201
        )

    @app.get(API + "/issue/{issue_id_or_key}/comment/{comment_id}")
    async def get_comment(request: Request, issue_id_or_key: str, comment_id: str) -> Response:
        issue = load_issue(issue_id_or_key)
        comment = next((c for c in issue.comments if str(c.id) == comment_id), None)
        if comment is None:
            raise JiraApiError(404, [f"Can not find a comment for key: {comment_id}."])
        return JiraJSONResponse(comment_json(_base(request), cfg, issue.id, comment))

    # -- issue properties ------------------------------------------------------------------------

    @app.get(API + "/issue/{issue_id_or_key}/properties")
    async def list_properties(request: Request, issue_id_or_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        base = _base(request)
        keys = [
            {"self": f"{base}{API}/issue/{issue.id}/properties/{key}", "key": key}
            for key in issue.properties
        ]
        return JiraJSONResponse({"keys": keys})

    @app.get(API + "/issue/{issue_id_or_key}/properties/{property_key}")
    async def get_property(issue_id_or_key: str, property_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        if property_key not in issue.properties:
            raise JiraApiError(404, [f"The property with key '{property_key}' does not exist."])
        return JiraJSONResponse({"key": property_key, "value": issue.properties[property_key]})

    @app.put(API + "/issue/{issue_id_or_key}/properties/{property_key}")
    async def set_property(request: Request, issue_id_or_key: str, property_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        if len(property_key) > 255:
            raise JiraApiError(400, ["The property key cannot be longer than 255 characters."])
        raw = await request.body()
        if len(raw) > PROPERTY_VALUE_MAX_BYTES:
            raise JiraApiError(
                400,
                [f"The property value cannot be longer than {PROPERTY_VALUE_MAX_BYTES} bytes."],
            )
        value = await _json_body(request)
        created = store().set_property(issue.id, property_key, value)
        return Response(status_code=201 if created else 200)

    @app.delete(API + "/issue/{issue_id_or_key}/properties/{property_key}")
    async def delete_property(issue_id_or_key: str, property_key: str) -> Response:
        issue = load_issue(issue_id_or_key)
        if not store().delete_property(issue.id, property_key):
            raise JiraApiError(404, [f"The property with key '{property_key}' does not exist."])
        return Response(status_code=204)

    # -- search ----------------------------------------------------------------------------------

    def run_search(
        base: str,
        jql: str,
        *,
        token: str | None,
        max_results: int,
        fields: list[str],
        properties: list[str],
        start_at: int | None = None,
    ) -> dict[str, Any]:
        """Enhanced search (`nextPageToken`), or Data Center's classic one when `start_at` is
        given (`startAt`, `maxResults`, `total`)."""
        try:
            query = jira_jql.parse(jql)
        except jira_jql.JqlError as exc:
            raise JiraApiError(400, [str(exc)]) from None
        if not query.clauses:
            # Jira Cloud's enhanced search refuses queries that would scan everything.
            raise JiraApiError(
                400,
                [
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ],
            )
        for clause in query.clauses:
            if clause.field == "project":
                if clause.value.upper() not in (cfg.project_key, PROJECT_ID):
                    raise JiraApiError(
                        400, [f"The value '{clause.value}' does not exist for the field 'project'."]
                    )
            elif clause.field == "key" and store().get_issue(clause.value) is None:
                raise JiraApiError(
                    400, [f"An issue with key '{clause.value}' does not exist for field 'key'."]
                )
        issues = store().candidates(query.clauses)
        matching = [i for i in issues if all(_matches(i, c) for c in query.clauses)]
        for sort_field, descending in reversed(query.order_by or (("created", True),)):
            matching.sort(key=_sort_key(sort_field), reverse=descending)
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except (ValueError, binascii.Error):
            raise JiraApiError(400, ["The nextPageToken is invalid or has expired."]) from None
        limit = max(1, min(max_results, SEARCH_MAX_RESULTS))
        if start_at is not None:
            offset = start_at
        page = matching[offset : offset + limit]
        wanted = field_selector(fields, "id")
        props = property_selector(properties)
        if start_at is not None:
            return {
                "startAt": start_at,
                "maxResults": limit,
                "total": len(matching),
                "issues": [issue_json(base, cfg, i, wanted, props) for i in page],
            }
        result: dict[str, Any] = {
            "issues": [issue_json(base, cfg, i, wanted, props) for i in page],
            "isLast": offset + limit >= len(matching),
        }
        if not result["isLast"]:
            result["nextPageToken"] = base64.urlsafe_b64encode(
                str(offset + limit).encode()
            ).decode()
        return result

    @app.get(f"{API}/search/jql")
    async def search_get(request: Request) -> Response:
        if datacenter:  # Data Center has only the classic search
            raise JiraApiError(404, [f"No such resource: {request.url.path}"])
        params = request.query_params
        return JiraJSONResponse(
            run_search(
                _base(request),
                params.get("jql", ""),
                token=params.get("nextPageToken"),
                max_results=_int_param(request, "maxResults", 50),
                fields=params.getlist("fields"),
                properties=params.getlist("properties"),
            )
        )

    @app.post(f"{API}/search/jql")
    async def search_post(request: Request) -> Response:
        if datacenter:
            raise JiraApiError(404, [f"No such resource: {request.url.path}"])
        body = await _json_object(request)
        max_results = body.get("maxResults", 50)
        if not isinstance(max_results, int) or max_results < 0:
            raise JiraApiError(400, ["maxResults must be a non-negative integer."])
        fields = body.get("fields") or []
        properties = body.get("properties") or []
        if not isinstance(fields, list) or not isinstance(properties, list):
            raise JiraApiError(400, ["fields and properties must be lists of strings."])
        return JiraJSONResponse(
            run_search(
                _base(request),
                str(body.get("jql") or ""),
                token=None if body.get("nextPageToken") is None else str(body["nextPageToken"]),
                max_results=max_results,
                fields=[str(f) for f in fields],
                properties=[str(p) for p in properties],
            )
        )

    @app.api_route(f"{API}/search", methods=["GET", "POST"])
    async def search_classic(request: Request) -> Response:
        if datacenter:
            if request.method == "POST":
                body = await _json_object(request)
                jql, start = str(body.get("jql") or ""), body.get("startAt", 0)
                limit, fields = body.get("maxResults", 50), body.get("fields") or []
                properties = body.get("properties") or []
                if not isinstance(start, int) or not isinstance(limit, int) or start < 0:
                    raise JiraApiError(400, ["startAt and maxResults must be integers."])
            else:
                params = request.query_params
                jql, start = params.get("jql", ""), _int_param(request, "startAt", 0)
                limit = _int_param(request, "maxResults", 50)
                fields = [f for v in params.getlist("fields") for f in v.split(",")]
                properties = [p for v in params.getlist("properties") for p in v.split(",")]
            return JiraJSONResponse(
                run_search(
                    _base(request),
                    jql,
                    token=None,
                    max_results=limit,
                    fields=[str(f) for f in fields],
                    properties=[str(p) for p in properties],
                    start_at=start,
                )
            )
        return jira_error(
            410,
            [
                "The requested API has been removed. Please migrate to the /rest/api/2/search/jql "
                "API (see https://developer.atlassian.com/changelog/#CHANGE-2046)."
            ],
        )

    # -- sandbox-only routes ---------------------------------------------------------------------

    @app.get("/sandbox/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sandbox/issues")
    async def sandbox_issues() -> list[dict[str, Any]]:
        return [
            {
                "id": str(issue.id),
                "key": issue.key,
                "summary": issue.summary,
                "description": issue.description,
                "status": issue.status.name,
                "labels": issue.labels,
                "properties": issue.properties,
                "custom_fields": issue.custom_fields,
                "project": issue.project_key,
                "comments": [
                    {"id": str(c.id), "body": c.body, "created": jira_time(c.created)}
                    for c in issue.comments
                ],
                "created": jira_time(issue.created),
                "updated": jira_time(issue.updated),
            }
            for issue in store().list_issues()
        ]

    @app.post("/sandbox/webhooks", status_code=201)
    async def add_webhook(registration: WebhookRegistration) -> dict[str, Any]:
        webhook = webhooks().register(
            str(registration.url), registration.secret, registration.events
        )
        return webhook.public()

    @app.get("/sandbox/webhooks")
    async def list_webhooks() -> list[dict[str, Any]]:
        return [w.public() for w in webhooks().webhooks()]

    @app.delete("/sandbox/webhooks/{webhook_id}", status_code=204)
    async def remove_webhook(webhook_id: int) -> Response:
        if not webhooks().unregister(webhook_id):
            raise JiraApiError(404, [f"No webhook {webhook_id}."])
        return Response(status_code=204)

    @app.get("/sandbox/webhooks/deliveries")
    async def list_deliveries(
        event: str | None = None, issue: str | None = None
    ) -> list[dict[str, Any]]:
        found = webhooks().deliveries(event=event, issue_key=issue.upper() if issue else None)
        return [d.public() for d in found]

    @app.delete("/sandbox/webhooks/deliveries", status_code=204)
    async def clear_deliveries() -> Response:
        webhooks().clear_deliveries()
        return Response(status_code=204)

    @app.post("/sandbox/faults", status_code=201)
    async def add_fault(spec: FaultSpec) -> dict[str, Any]:
        return asdict(faults.add(spec))

    @app.get("/sandbox/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return [asdict(f) for f in faults.pending()]

    @app.delete("/sandbox/faults", status_code=204)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    return app


def _edit_changes(before: Issue, edit: _Edit) -> list[dict[str, Any]]:
    """Changelog items for the fields an edit really changed (Jira omits no-op changes)."""
    items = []
    if edit.summary is not None and edit.summary != before.summary:
        items.append(change("summary", before.summary, edit.summary))
    if edit.set_description and edit.description != before.description:
        items.append(change("description", before.description, edit.description))
    if edit.labels is not None and edit.labels != before.labels:
        items.append(change("labels", " ".join(before.labels), " ".join(edit.labels)))
    return items


def _matches(issue: Issue, clause: jira_jql.Clause) -> bool:
    if clause.field == "project":
        return True  # a single-project sandbox; unknown projects are refused before matching
    if clause.field == "labels":
        return clause.value in issue.labels
    if clause.field == "key":
        return issue.key == clause.value.upper()
    if clause.field == "parent":
        wanted = clause.value.upper()
        return issue.parent is not None and wanted in (issue.parent.key, str(issue.parent.id))
    assert clause.property_key is not None
    if clause.property_key not in issue.properties:
        return False
    value: Any = issue.properties[clause.property_key]
    for part in clause.property_path:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    if isinstance(value, bool):
        return str(value).lower() == clause.value.lower()
    if isinstance(value, str | int | float):
        return str(value) == clause.value
    return False


def _sort_key(field: str) -> Callable[[Issue], Any]:
    if field == "key":
        return lambda issue: (issue.project_key, int(issue.key.rsplit("-", 1)[1]))
    if field == "updated":
        return lambda issue: (issue.updated, issue.id)
    return lambda issue: (issue.created, issue.id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.jira", description="Run the Incident Desk Jira stand-in."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    parser.add_argument("--project", default="SEC", help="project key (default SEC)")
    parser.add_argument("--issue-type", default="Incident")
    parser.add_argument("--user", default="sandbox")
    parser.add_argument(
        "--token",
        default=os.environ.get("JIRA_TOKEN") or "sandbox",
        help="the main user's API token, on Data Center also their personal access token "
        "(default: $JIRA_TOKEN, which keeps it off the command line)",
    )
    parser.add_argument(
        "--flavour",
        choices=("cloud", "datacenter"),
        default="cloud",
        help="imitate Jira Cloud (default) or Jira Data Center (Bearer PATs, classic search)",
    )
    parser.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        help="send Jira webhooks here (repeatable); more via POST /sandbox/webhooks",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("JIRA_WEBHOOK_SECRET") or None,
        help="sign the --webhook-url deliveries with this secret "
        "(default: $JIRA_WEBHOOK_SECRET, which keeps it off the command line)",
    )
    parser.add_argument(
        "--custom-field",
        action="append",
        default=[],
        help="a custom field id the create screen offers, e.g. customfield_10050 (repeatable)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(
        args.db,
        user=args.user,
        token=args.token,
        project_key=args.project,
        issue_type=args.issue_type,
        webhook_urls=args.webhook_url,
        webhook_secret=args.webhook_secret,
        flavour=args.flavour,
        custom_fields=args.custom_field,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
