"""Where an incident's time to page goes, read from its workflow history.

Every event carries the server's timestamp, so the path from the workflow's start to the
completion of its first `trigger_page` splits into: workflow tasks waiting for a worker to take
them (`wft_queue`), workflow tasks being run and answered (`wft_run`), activities waiting to be
taken (`activity_queue`, nil with eager activities), and each activity's own time. Used by
`bench.throughput` after its burst; nothing here changes any state.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

PAGE_ACTIVITY = "trigger_page"


def phases(events: list[HistoryEvent]) -> dict[str, float]:
    """Seconds per phase up to the first page, plus `total` and `workflow_tasks` (a count)."""
    spent: dict[str, float] = defaultdict(float)
    scheduled: dict[int, tuple[datetime, str]] = {}
    wft_scheduled = wft_started = None
    start = events[0].event_time.ToDatetime()
    for event in events:
        at = event.event_time.ToDatetime()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and wft_scheduled:
            spent["wft_queue"] += (at - wft_scheduled).total_seconds()
            spent["workflow_tasks"] += 1
            wft_started = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and wft_started:
            spent["wft_run"] += (at - wft_started).total_seconds()
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (at, name)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            since, _ = scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            spent["activity_queue"] += (at - since).total_seconds()
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            since, name = scheduled[
                event.activity_task_completed_event_attributes.scheduled_event_id
            ]
            spent[f"activity {name}"] += (at - since).total_seconds()
            if name == PAGE_ACTIVITY:
                spent["total"] = (at - start).total_seconds()
                break
    return dict(spent)


async def anatomy(client: Client, workflow_ids: list[str]) -> dict[str, float]:
    """Median of each phase over the given incidents (seconds; `workflow_tasks` a count)."""
    per_phase: dict[str, list[float]] = defaultdict(list)
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        found = phases(list(history.events))
        if "total" not in found:
            continue  # not paged (yet): nothing to split
        for name, value in found.items():
            per_phase[name].append(value)
    return {name: round(statistics.median(values), 3) for name, values in per_phase.items()}
