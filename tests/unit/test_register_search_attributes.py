"""Search-attribute registration on a cluster: idempotent, refuses a type clash, and the shell
script for operators stays in step with workflows/names.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.testing import WorkflowEnvironment

from incident_desk.temporal_cli import (
    SearchAttributeConflict,
    create_commands,
    register_search_attributes,
    wanted,
)
from integrations.temporal import connect, venv_binary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server as a fresh cluster looks: none of our attributes in namespace `fresh`, and
    namespace `clash` holding a JiraKey of the wrong type."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=["--namespace", "fresh", "--namespace", "clash"],
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="clash",
            search_attributes={"JiraKey": IndexedValueType.INDEXED_VALUE_TYPE_INT},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


def target(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_registers_what_is_missing_and_is_idempotent(
    bare_server: WorkflowEnvironment,
) -> None:
    client = await connect(target(bare_server), "fresh")
    first = await register_search_attributes(client)
    assert sorted(first.added) == sorted(wanted()) and first.present == []
    second = await register_search_attributes(client)
    assert second.added == [] and sorted(second.present) == sorted(wanted())
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="fresh")
    )
    assert {n: listed.custom_attributes[n] for n in wanted()} == {
        n: kind.value for n, kind in wanted().items()
    }


async def test_a_type_clash_is_refused_and_named(bare_server: WorkflowEnvironment) -> None:
    client = await connect(target(bare_server), "clash")
    with pytest.raises(
        SearchAttributeConflict, match="JiraKey is INT, Incident Desk needs Keyword"
    ):
        await register_search_attributes(client)


def test_cli_connects_as_the_worker_does(bare_server: WorkflowEnvironment) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": target(bare_server), "TEMPORAL_NAMESPACE": "fresh"}
    env.pop("INCIDENT_DESK_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "incident_desk.cli", "temporal", "register-search-attributes"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "namespace fresh (plaintext)" in done.stdout
    assert "already present: " in done.stdout


def test_the_operators_script_matches_the_names_in_code() -> None:
    script = (REPO / "deploy" / "register-search-attributes.sh").read_text()
    lines = [
        line.replace('"$NAMESPACE"', "default")
        for line in script.splitlines()
        if line.startswith("temporal operator")
    ]
    assert lines == create_commands("default")
