"""Who may call the intake API, and on which clients' incidents (docs/security.md).

Authentication is a middleware on the whole `/api/v1` prefix, not a per-route dependency, so a
route added later cannot forget it. Authorisation is per route: a role check (`requires`) and a
client-scope check on the incident itself (`incident_client`). An incident outside the token's
scope answers exactly like one that does not exist (404), so a token cannot probe for other
clients' incidents. Webhooks and the codec server keep their own signatures and tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

from incident_desk.tokens import Permission, Principal, TokenStore, TokenStoreError
from incidents.lifecycle import Action
from intake.audit import AuditLog
from workflows.names import IncidentSearchAttribute as SA

if TYPE_CHECKING:
    from incidents.policy import ClientPolicy
    from intake.app import Intake

__all__ = [
    "API_PREFIX",
    "ApiGuard",
    "attributed",
    "authorize_filing",
    "check_filed_client",
    "incident_client",
    "install_auth",
    "requires",
]

log = logging.getLogger("incident_desk.intake")

API_PREFIX = "/api/v1"
PRINCIPAL = "incident_desk.principal"
AUDIT_CLIENT = "incident_desk.audit_client"
AUDIT_OUTCOME = "incident_desk.audit_outcome"
UNAUTHENTICATED = b'{"detail":"authentication required"}'

# Documents the scheme in OpenAPI (the docs' "Authorize" button); the middleware enforces it.
bearer = HTTPBearer(auto_error=False, description="An API token: `incident-desk tokens create`")


class ApiGuard:
    """Pure ASGI middleware: authenticate every API call and write its audit line."""

    def __init__(self, app: ASGIApp, store: TokenStore, audit: AuditLog) -> None:
        self.app = app
        self.store = store
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        remote = client[0] if client else None
        try:
            principal = self.store.authenticate(_bearer_token(scope))
        except TokenStoreError as exc:
            # Refuse rather than guess; the detail stays in the server log.
            self.audit.record(
                token=None, method=scope["method"], path=path, status=503, remote=remote
            )
            await _send_json(
                send, 503, b'{"detail":"authentication is unavailable; retry shortly"}'
            )
            _log_store_error(exc)
            return
        if principal is None:
            self.audit.record(
                token=None, method=scope["method"], path=path, status=401, remote=remote
            )
            await _send_json(send, 401, UNAUTHENTICATED, {b"www-authenticate": b"Bearer"})
            return
        scope[PRINCIPAL] = principal
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            self.audit.record(
                token=principal.name,
                method=scope["method"],
                path=path,
                status=status,
                client=scope.get(AUDIT_CLIENT),
                remote=remote,
                outcome=scope.get(AUDIT_OUTCOME),
            )

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Written before the caller can hold the whole answer, so whoever saw the
                # response can also find its audit line.
                record()
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            record()


def _bearer_token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


async def _send_json(
    send: Send, status: int, body: bytes, extra: Mapping[bytes, bytes] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += list((extra or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_store_error(exc: TokenStoreError) -> None:
    log.error("API authentication unavailable: %s", exc)


def install_auth(app: FastAPI, intake: Intake) -> None:
    settings = intake.settings
    app.add_middleware(
        ApiGuard,
        store=TokenStore(settings.token_store_path),
        audit=AuditLog(settings.audit_log_path),
    )


def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A route dependency: the caller's principal, if its role grants `permission` (else 403)."""

    async def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        principal = request.scope.get(PRINCIPAL)
        if not isinstance(principal, Principal):
            # Only reachable by a route outside the guarded prefix that asks for a principal.
            raise HTTPException(401, "authentication required", {"WWW-Authenticate": "Bearer"})
        if not principal.may(permission):
            raise HTTPException(
                403, f"a token with role '{principal.role}' may not {_verbs[permission]}"
            )
        return principal

    return dependency


_verbs = {
    Permission.FILE: "file incidents",
    Permission.READ: "read incidents",
    Permission.ACT: "acknowledge or resolve incidents",
    Permission.ADMIN: "administer Incident Desk",
}


async def incident_client(
    intake: Intake, identifier: str, principal: Principal, request: Request
) -> str | None:
    """The incident's client, from its IncidentClient search attribute, if the token sees it.

    The id is not trusted: a Jira-born id (`incident-SEC-12`) names no client, and an API-born
    one is ambiguous when client ids contain dashes (`a` + `b-1` vs `a-b` + `1`).
    """
    try:
        description = await intake.handle(identifier).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, f"no incident '{identifier}'") from exc
        raise HTTPException(503, f"Temporal error: {exc.message}") from exc
    client = description.typed_search_attributes.get(SA.CLIENT.key)
    request.scope[AUDIT_CLIENT] = client
    if not principal.sees(client):
        request.scope[AUDIT_OUTCOME] = "out_of_scope"
        raise HTTPException(404, f"no incident '{identifier}'")
    return client


def authorize_filing(
    principal: Principal, client: str, policies: Mapping[str, ClientPolicy], request: Request
) -> None:
    """A client outside the token's scope is answered as unknown, and the known ones listed are
    only those in scope, so a scoped token learns no other client's name."""
    request.scope[AUDIT_CLIENT] = client
    if principal.sees(client) and client in policies:
        return
    if not principal.sees(client):
        request.scope[AUDIT_OUTCOME] = "out_of_scope"
    known = ", ".join(sorted(c for c in policies if principal.sees(c))) or "none"
    raise HTTPException(422, f"client: unknown client '{client}'; known clients: {known}")


async def check_filed_client(intake: Intake, workflow_id: str, client: str) -> None:
    """Refuse when the filed id already belongs to another client's incident (ids are
    `<client>-<external_ref>`, and dashes make two pairs spell one id)."""
    try:
        description = await intake.client().get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        raise HTTPException(503, f"Temporal error: {exc.message}") from exc
    if description.typed_search_attributes.get(SA.CLIENT.key) != client:
        raise HTTPException(
            409, "external_ref: this reference cannot be used for this client; choose another"
        )


def attributed(action: Action, principal: Principal, default: str) -> Action:
    """The action with the token that made it in its note, so the timeline and Jira show which
    credential acted; `by` stays the person the caller names, which the token cannot prove."""
    suffix = f" (API token {principal.name})"
    note = action.note[: 4000 - len(suffix)] if action.note else default
    return action.model_copy(update={"note": note + suffix})
