"""Reports and drafts from a real lifecycle, over the intake API, on a real Temporal server.

The workflow is the product's, run by a worker with the activity doubles (Jira and the pager
only; the obligation rules are real) on the intake's own task queue. The incident is filed,
acknowledged, has its GDPR stage marked done and is resolved through the API, then its report
and drafts are fetched as a reader would: with a token, and not with another client's.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from incident_desk.settings import Settings
from incident_desk.tokens import Role
from intake.app import create_app
from tests.support.servers import run_app
from tests.support.stacks import make_token
from tests.workflows.doubles import Outside
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parents[2]
GDPR = "eu_gdpr_art33_authority"


class Api:
    def __init__(self, url: str, settings: Settings) -> None:
        self.url, self.settings = url, settings

    def token(self, role: Role, *clients: str) -> dict[str, str]:
        return make_token(self.settings, role=role, clients=clients or ("*",))

    async def call(self, method: str, path: str, headers: dict[str, str], **kw: Any):
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as client:
            for _ in range(100):  # the intake connects to Temporal in the background
                response = await client.request(method, path, **kw)
                if response.status_code != 503:
                    return response
                await asyncio.sleep(0.1)
            return response


@pytest.fixture(scope="module")
async def api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    queue = f"reports-{uuid.uuid4()}"
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace=dev_env.client.namespace,
        task_queue=queue,
        policies_dir=REPO / "policies",
        state_dir=tmp_path_factory.mktemp("state"),
        temporal_ui_url="http://ui.test:8233",
    )
    from incidents.policy import load_policy

    outside = Outside(policy=load_policy(REPO / "policies" / "clients" / "demo.yaml"))
    worker = Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[IncidentWorkflow],
        activities=outside.activities(),
    )
    async with worker:
        with dev_env.with_time_skipping_disabled(), run_app(create_app(settings)) as url:
            yield Api(url, settings)


@pytest.fixture(scope="module")
async def incident(api: Api) -> str:
    admin = api.token(Role.ADMIN)
    aware = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    filed = await api.call(
        "POST",
        "/api/v1/incidents",
        admin,
        json={
            "client": "demo",
            "summary": "Spreadsheet <b>mailed</b> to the wrong address",
            "description": 'Agent 4410 sent 40 customers\' data outside. <script>alert("x")</script>',
            "channel": "email",
            "validation": {"by": "filing.agent"},  # validated on filing: paged at once
            "reporter": {"name": "Team lead", "contact": "lead@bpo.example"},
            "aware_at": aware.isoformat(),
            "category": "misdirected_disclosure",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
            "external_ref": f"REP-{uuid.uuid4().hex[:8]}",
        },
    )
    assert filed.status_code == 202, filed.text
    incident_id = filed.json()["incident_id"]
    for _ in range(200):
        view = (await api.call("GET", f"/api/v1/incidents/{incident_id}", admin)).json()
        if any(c["id"] == GDPR for c in view.get("obligations", [])) and view.get("jira_key"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"clocks never armed: {view}")
    steps = [
        ("ack", {"by": "ana.oncall", "note": "on it"}),
        (f"obligations/{GDPR}/initial/done", {"by": "dpo.liaison", "reference": "BfDI-77"}),
        ("resolve", {"by": "ana.oncall", "note": "recipient deleted the <i>file</i>"}),
    ]
    for path, body in steps:
        response = await api.call(
            "POST", f"/api/v1/incidents/{incident_id}/{path}", admin, json=body
        )
        assert response.status_code == 200, (path, response.text)
    return incident_id


async def test_the_report_needs_a_token_and_the_client_scope(api: Api, incident: str) -> None:
    for path in (f"/api/v1/incidents/{incident}/report", f"/api/v1/incidents/{incident}/drafts"):
        assert (await api.call("GET", path, {})).status_code == 401
        elsewhere = api.token(Role.ADMIN, "harbour-pine")
        refused = await api.call("GET", path, elsewhere)
        assert refused.status_code == 404, refused.text
        assert refused.json() == {"detail": f"no incident '{incident}'"}
        assert (await api.call("GET", path, api.token(Role.AGENT, "demo"))).status_code == 200
    nothing = await api.call("GET", "/api/v1/incidents/demo-nope/report", api.token(Role.ADMIN))
    assert nothing.status_code == 404
    wrong = await api.call(
        "GET", f"/api/v1/incidents/{incident}/report?format=docx", api.token(Role.ADMIN)
    )
    assert wrong.status_code == 422


async def test_markdown_report_of_a_real_lifecycle(api: Api, incident: str) -> None:
    response = await api.call(
        "GET", f"/api/v1/incidents/{incident}/report?format=md", api.token(Role.AGENT, "demo")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    view = (await api.call("GET", f"/api/v1/incidents/{incident}", api.token(Role.ADMIN))).json()
    for heading in (
        "Summary",
        "Classification and severity",
        "Timeline",
        "Paging and acknowledgement",
        "Client notifications",
        "Reporting obligations",
        "Decisions",
        "Links",
    ):
        assert f"## {heading}" in text
    gdpr = next(c for c in view["obligations"] if c["id"] == GDPR)
    due = datetime.fromisoformat(gdpr["stages"][0]["due_at"])
    assert due.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in text
    assert "BfDI-77" in text and "dpo.liaison" in text
    assert "before the deadline)" in text  # the GDPR stage was met
    assert "Spreadsheet \\<b\\>mailed\\</b\\> to the wrong address" in text
    assert "- **Acknowledged**: by ana.oncall via api" in text
    assert f"http://ui.test:8233/namespaces/default/workflows/incident-{incident}" in text
    assert f"/browse/{view['jira_key']}" in text
    # every timeline entry appears, in order
    events = [e["event"] for e in view["timeline"]]
    table = text.split("## Timeline")[1].split("## Paging")[0]
    found = [e.replace("\\_", "_") for e in re.findall(r"^\| [^|]+ \| ([a-z\\_]+) \|", table, re.M)]
    assert found == [e["event"] for e in sorted(view["timeline"], key=lambda e: e["at"])]
    assert sorted(found) == sorted(events)
    assert "lead@bpo.example" not in text


async def test_html_report_escapes_and_pdf_reads_back(api: Api, incident: str) -> None:
    headers = api.token(Role.ADMIN)
    page = await api.call("GET", f"/api/v1/incidents/{incident}/report?format=html", headers)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "<b>" not in page.text and "<i>" not in page.text
    assert "&lt;script&gt;" in page.text

    pdf = await api.call("GET", f"/api/v1/incidents/{incident}/report?format=pdf", headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = re.sub(r"\s+", " ", text)
    assert f"Incident report {incident}" in flat
    assert "BfDI-77" in flat and "Reporting obligations" in flat


async def test_gdpr_draft_asks_for_what_the_record_lacks(api: Api, incident: str) -> None:
    headers = api.token(Role.ADMIN)
    response = await api.call("GET", f"/api/v1/incidents/{incident}/drafts?format=json", headers)
    assert response.status_code == 200
    drafts = response.json()
    gdpr = next(d for d in drafts if d["obligation_id"] == GDPR)
    assert gdpr["owed_by"] == "client"
    assert "Approximately how many people (data subjects) are affected?" in gdpr["questions"]
    assert "What are the likely consequences for the people affected?" in gdpr["questions"]
    assert any("recipient deleted" in a for i in gdpr["items"] for a in i["answers"])
    md = await api.call("GET", f"/api/v1/incidents/{incident}/drafts", headers)
    assert "QUESTION: Approximately how many people" in md.text


async def test_cli_export_and_drafts_write_what_the_api_serves(
    api: Api, incident: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from incident_desk.cli import app

    def invoke(*args: str):
        # In a thread: the worker answering the API's queries runs on this test's event loop.
        return asyncio.to_thread(CliRunner().invoke, app, list(args))

    token = api.token(Role.AGENT, "demo")["Authorization"].split()[1]
    out = tmp_path / "report.pdf"
    common = ["--url", api.url, "--token", token]
    result = await invoke("export", incident, "--format", "pdf", "--out", str(out), *common)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    drafts = await invoke("drafts", incident, *common)
    assert drafts.exit_code == 0 and "QUESTION:" in drafts.stdout
    other = api.token(Role.ADMIN, "harbour-pine")["Authorization"].split()[1]
    refused = await invoke("export", incident, "--url", api.url, "--token", other)
    assert refused.exit_code == 1 and "HTTP 404" in refused.output
