"""Reading an incident's state while its workflow may be between two runs.

A long incident continues as new (workflows/carry_over.py): for a moment after the switch, and
likewise right after an incident starts, the current run has not finished its first workflow
task, and the server refuses a query with FAILED_PRECONDITION / WorkflowNotReadyFailure instead
of waiting. That is not "closed" (the same status code): ask again shortly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from incidents.lifecycle import IncidentView
from workflows.incident import IncidentWorkflow

NOT_READY = "WorkflowNotReadyFailure"
# A run's first workflow task normally completes within milliseconds; a busy worker takes longer.
ATTEMPTS = 25
PAUSE_SECONDS = 0.2


def not_ready(exc: RPCError) -> bool:
    """The run exists but has not answered its first workflow task yet."""
    if exc.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    details = exc.grpc_status.details if exc.grpc_status is not None else []
    return any(d.type_url.endswith(NOT_READY) for d in details) or (
        "not scheduled yet" in exc.message
    )


async def query_state(handle: WorkflowHandle[Any, Any], **options: Any) -> IncidentView:
    """`handle.query(IncidentWorkflow.state)`, asked again while the current run is not ready."""
    for attempt in range(ATTEMPTS):
        try:
            return await handle.query(IncidentWorkflow.state, **options)
        except RPCError as exc:
            if not not_ready(exc) or attempt == ATTEMPTS - 1:
                raise
        await asyncio.sleep(PAUSE_SECONDS)
    raise AssertionError("unreachable")
