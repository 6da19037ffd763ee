"""What the Temporal UI does with encrypted history, done over real HTTP: fetch the stored
(encrypted) payloads, post them from the UI's origin to the intake server's `/codec/decode`,
and read plaintext back, with the CORS headers a browser needs. Also: `make run`'s dev server
is pointed at that endpoint when a key is configured."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from incident_desk.settings import Settings
from incident_desk.stack import Stack
from intake.app import create_app
from integrations.codec import AesGcmCodec
from integrations.temporal import connect
from tests.support.servers import free_port, run_app
from tests.workflows.test_digest import recording_worker
from workflows.digest import DigestRequest, DigestWorkflow

KEY = os.urandom(32)
KEYS = f"ui-1:{base64.b64encode(KEY).decode()}"


def settings(**more: object) -> Settings:
    return Settings(
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        policies_dir="policies",
        codec_keys=KEYS,
        **more,
    )


async def test_ui_reads_encrypted_history_through_the_codec_endpoint(
    dev_env: WorkflowEnvironment,
) -> None:
    target = dev_env.client.service_client.config.target_host
    encrypted = await connect(target, dev_env.client.namespace, codec=AesGcmCodec({"ui-1": KEY}))
    async with recording_worker(encrypted) as queue:
        handle = await encrypted.start_workflow(
            DigestWorkflow.run,
            DigestRequest(client="demo"),
            id=f"digest-codec-{os.urandom(3).hex()}",
            task_queue=queue,
        )
        await handle.result()

    # What the UI's server hands the browser: the stored payloads, still encrypted.
    history = await dev_env.client.get_workflow_handle(handle.id).fetch_history()
    completed = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    )
    stored = Payloads(payloads=completed.activity_task_completed_event_attributes.result.payloads)
    body = json_format.MessageToJson(stored)
    assert b"Demo Client Ltd" not in stored.payloads[0].data

    app_settings = settings()
    ui_origin = app_settings.temporal_ui
    with run_app(create_app(app_settings)) as intake:
        http = httpx.AsyncClient(timeout=10)
        preflight = await http.options(
            f"{intake}/codec/decode",
            headers={
                "Origin": ui_origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ui_origin
        decoded = await http.post(
            f"{intake}/codec/decode",
            content=body,
            headers={
                "Origin": ui_origin,
                "Content-Type": "application/json",
                "X-Namespace": dev_env.client.namespace,
            },
        )
        await http.aclose()
    assert decoded.status_code == 200, decoded.text
    assert decoded.headers["access-control-allow-origin"] == ui_origin
    plain = Payloads()
    json_format.Parse(decoded.text, plain)
    text = plain.payloads[0].data.decode()
    assert "Demo Client Ltd" in text and "demo-REC-1" in text


def test_make_run_points_the_dev_server_ui_at_the_intake_codec(tmp_path: Path) -> None:
    keyed = Stack(settings(state_dir=tmp_path / "keyed"))
    argv = keyed.part("temporal").argv
    endpoint = argv[argv.index("--ui-codec-endpoint") + 1]
    assert endpoint == f"{keyed.settings.intake_base_url}/codec"
    plain = Stack(
        Settings(temporal_port=free_port(), policies_dir="policies", state_dir=tmp_path / "plain")
    )
    assert "--ui-codec-endpoint" not in plain.part("temporal").argv
