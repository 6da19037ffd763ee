"""Who may call the intake API, and on which clients' incidents (docs/security.md).

Authentication is a middleware on the whole `/api/v1` prefix, not a per-route dependency, so a
route added later cannot forget it. It takes Incident Desk's API tokens and, when configured, OIDC
tokens from the BPO's identity provider (intake/oidc.py); abuse limits (intake/rate_limits.py)
apply per remote address before authentication and per principal after it. Authorisation is per route: a role check (`requires`) and a
client-scope check on the incident itself (`incident_client`). An incident outside the token's
scope answers exactly like one that does not exist (404), so a token cannot probe for other
clients' incidents. Webhooks and the codec server keep their own signatures and tokens.
"""

from __future__ import annotations

import asyncio
import json
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
from intake.oidc import OidcConfig, OidcVerifier
from intake.rate_limits import Limit, RateLimiter, retry_after
from workflows.names import IncidentSearchAttribute as SA

if TYPE_CHECKING:
    from incident_desk.settings import Settings
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
AUDIT_REASON = "incident_desk.audit_reason"
UNAUTHENTICATED = b'{"detail":"authentication required"}'

# Documents the scheme in OpenAPI (the docs' "Authorize" button); the middleware enforces it.
bearer = HTTPBearer(auto_error=False, description="An API token: `incident-desk tokens create`")


WEBHOOK_PREFIX = "/webhooks/"
ACK_PREFIX = "/ack/"
MAX_CAPTURED_BODY = 65_536


async def _too_many(send: Send, wait: float, who: str, limit: Limit) -> None:
    body = json.dumps(
        {
            "detail": f"too many requests from this {who}: at most {limit.rate:g} per second "
            f"(bursts of {limit.burst}); retry in {retry_after(wait)} s"
        }
    ).encode()
    await _send_json(send, 429, body, {b"retry-after": retry_after(wait).encode()})


class ApiGuard:
    """Pure ASGI middleware: authenticate every API call and write its audit line."""

    def __init__(
        self,
        app: ASGIApp,
        store: TokenStore,
        audit: AuditLog,
        oidc: OidcVerifier | None = None,
        per_token: RateLimiter | None = None,
        per_address: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.audit = audit
        self.oidc = oidc
        self.per_token = per_token
        self.per_address = per_address

    async def _authenticate(self, token: str) -> Principal | None:
        if (
            self.oidc is not None
            and not token.startswith("idk_")
            and self.oidc.looks_like_jwt(token)
        ):
            # A thread: the JWKS may have to be fetched (rarely; PyJWKClient caches it).
            return await asyncio.to_thread(self.oidc.authenticate, token)
        return self.store.authenticate(token)

    def _refusal(self, token: str) -> str:
        if (
            self.oidc is not None
            and not token.startswith("idk_")
            and self.oidc.looks_like_jwt(token)
        ):
            return "identity provider token refused"
        try:
            return self.store.refusal(token)
        except TokenStoreError:
            return "token store unreadable"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        remote = client[0] if client else None
        if self.per_address is not None:
            wait = self.per_address.take(f"address:{remote}")
            if wait is not None:
                self.audit.record(
                    token=None, method=scope["method"], path=path, status=429, remote=remote
                )
                await _too_many(send, wait, "address", self.per_address.limit)
                return
        token = _bearer_token(scope)
        try:
            principal = await self._authenticate(token)
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
                token=None, method=scope["method"], path=path, status=401, remote=remote,
                reason=self._refusal(token),
            )  # fmt: skip
            await _send_json(send, 401, UNAUTHENTICATED, {b"www-authenticate": b"Bearer"})
            return
        if self.per_token is not None:
            wait = self.per_token.take(f"principal:{principal.name}")
            if wait is not None:
                self.audit.record(
                    token=principal.name, method=scope["method"], path=path, status=429,
                    remote=remote,
                )  # fmt: skip
                await _too_many(send, wait, "token", self.per_token.limit)
                return
        scope[PRINCIPAL] = principal

        def record(answer: AuditedAnswer) -> None:
            self.audit.record(
                token=principal.name,
                method=scope["method"],
                path=path,
                status=answer.status,
                client=scope.get(AUDIT_CLIENT),
                remote=remote,
                outcome=scope.get(AUDIT_OUTCOME),
                reason=scope.get(AUDIT_REASON),
            )

        await AuditedAnswer(send, record).run(self.app, scope, receive)


