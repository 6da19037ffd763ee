"""Every route of the intake, checked against the permission matrix of docs/security.md.

The route list is read from the app `create_app` builds (every APIRoute, included routers and
mounts, in the schema or not), so a route added without an entry in MATRIX or PUBLIC fails
`test_every_route_is_in_the_matrix_or_listed_as_public`, and one added with a role check that
differs from the matrix fails the role test. The matrix is written out here rather than read
from `incident_desk.tokens.GRANTS`: a change to who may do what must change this file too.

No worker runs. The incident acted on is a real workflow of client `demo`, terminated, so an
allowed caller gets past every check and hears "closed" (409) from the workflow update, quickly;
a refused one never reaches the workflow.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import Mount, Route
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from incident_desk.settings import Settings
from incident_desk.tokens import Role, TokenError, TokenStore
from incidents.report import IncidentReport, StartIncident
from intake.app import create_app
from tests.support.servers import run_app
from tests.support.stacks import make_token
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA

REPO = Path(__file__).resolve().parents[2]

AGENT, ON_CALL, COMPLIANCE, ADMIN, CLIENT = (
    Role.AGENT,
    Role.ON_CALL,
    Role.COMPLIANCE,
    Role.ADMIN,
    Role.CLIENT_READONLY,
)
STAFF = {AGENT, ON_CALL, COMPLIANCE, ADMIN}
EVERYONE = STAFF | {CLIENT}


@dataclass(frozen=True)
class Rule:
    roles: set[Role]
    body: dict[str, Any] | None = None
    incident: bool = True  # the path names an incident: another client's answers 404
    reads: bool = False  # a state query: with no worker, only refusals are checked here


def report_body(client: str = "demo") -> dict[str, Any]:
    return {
        "client": client,
        "summary": "Caller reports a lookalike bank SMS",
        "description": "Someone got an SMS asking for a card PIN.",
        "channel": "phone",
        "reporter": {"name": "Maria Santos", "contact": "maria.santos@example.com"},
        "external_ref": f"AUTHZ-{uuid.uuid4().hex[:8]}",
    }


BY = {"by": "tester"}
INC = "/api/v1/incidents/{incident_id}"
MATRIX: dict[tuple[str, str], Rule] = {
    ("POST", "/api/v1/incidents"): Rule({AGENT, ADMIN}, report_body(), incident=False),
    ("GET", "/api/v1/incidents"): Rule(EVERYONE, incident=False),
    ("GET", INC): Rule(STAFF, reads=True),
    ("GET", f"{INC}/status"): Rule(EVERYONE, reads=True),
    ("GET", f"{INC}/report"): Rule(STAFF, reads=True),
    ("GET", f"{INC}/drafts"): Rule(STAFF, reads=True),
    ("POST", f"{INC}/validate"): Rule({AGENT, ADMIN}, BY),
    ("POST", f"{INC}/false-alarm"): Rule({AGENT, ADMIN}, BY | {"reason": "test call"}),
    ("POST", f"{INC}/ack"): Rule({ON_CALL, ADMIN}, BY),
    ("POST", f"{INC}/contain"): Rule({AGENT, ON_CALL, ADMIN}, BY | {"note": "reset"}),
    ("POST", f"{INC}/updates"): Rule({AGENT, ON_CALL, ADMIN}, BY | {"text": "working on it"}),
    ("POST", f"{INC}/checklist/{{item}}"): Rule({AGENT, ON_CALL, ADMIN}, BY),
    ("POST", f"{INC}/facts"): Rule({AGENT, ON_CALL, COMPLIANCE, ADMIN}, BY),
    ("POST", f"{INC}/resolve"): Rule({ON_CALL, ADMIN}, BY),
    ("POST", f"{INC}/client-ack"): Rule(
        {ON_CALL, COMPLIANCE, ADMIN}, {"contact": "dpo@client.example"}
    ),
    ("POST", f"{INC}/assessments/{{obligation}}"): Rule(
        {COMPLIANCE, ADMIN}, BY | {"applies": True, "reason": "test"}
    ),
    ("POST", f"{INC}/obligations/{{obligation}}/{{stage}}/done"): Rule(
        {COMPLIANCE, ADMIN}, BY | {"reference": "REF-1"}
    ),
    ("POST", f"{INC}/close"): Rule({COMPLIANCE, ADMIN}, BY | {"summary": "done"}),
}

# Outside /api/v1, each with the check it has instead of an API token.
PUBLIC: dict[str, str] = {
    "/healthz": "readiness probe for the orchestrator; names dependencies, no incident data",
    "/openapi.json": "the API's published description",
    "/docs": "interactive docs page (static; calls still need a token)",
    "/docs/oauth2-redirect": "part of the docs page",
    "/redoc": "docs page",
    "/webhooks/jira": "Jira's HMAC signature (X-Hub-Signature) or shared token",
    "/webhooks/jira/{site}": "that Jira site's own signature secret or token (JIRA_SITES)",
    "/webhooks/pagerduty": "PagerDuty's X-PagerDuty-Signature HMAC",
    "/webhooks/opsgenie": "the shared X-Incident-Desk-Token",
    "/ack/{token}": "the signed, expiring acknowledgement link is the credential",
    "/codec": "mounted codec server: INCIDENT_DESK_CODEC_TOKEN, or loopback only",
}


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, walking included routers (FastAPI includes them lazily)
    and naming mounts by their prefix."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if isinstance(route, APIRoute | Route):
                for method in sorted(route.methods or {"GET"}):
                    if method != "HEAD":
                        yield method, prefix + route.path
            elif isinstance(route, Mount):
                yield "*", prefix + route.path
            elif hasattr(route, "original_router"):
                context = getattr(route, "include_context", None)
                yield from walk(
                    route.original_router.routes, prefix + (getattr(context, "prefix", "") or "")
                )
            else:
                raise AssertionError(f"a route of a kind this test does not know: {route!r}")

    yield from walk(app.routes, "")


def concrete(path: str, incident: str) -> str:
    return (
        path.replace("{incident_id}", incident)
        .replace("{item}", "confirm_sender")
        .replace("{obligation}", "gdpr_art33")
        .replace("{stage}", "initial")
    )


@dataclass
class Api:
    url: str
    settings: Settings
    incident: str  # demo's, terminated

    def token(self, role: Role, client: str = "demo") -> dict[str, str]:
        return make_token(self.settings, role=role, clients=(client,))

    def call(self, method: str, path: str, headers: dict[str, str], body: Any) -> httpx.Response:
        for _ in range(100):  # the intake connects to Temporal in the background
            response = httpx.request(
                method, f"{self.url}{path}", headers=headers, json=body, timeout=20
            )
            if response.status_code != 503:
                return response
            time.sleep(0.1)
        return response

    def audit(self) -> list[dict[str, Any]]:
        lines = self.settings.audit_log_path.read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
async def api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace=dev_env.client.namespace,
        task_queue=f"no-worker-{uuid.uuid4()}",
        policies_dir=REPO / "policies",
        state_dir=tmp_path_factory.mktemp("state"),
        rate_limit_token_rate=0,
        rate_limit_ip_rate=0,
    )
    incident = f"demo-AUTHZ-{uuid.uuid4().hex[:8]}"
    handle = await dev_env.client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(
            incident_id=incident,
            report=IncidentReport.model_validate(report_body()),
            received_at=datetime.now(UTC),
        ),
        id=f"incident-{incident}",
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA.CLIENT.key, "demo")]),
    )
    await handle.terminate("closed before the test: actions answer 409 without a worker")
    with run_app(create_app(settings)) as url:
        yield Api(url, settings, incident)


def test_every_route_is_in_the_matrix_or_listed_as_public(tmp_path: Path) -> None:
    # With a codec key so that the codec server is mounted too.
    settings = Settings(
        state_dir=tmp_path,
        policies_dir=REPO / "policies",
        codec_keys=SecretStr("k1:" + base64.b64encode(bytes(32)).decode()),
    )
    routes = set(app_routes(create_app(settings)))
    api = {r for r in routes if r[1].startswith("/api/")}
    unlisted = api - set(MATRIX)
    assert not unlisted, f"routes without a row in MATRIX (decide who may call them): {unlisted}"
    assert not set(MATRIX) - api, (
        f"MATRIX rows for routes that no longer exist: {set(MATRIX) - api}"
    )
    outside = {path for _, path in routes - api}
    assert not outside - set(PUBLIC), f"routes outside /api/v1 not listed in PUBLIC: {outside}"
    assert "/codec" in outside and "/ack/{token}" in outside and "/webhooks/jira" in outside
    # The published list matches: every /api/v1 operation in OpenAPI is a matrix row.
    published = create_app(settings).openapi()["paths"]
    listed = {
        (m.upper(), p) for p, item in published.items() if p.startswith("/api/") for m in item
    }
    # client_ack's router is left out of the schema as a whole (its /ack pages should be).
    assert listed <= api and api - listed <= {("POST", f"{INC}/client-ack")}


def test_no_token_or_a_dead_one_is_401_on_every_api_route(api: Api) -> None:
    store = TokenStore(api.settings.token_store_path)
    _, expired = store.create(
        f"expired-{uuid.uuid4().hex[:6]}", role=Role.ADMIN, clients=["*"],
        expires_in=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    revoked_name = f"revoked-{uuid.uuid4().hex[:6]}"
    _, revoked = store.create(revoked_name, role=Role.ADMIN, clients=["*"], expires_in=None)
    store.revoke(revoked_name)
    for (method, path), rule in MATRIX.items():
        for headers in (
            {},
            {"Authorization": f"Bearer {expired}"},
            {"Authorization": f"Bearer {revoked}"},
        ):
            answer = api.call(method, concrete(path, api.incident), headers, rule.body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json() == {"detail": "authentication required"}
    reasons = {e.get("reason") for e in api.audit() if e["status"] == 401}
    assert {"no bearer token", f"revoked token {revoked_name}"} <= reasons
    assert any(r and r.startswith("expired token expired-") for r in reasons)


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_roles_outside_the_matrix_are_403(api: Api, route: tuple[str, str]) -> None:
    rule = MATRIX[route]
    method, path = route
    for role in set(Role) - rule.roles:
        name = f"wrong-{role}-{uuid.uuid4().hex[:6]}"
        headers = make_token(api.settings, role=role, clients=("demo",), name=name)
        answer = api.call(method, concrete(path, api.incident), headers, rule.body)
        assert answer.status_code == 403, (role, method, path, answer.text)
        assert f"role '{role}'" in answer.json()["detail"]
        [line] = [e for e in api.audit() if e["token"] == name]
        assert line["outcome"] == "refused" and line["reason"].startswith(f"role {role} lacks")
        assert line["method"] == method and line["remote"] == "127.0.0.1"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_allowed_roles_pass_and_another_clients_incident_is_404(
    api: Api, route: tuple[str, str]
) -> None:
    rule = MATRIX[route]
    method, path = route
    for role in rule.roles:
        if rule.incident:
            # Scoped to another client: the incident does not exist for this token.
            name = f"elsewhere-{role}-{uuid.uuid4().hex[:6]}"
            other = make_token(api.settings, role=role, clients=("harbour-pine",), name=name)
            answer = api.call(method, concrete(path, api.incident), other, rule.body)
            assert answer.status_code == 404, (role, method, path, answer.text)
            assert answer.json() == {"detail": f"no incident '{api.incident}'"}
            [line] = [e for e in api.audit() if e["token"] == name]
            assert line["outcome"] == "out_of_scope" and line["client"] == "demo"
            if rule.reads:
                continue  # a state query needs a worker; test_reports_api reads for real
            answer = api.call(method, concrete(path, api.incident), api.token(role), rule.body)
            assert answer.status_code == 409, (role, method, path, answer.text)
            assert "closed" in answer.json()["detail"]
        elif method == "POST":
            answer = api.call(method, path, api.token(role), report_body())
            assert answer.status_code == 202, (role, answer.text)
        else:
            answer = api.call(method, path, api.token(role), None)
            assert answer.status_code == 200, (role, answer.text)


def test_listing_shows_only_the_clients_in_scope(api: Api) -> None:
    def listed(headers: dict[str, str], query: str = "") -> set[str]:
        deadline = time.monotonic() + 10
        while True:  # visibility is eventually consistent
            answer = api.call("GET", f"/api/v1/incidents{query}", headers, None)
            assert answer.status_code == 200, answer.text
            ids = {i["incident_id"] for i in answer.json()}
            if api.incident in ids or time.monotonic() > deadline:
                return ids
            time.sleep(0.2)

    assert api.incident in listed(api.token(CLIENT))
    assert api.incident in listed(api.token(AGENT, "*"))
    row = next(i for i in api.call("GET", "/api/v1/incidents", api.token(CLIENT), None).json()
               if i["incident_id"] == api.incident)  # fmt: skip
    assert row["client"] == "demo" and row["running"] is False
    assert set(row) == {
        "incident_id", "workflow_id", "client", "state", "severity", "category",
        "started_at", "running", "next_deadline", "deadline_breached",
    }  # fmt: skip
    elsewhere = make_token(api.settings, role=CLIENT, clients=("harbour-pine",))
    assert api.incident not in listed(elsewhere)
    assert listed(elsewhere, "?client=demo") == set()
    bad = api.call("GET", "/api/v1/incidents?client=Demo%27%20OR%201=1", api.token(ADMIN), None)
    assert bad.status_code == 422


def test_a_client_readonly_token_must_name_its_client(api: Api) -> None:
    with pytest.raises(TokenError, match="name its client"):
        TokenStore(api.settings.token_store_path).create(
            "client-all", role=CLIENT, clients=["*"], expires_in=None
        )
