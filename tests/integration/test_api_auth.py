"""Authentication and authorisation of the intake API against a real Temporal server.

No worker runs here: every refusal must happen before the workflow is asked anything, which is
what keeps a refused caller from learning about, or waiting on, another client's incident.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from incident_desk.settings import Settings
from incident_desk.tokens import Role, TokenStore
from incidents.report import IncidentReport, StartIncident
from intake.app import create_app
from tests.support.servers import run_app
from tests.support.stacks import make_token
from workflows.incident import IncidentWorkflow
from workflows.names import IncidentSearchAttribute as SA

REPO = Path(__file__).resolve().parents[2]
REPORTER = {"name": "Maria Santos", "contact": "maria.santos@example.com"}


def report(client: str = "demo", **overrides: Any) -> dict[str, Any]:
    return {
        "client": client,
        "summary": "Caller reports a lookalike bank SMS",
        "description": "Maria Santos got an SMS asking for her card PIN.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        "reporter": REPORTER,
        "external_ref": f"AUTH-{uuid.uuid4().hex[:8]}",
        **overrides,
    }


class Api:
    def __init__(self, url: str, settings: Settings, jira_born: str) -> None:
        self.url, self.settings, self.jira_born = url, settings, jira_born

    def token(self, role: Role, *clients: str) -> dict[str, str]:
        return make_token(self.settings, role=role, clients=clients or ("*",))

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
    )
    # An incident born in Jira: its id names no client; only its search attribute does.
    key = f"SEC-{uuid.uuid4().int % 100000}"
    await dev_env.client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(
            incident_id=key,
            report=IncidentReport.model_validate(report()),
            received_at=datetime.now(UTC),
            jira_key=key,
        ),
        id=f"incident-{key}",
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA.CLIENT.key, "demo")]),
    )
    with run_app(create_app(settings)) as url:
        yield Api(url, settings, key)
    await dev_env.client.get_workflow_handle(f"incident-{key}").terminate("test over")


def file(api: Api, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    # The intake connects to Temporal in the background; the first calls may be 503.
    for _ in range(100):
        response = httpx.post(f"{api.url}/api/v1/incidents", json=body, headers=headers)
        if response.status_code != 503:
            return response
        time.sleep(0.1)
    return response


def test_every_api_route_refuses_callers_without_a_valid_token(api: Api) -> None:
    store = TokenStore(api.settings.token_store_path)
    _, expired = store.create(
        f"expired-{uuid.uuid4().hex[:6]}", role=Role.ADMIN, clients=["*"],
        expires_in=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    revoked_name = f"revoked-{uuid.uuid4().hex[:6]}"
    _, revoked = store.create(revoked_name, role=Role.ADMIN, clients=["*"], expires_in=None)
    store.revoke(revoked_name)
    presented: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer idk_0_nope"},
        {"Authorization": f"Basic {revoked}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {revoked}"},
    ]
    # Over the published route list, so a new /api/v1 route is covered without editing this.
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    routes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path.replace("{incident_id}", api.jira_born)))
        for path, item in paths.items()
        if path.startswith("/api/v1")
        for method in item
    ]
    assert len(routes) >= 4
    for method, path in routes:
        for headers in presented:
            response = httpx.request(method, f"{api.url}{path}", headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.json() == {"detail": "authentication required"}
            assert response.headers["www-authenticate"] == "Bearer"
    for operation in paths["/api/v1/incidents"].values():
        assert operation.get("security"), "the docs should show the bearer scheme"


def test_health_and_docs_stay_open(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").status_code in (200, 503)
    assert httpx.get(f"{api.url}/docs").status_code == 200
    assert httpx.get(f"{api.url}/openapi.json").status_code == 200


def test_another_clients_incident_answers_as_if_it_did_not_exist(api: Api) -> None:
    admin = api.token(Role.ADMIN)
    filed = file(api, admin, report())
    assert filed.status_code == 202, filed.text
    incident = filed.json()["incident_id"]
    elsewhere = api.token(Role.ON_CALL, "harbour-pine")

    nothing = httpx.get(f"{api.url}/api/v1/incidents/demo-never-filed", headers=elsewhere)
    assert nothing.status_code == 404
    for identifier in (
        incident,
        f"incident-{incident}",
        api.jira_born,
        f"incident-{api.jira_born}",
    ):
        seen = httpx.get(f"{api.url}/api/v1/incidents/{identifier}", headers=elsewhere)
        assert seen.status_code == 404, (identifier, seen.text)
        assert seen.json() == {"detail": f"no incident '{identifier}'"}
        for verb in ("ack", "resolve"):
            acted = httpx.post(
                f"{api.url}/api/v1/incidents/{identifier}/{verb}",
                json={"by": "mallory"},
                headers=elsewhere,
            )
            assert acted.status_code == 404, (identifier, verb, acted.text)

    # Filing for a client outside the scope: "unknown", naming only the clients in scope.
    elsewhere = api.token(Role.AGENT, "harbour-pine")
    refused = file(api, elsewhere, report("demo"))
    assert refused.status_code == 422
    assert "demo" not in refused.json()["detail"].split("known clients:")[1]
    assert "harbour-pine" in refused.json()["detail"]
    unknown = file(api, elsewhere, report("nobody"))
    assert unknown.status_code == 422 and "nordlicht" not in unknown.json()["detail"]


def test_a_role_without_the_right_is_refused_on_its_own_client(api: Api) -> None:
    agent = api.token(Role.AGENT, "demo")
    filed = file(api, agent, report())
    assert filed.status_code == 202, filed.text  # agents file
    for verb in ("ack", "resolve"):
        refused = httpx.post(
            f"{api.url}/api/v1/incidents/{filed.json()['incident_id']}/{verb}",
            json={"by": "agent 4410"},
            headers=agent,
        )
        assert refused.status_code == 403, refused.text
        assert "agent" in refused.json()["detail"]


def test_calls_are_audited_without_secrets_or_personal_data(api: Api) -> None:
    name = f"audited-{uuid.uuid4().hex[:6]}"
    headers = make_token(api.settings, role=Role.AGENT, clients=("demo",), name=name)
    filed = file(api, headers, report())
    assert filed.status_code == 202
    httpx.post(
        f"{api.url}/api/v1/incidents/{filed.json()['incident_id']}/ack",
        json={"by": "x"},
        headers=headers,
    )
    outsider = make_token(
        api.settings, role=Role.ADMIN, clients=("harbour-pine",), name=f"{name}-o"
    )
    httpx.get(f"{api.url}/api/v1/incidents/{filed.json()['incident_id']}", headers=outsider)
    httpx.get(f"{api.url}/api/v1/incidents/x", headers={"Authorization": "Bearer idk_a_b"})

    entries = api.audit()
    ours = [e for e in entries if e["token"] in (name, f"{name}-o")]
    assert [(e["method"], e["status"], e["client"], e["outcome"]) for e in ours] == [
        ("POST", 202, "demo", "allowed"),
        ("POST", 403, None, "refused"),
        ("GET", 404, "demo", "out_of_scope"),
    ]
    assert ours[0]["path"] == "/api/v1/incidents" and ours[0]["time"]
    assert any(e["token"] is None and e["status"] == 401 for e in entries)
    text = api.settings.audit_log_path.read_text()
    for secret in ("Maria", "maria.santos", "PIN", "idk_", headers["Authorization"].split()[1]):
        assert secret not in text
    assert api.settings.audit_log_path.stat().st_mode & 0o777 == 0o600
