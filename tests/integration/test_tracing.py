"""One incident, one trace: intake request → workflow → activity → the pager's HTTP call.

The real intake app, the real paging activity and the pager stand-in over HTTP; Jira is a
double. Spans go to an in-memory exporter instead of OTLP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.paging import Links, PagingActivities
from incident_desk.settings import Settings
from intake.app import create_app
from integrations.pagerduty import PagerDutyClient
from integrations.telemetry import configure_tracing, temporal_interceptors
from integrations.temporal import connect
from sandbox.pagerduty import create_app as pager_app
from tests.support.servers import run_app
from tests.support.stacks import make_token
from tests.workflows.doubles import Outside
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("incident-desk-test", None, exporter=exporter, set_global=False)
    assert provider is not None
    try:
        yield provider, exporter
    finally:
        # The instrumentations patch httpx and requests process-wide; leave them as found.
        HTTPXClientInstrumentor().uninstrument()
        RequestsInstrumentor().uninstrument()
        provider.shutdown()


def test_tracing_is_off_without_an_endpoint() -> None:
    assert configure_tracing("incident-desk-test", None) is None
    assert temporal_interceptors(None) == []


async def test_one_incident_is_one_connected_trace(
    dev_env: WorkflowEnvironment,
    traced: tuple[TracerProvider, InMemorySpanExporter],
    tmp_path: Path,
) -> None:
    provider, exporter = traced
    target = dev_env.client.service_client.config.target_host
    task_queue = f"test-{uuid.uuid4()}"
    client = await connect(
        target, dev_env.client.namespace, interceptors=temporal_interceptors(provider)
    )
    settings = Settings(
        temporal_address=target,
        temporal_namespace=dev_env.client.namespace,
        task_queue=task_queue,
        policies_dir=REPO / "policies",
        state_dir=tmp_path,
    )
    intake = create_app(settings)
    intake.state.intake.tracer_provider = provider
    FastAPIInstrumentor.instrument_app(intake, tracer_provider=provider)

    with run_app(pager_app(tmp_path / "pager.db")) as pager_url:
        paging = PagingActivities(
            PagerDutyClient(f"{pager_url}/v2/enqueue", SecretStr("routing-key")),
            Links(jira_url="http://jira.invalid", temporal_ui_url="http://ui.invalid"),
        )
        doubles = [a for a in Outside().activities() if a.__name__ != "trigger_page"]
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[IncidentWorkflow],
            activities=[*doubles, paging.trigger_page],
        )
        async with worker, httpx.AsyncClient(headers=make_token(settings)) as http:
            with run_app(intake) as api:
                incident = {
                    "client": "demo",
                    "summary": "Monitoring flagged a bulk export of call recordings",
                    "description": "DLP alert on the recording store.",
                    "channel": "monitoring",
                    "validation": {"by": "siem-rule"},  # validated on filing: paged at once
                    "reporter": {"name": "SIEM", "contact": "siem@bpo.example"},
                    "external_ref": f"DLP-{uuid.uuid4().hex[:6]}",
                }
                deadline = time.monotonic() + 20
                while True:  # the intake connects to Temporal in the background
                    accepted = await http.post(f"{api}/api/v1/incidents", json=incident)
                    if accepted.status_code != 503 or time.monotonic() > deadline:
                        break
                    await _pause()
                assert accepted.status_code == 202, accepted.text
                workflow_id = accepted.json()["workflow_id"]
                while not (
                    await http.get(f"{pager_url}/sandbox/events", params={"dedup_key": workflow_id})
                ).json():
                    assert time.monotonic() < deadline, "the page never arrived"
                    await _pause()
            await client.get_workflow_handle(workflow_id).terminate("test over")

    provider.force_flush()
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    chain = [
        "POST /api/v1/incidents",
        "StartWorkflow:IncidentWorkflow",
        "RunWorkflow:IncidentWorkflow",
        "StartActivity:trigger_page",
        "RunActivity:trigger_page",
    ]
    missing = [name for name in chain if name not in by_name]
    assert not missing, f"missing spans {missing}; got {sorted(by_name)}"
    trace_ids = {by_name[name].context.trace_id for name in chain}
    assert len(trace_ids) == 1
    run_activity = by_name["RunActivity:trigger_page"]
    pager_calls = [s for s in spans if _child_of(s, run_activity) and s.name.startswith("POST")]
    assert pager_calls, "the pager HTTP call is not a child of RunActivity:trigger_page"
    attributes = pager_calls[0].attributes or {}
    url = attributes.get("url.full") or attributes.get("http.url")  # new or old conventions
    assert str(url).endswith("/v2/enqueue")


def _child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return span.parent is not None and span.parent.span_id == parent.context.span_id


async def _pause() -> None:
    await asyncio.sleep(0.1)
