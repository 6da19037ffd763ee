"""Horizontal scale: two worker processes share the task queue; one is SIGKILLed while incidents
are in flight, and the other finishes every one of them with no effect lost or doubled.

This is the production shape (any number of `python -m worker` against one cluster) on one
machine: the stack's own worker plus a second one started with the same environment. Temporal
does the failing over; there is no coordination of our own to test, only that our activities
stay idempotent when a task is retried on another process.

Bound: a workflow task on the dead worker's sticky queue moves to the shared queue after the
sticky schedule-to-start timeout (seconds), and an activity it was running is retried once its
heartbeat timeout (5 s, well inside the 30 s start-to-close) passes, so the wait allows for that
once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from incident_desk.stack import Stack
from integrations.temporal import connect
from tests.faults.harness import api_headers, record_figures, wait_until
from tests.faults.test_faults import (
    ACTIVITY_TIMEOUT_S,
    all_escalated,
    assert_exactly_once,
    file_incidents,
)
from tests.support.servers import free_port
from tests.support.stacks import running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("scale-state")) as stack:
        yield stack


def identities(stack: Stack, workflow_ids: list[str]) -> dict[str, set[str]]:
    """Which worker processes (`pid@host`) started an activity or completed a workflow task."""

    async def collect() -> dict[str, set[str]]:
        client = await connect(stack.settings.temporal_target)
        out: dict[str, set[str]] = {}
        for wf in workflow_ids:
            seen: set[str] = set()
            async for event in client.get_workflow_handle(wf).fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    seen.add(event.activity_task_started_event_attributes.identity)
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    seen.add(event.workflow_task_completed_event_attributes.identity)
            out[wf] = seen
        return out

    return asyncio.run(collect())


def test_two_workers_one_sigkilled_every_incident_escalated_once(stack: Stack) -> None:
    settings = stack.settings
    second = stack.add_worker("worker-2", health_port=free_port())
    probes = f"http://{settings.host}:{second.port}"
    assert httpx.get(f"{probes}/healthz", timeout=5).json() == {"status": "alive"}
    ready = httpx.get(f"{probes}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text

    first = stack.part("worker")
    assert first.process is not None and second.process is not None
    killed_pid, survivor_pid = first.process.pid, second.process.pid

    def kill_first(i: int) -> None:
        if i == 2:
            time.sleep(0.3)  # both workers are now busy with the first three incidents
            stack.kill("worker")

    started = time.monotonic()
    with httpx.Client(
        base_url=settings.intake_base_url, headers=api_headers(stack), timeout=30
    ) as api:
        filed = file_incidents(api, [f"SCALE-{i}" for i in range(6)], between=kill_first)
    assert stack.part("worker").process.poll() is not None, "the first worker is dead"
    incidents, workflows = list(filed), list(filed.values())

    took = wait_until(
        lambda: all_escalated(settings, stack, incidents),
        ACTIVITY_TIMEOUT_S + 25,
        "every incident ESCALATED on the surviving worker",
    )
    counts = assert_exactly_once(settings, workflows)

    seen = identities(stack, workflows)
    survivor = {
        wf for wf, ids in seen.items() if any(i.startswith(f"{survivor_pid}@") for i in ids)
    }
    touched_by_killed = {
        wf for wf, ids in seen.items() if any(i.startswith(f"{killed_pid}@") for i in ids)
    }
    # Everything filed after the kill can only have run on the survivor.
    for wf in workflows[3:]:
        assert {i.split("@")[0] for i in seen[wf]} == {str(survivor_pid)}, seen[wf]
    assert httpx.get(f"{probes}/readyz", timeout=5).status_code == 200

    record_figures(
        "faults_two_workers",
        {
            **counts,
            "workers": 2,
            "sigkilled": 1,
            "incidents_touched_by_killed_worker": len(touched_by_killed),
            "incidents_touched_by_survivor": len(survivor),
            "seconds_to_all_escalated": round(took, 1),
            "seconds_total": round(time.monotonic() - started, 1),
        },
    )