class AuditedAnswer:
    """An answer on its way out, audited exactly once: when its last body chunk is about to be
    sent, so whoever holds the whole response can also find its audit line; or, if the app
    fails before answering, afterwards with status 500. Keeps the first bytes of the body for
    auditors that name what the answer named (`keep`)."""

    def __init__(self, send: Send, record: Callable[[AuditedAnswer], None], keep: int = 0) -> None:
        self._send = send
        self._record = record
        self._keep = keep
        self._recorded = False
        self.status = 500
        self.body = bytearray()

    def _once(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._record(self)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            if len(self.body) < self._keep:
                self.body.extend(message.get("body", b"")[: self._keep - len(self.body)])
            if not message.get("more_body"):
                self._once()
        await self._send(message)

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        try:
            await app(scope, receive, self.send)
        finally:
            self._once()


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


class EdgeGuard:
    """Pure ASGI middleware for what has no API token: webhooks and acknowledgement links.

    Both get the per-address limit; webhook deliveries also get an audit line naming the
    verified sender (`webhook:jira` once its signature or token checked out), the outcome and
    the ids the receiver answered with, taken from its JSON answer rather than the payload, so
    no reporter's details reach the trail.
    """

    def __init__(
        self, app: ASGIApp, audit: AuditLog, per_address: RateLimiter | None = None
    ) -> None:
        self.app = app
        self.audit = audit
        self.per_address = per_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        webhook = path.startswith(WEBHOOK_PREFIX)
        if scope["type"] != "http" or not (webhook or path.startswith(ACK_PREFIX)):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        remote = client[0] if client else None
        source = path[len(WEBHOOK_PREFIX) :].split("/", 1)[0][:32] if webhook else None
        audited_path = path if webhook else ACK_PREFIX + "…"  # the link token is a credential
        if self.per_address is not None:
            wait = self.per_address.take(f"address:{remote}")
            if wait is not None:
                if webhook:
                    self.audit.record(
                        token=None, method=scope["method"], path=audited_path, status=429,
                        remote=remote,
                    )  # fmt: skip
                await _too_many(send, wait, "address", self.per_address.limit)
                return
        if not webhook:
            await self.app(scope, receive, send)
            return

        def record(sent: AuditedAnswer) -> None:
            answer = _json_object(bytes(sent.body))
            verified = sent.status not in (401, 403)
            ids = {
                k: str(answer[k])[:200]
                for k in ("workflow_id", "issue_key")
                if isinstance(answer.get(k), str)
            }
            outcome = answer.get("outcome") if isinstance(answer.get("outcome"), str) else None
            if outcome is None and sent.status == 202:
                outcome = "ignored"
            self.audit.record(
                token=f"webhook:{source}" if verified else None,
                method=scope["method"],
                path=audited_path,
                status=sent.status,
                remote=remote,
                outcome=outcome,
                ids=ids or None,
            )

        await AuditedAnswer(send, record, keep=MAX_CAPTURED_BODY).run(self.app, scope, receive)


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    if not (settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url):
        return None
    return OidcVerifier(
        OidcConfig(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            role_claim=settings.oidc_role_claim,
            clients_claim=settings.oidc_clients_claim,
            name_claim=settings.oidc_name_claim,
            role_map=settings.oidc_role_map,
            algorithms=tuple(a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()),
        )
    )


def install_auth(app: FastAPI, intake: Intake) -> None:
    settings = intake.settings
    audit = AuditLog(settings.audit_log_path)
    # One budget per address across the API, webhooks and ack links.
    per_address = RateLimiter(Limit(settings.rate_limit_ip_rate, settings.rate_limit_ip_burst))
    per_token = RateLimiter(Limit(settings.rate_limit_token_rate, settings.rate_limit_token_burst))
    app.add_middleware(
        ApiGuard,
        store=TokenStore(settings.token_store_path),
        audit=audit,
        oidc=oidc_verifier(settings),
        per_token=per_token,
        per_address=per_address,
    )
    app.add_middleware(EdgeGuard, audit=audit, per_address=per_address)


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
            request.scope[AUDIT_REASON] = f"role {principal.role} lacks {permission}"
            raise HTTPException(
                403, f"a token with role '{principal.role}' may not {VERBS[permission]}"
            )
        return principal

    return dependency


VERBS: dict[Permission, str] = {
    Permission.FILE: "file incidents",
    Permission.READ: "read the full incident record",
    Permission.STATUS: "read incident status",
    Permission.TRIAGE: "validate incidents or dismiss them as false alarms",
    Permission.ACKNOWLEDGE: "acknowledge incidents",
    Permission.CONTAIN: "record containment",
    Permission.RESOLVE: "resolve incidents",
    Permission.UPDATE: "post stakeholder updates",
    Permission.CHECKLIST: "tick checklist items",
    Permission.FACTS: "correct incident facts",
    Permission.ASSESS: "assess obligations",
    Permission.STAGE: "mark reporting stages done",
    Permission.CLIENT_ACK: "record client acknowledgements",
    Permission.CLOSE: "close incidents",
    Permission.ADMIN: "administer Incident Desk",
    Permission.ACT: "acknowledge or resolve incidents",
}


async def incident_client(
    intake: Intake, identifier: str, principal: Principal, request: Request
) -> str | None:
    """The incident's client, from its IncidentClient search attribute, if the token sees it.

    The id is not trusted: a Jira-born id (`incident-SEC-12`) names no client, and an API-born
    one is ambiguous when client ids contain dashes (`a` + `b-1` vs `a-b` + `1`). With clients
    in namespaces of their own it is looked for in each (`Intake.find`); pass the client
    returned here on to `Intake.view`/`act`, so they act in the namespace checked here.
    """
    try:
        _, client = await intake.find(identifier, principal.sees)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, f"no incident '{identifier}'") from exc
        raise HTTPException(503, f"Temporal error: {exc.message}") from exc
    request.scope[AUDIT_CLIENT] = client
    if not principal.sees(client):
        request.scope[AUDIT_OUTCOME] = "out_of_scope"
        request.scope[AUDIT_REASON] = "incident's client outside the token's scope"
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
        request.scope[AUDIT_REASON] = "client outside the token's scope"
    known = ", ".join(sorted(c for c in policies if principal.sees(c))) or "none"
    raise HTTPException(422, f"client: unknown client '{client}'; known clients: {known}")


async def check_filed_client(intake: Intake, workflow_id: str, client: str) -> None:
    """Refuse when the filed id already belongs to another client's incident (ids are
    `<client>-<external_ref>`, and dashes make two pairs spell one id)."""
    try:
        description = await intake.client(client).get_workflow_handle(workflow_id).describe()
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
