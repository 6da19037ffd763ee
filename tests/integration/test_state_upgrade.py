"""A `.state` kept from an older release still files incidents after an upgrade.

The dev server applies its `--search-attribute` flags only when it creates its database, so a
database made before an attribute existed lacks it and Temporal refuses every incident that sets
it. The stack registers what is missing each time it starts.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx

from integrations.temporal import connect, venv_binary
from tests.support.servers import free_port
from tests.support.stacks import api_client, running_stack
from workflows.names import IncidentSearchAttribute


def old_database(state_dir: Path) -> None:
    """A dev-server database with none of our search attributes, as an old release left it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [
            venv_binary("temporal"), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(port),
            "--db-filename", str(state_dir / "temporal.db"), "--log-level", "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def wait_up() -> None:
            for _ in range(150):
                try:
                    await connect(f"127.0.0.1:{port}")
                    return
                except Exception:  # not up yet
                    await asyncio.sleep(0.2)
            raise AssertionError("the bare dev server never came up")

        asyncio.run(wait_up())
    finally:
        server.terminate()
        server.wait(timeout=30)


async def attribute_names(target: str) -> set[str]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    client = await connect(target)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return set(listed.custom_attributes)


def test_a_kept_state_gets_the_new_search_attributes_and_files_incidents(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old_database(state)
    with running_stack(state) as stack:
        s = stack.settings
        wanted = {sa.key.name for sa in IncidentSearchAttribute}
        assert wanted <= asyncio.run(attribute_names(s.temporal_target))
        with api_client(stack) as http:
            filed = http.post(
                f"{s.intake_base_url}/api/v1/incidents",
                json={
                    "client": "demo",
                    "summary": "Caller reports a lost badge",
                    "description": "Badge lost on the bus.",
                    "channel": "phone",
                    "reporter": {"name": "Agent 7", "contact": "ext 7"},
                    "category": "phishing",
                    "external_ref": "UPGRADE-1",
                },
            )
        assert filed.status_code == 202, filed.text
        assert httpx.get(filed.json()["status_url"], headers=http.headers).status_code == 200
