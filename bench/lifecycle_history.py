"""How big one incident's history gets over a full SEV1 lifecycle, from report to close.

    .venv/bin/python -m bench.lifecycle_history [--write-doc]

A SEV1 for `nordlicht-bank` (an EU bank: the contract's 2 hours, DORA's staged reports, NIS2,
GDPR) lived through on the Temporal dev server with per-workflow time skipping
(`start_time_skipping_v2`, as the workflow tests use it), so its month of clocks passes in
seconds: the first level of the chain does not answer and the second acknowledges; the client
acknowledges the notice; the owner posts a status update every 30 minutes (the policy's SEV1
cadence) until containment at 6 hours; every reporting stage is marked done an hour before it
falls due; resolved on day 2; closed with the review once the last stage is filed. The
activities are the workflow tests' doubles (tests/workflows/doubles.py): the history holds
their results, which have the shapes of the real ones, and the workflow's own decisions,
timers and payloads are exactly those of production.

Prints, and with --write-doc writes to docs/scale.md: events and JSON bytes per run and in all
(the workflow continues as new when Temporal suggests it), with the largest payloads by kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bench.docs import replace_block
from incidents.checklist import ChecklistTick, TickedItem
from incidents.clocks import StageDone
from incidents.lifecycle import (
    Action,
    CloseIncident,
    Containment,
    IncidentState,
    IncidentView,
    ReviewAnswers,
)
from incidents.notification import ClientAcknowledgement
from incidents.policy import load_policy
from incidents.report import IncidentReport, ReportValidation, StartIncident
from incidents.status_updates import StakeholderUpdate
from tests.conftest import start_dev_time_skipping
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "scale.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
POLICY = load_policy(REPO / "policies" / "clients" / "nordlicht-bank.yaml")

REPORT = IncidentReport.model_validate(
    {
        "client": "nordlicht-bank",
        "summary": "Customer records e-mailed to an outside address by an agent's account",
        "description": "DLP flagged 1,200 customer records sent from a Kraków agent's mailbox.",
        "channel": "monitoring",
        "reporter": {"name": "DLP", "contact": "dlp-krakow"},
        "category": "data_leakage",
        "severity": "SEV1",
        "data_categories": ["personal", "financial"],
        "records_affected": 1200,
        "validation": {"by": "soc.analyst", "note": "confirmed in the DLP console"},
    }
)


async def _until(handle: WorkflowHandle, state: IncidentState) -> None:
    for _ in range(400):
        if (await handle.query(IncidentWorkflow.state)).state == state:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the incident never reached {state}")


async def _pages(handle: WorkflowHandle, count: int) -> None:
    for _ in range(400):
        view = await handle.query(IncidentWorkflow.state)
        if sum(1 for e in view.timeline if e.event == "paged") >= count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"fewer than {count} pages")


async def _stages(handle: WorkflowHandle) -> list[tuple[datetime | None, str, str]]:
    """Every open reporting stage in force, soonest first (no fixed deadline last)."""
    view = await handle.query(IncidentWorkflow.state)
    far = datetime.max.replace(tzinfo=UTC)
    open_ = [
        (stage.due_at, clock.id, stage.stage)
        for clock in view.obligations
        if clock.in_force
        for stage in clock.stages
        if stage.status in ("pending", "breached", "no_fixed_deadline")
    ]
    return sorted(open_, key=lambda s: (s[0] or far, s[1], s[2]))


class VirtualClock:
    """The incident's own clock: wall time plus what has been skipped (per-workflow skipping)."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.skipped = timedelta(0)
        self.handle: WorkflowHandle | None = None

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skipped

    async def until(self, instant: datetime) -> None:
        ahead = instant - self.now()
        if ahead > timedelta(0):
            assert self.handle is not None
            await self.env.fast_forward(self.handle, ahead)
            self.skipped += ahead


async def _file_stages_due_before(
    clock: VirtualClock, handle: WorkflowHandle, horizon: datetime | None
) -> None:
    """Mark done, an hour before its deadline, every stage due before `horizon` (all if None)."""
    while True:
        stages = [s for s in await _stages(handle) if horizon is None or (s[0] and s[0] < horizon)]
        if not stages:
            return
        due, obligation, stage = stages[0]
        if due is not None:
            await clock.until(due - timedelta(hours=1))
        await handle.execute_update(
            IncidentWorkflow.mark_stage_done,
            StageDone(
                obligation=obligation, stage=stage, by="nordlicht.dpo", reference=f"{stage}-ref"
            ),
        )


ANSWERS = {
    "what_data": "personal, financial",
    "how_many_records": "1200",
    "where_it_went": "an outside personal mailbox",
    "location_proof": "DLP alert 4471",
}


async def _tick_required(handle: WorkflowHandle) -> None:
    """The agent works through the SOP checklist: every required item still open, answered."""
    for _ in range(400):
        view = await handle.query(IncidentWorkflow.state)
        if view.checklist is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("no checklist posted")
    items = tuple(
        TickedItem(id=item.id, answer=ANSWERS.get(item.id, "done"))
        for item in view.checklist.items
        if item.required and not item.done
    )
    if items:
        await handle.execute_update(
            IncidentWorkflow.tick_checklist,
            ChecklistTick(by="krakow.agent", channel="jira", items=items),
        )


async def lifecycle(env: WorkflowEnvironment) -> tuple[WorkflowHandle, IncidentView]:
    outside = Outside(policy=POLICY)
    clock = VirtualClock(env)
    async with new_worker(env.client, outside) as worker:
        received = clock.now()
        report = REPORT.model_copy(
            update={"aware_at": received, "validation": ReportValidation(by="soc.analyst")}
        )
        incident_id = f"nordlicht-bank-{uuid.uuid4().hex[:8]}"
        handle = await env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=report, received_at=received),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
        )
        clock.handle = handle
        await _until(handle, IncidentState.ESCALATED)
        await clock.until(received + timedelta(minutes=7))  # level 1 (5 min) unanswered
        await _pages(handle, 2)
        await handle.execute_update(IncidentWorkflow.acknowledge, Action(by="soc.manager"))
        start = clock.now()
        for half_hour in range(1, 13):  # updates every 30 min until contained at 6 h
            await clock.until(start + timedelta(minutes=30 * half_hour))
            await handle.execute_update(
                IncidentWorkflow.post_update,
                StakeholderUpdate(by="soc.manager", text=f"Update {half_hour}: tracing the sender"),
            )
            if half_hour == 2:
                await handle.execute_update(
                    IncidentWorkflow.client_acknowledged,
                    ClientAcknowledgement(contact="cert@nordlicht-bank.example"),
                )
            if half_hour == 4:
                await _tick_required(handle)
            if half_hour == 12:
                await handle.execute_update(
                    IncidentWorkflow.contain,
                    Containment(by="soc.manager", note="Mailbox locked; outbound rule removed"),
                )
        await _file_stages_due_before(clock, handle, received + timedelta(days=2))
        await clock.until(received + timedelta(days=2))
        await handle.execute_update(
            IncidentWorkflow.resolve, Action(by="soc.manager", note="Recipient confirmed deletion")
        )
        await _file_stages_due_before(clock, handle, None)
        await _tick_required(handle)
        await handle.execute_update(
            IncidentWorkflow.close,
            CloseIncident(
                by="security.lead",
                review=ReviewAnswers(
                    root_cause="An auto-forward rule set by a phishing page",
                    went_well="DLP caught it within minutes",
                    to_improve="Block external auto-forwarding tenant-wide",
                    training_needs="Phishing refresher for the Kraków team",
                ),
            ),
        )
        await handle.result()
        return handle, await handle.query(IncidentWorkflow.state)  # a worker answers queries


async def history_figures(client: Client, workflow_id: str) -> dict[str, Any]:
    """Every run of the incident, oldest first (continue-as-new starts a new one)."""
    runs = [
        w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'") if w.run_id
    ]
    per_run: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    for run_id in reversed(runs):
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        data = json.loads(history.to_json())
        for event in data["events"]:
            kinds[event["eventType"]] += len(json.dumps(event))
        per_run.append({"events": len(history.events), "bytes": len(history.to_json().encode())})
    return {
        "runs": per_run,
        "events": sum(r["events"] for r in per_run),
        "bytes": sum(r["bytes"] for r in per_run),
        "largest_kinds": [
            {"event": kind.removeprefix("EVENT_TYPE_"), "bytes": size}
            for kind, size in kinds.most_common(5)
        ],
    }


async def measure() -> dict[str, Any]:
    env = await start_dev_time_skipping()
    try:
        started = time.monotonic()
        handle, view = await lifecycle(env)
        figures = await history_figures(env.client, handle.id)
        return {
            **figures,
            "timeline_entries": len(view.timeline),
            "obligations": sorted(c.id for c in view.obligations if c.in_force),
            "wall_s": round(time.monotonic() - started, 1),
            "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        }
    finally:
        await env.shutdown()


def render(f: dict[str, Any]) -> str:
    runs = ", ".join(f"{r['events']} events / {r['bytes']:,} B" for r in f["runs"])
    kinds = ", ".join(f"{k['event']} {k['bytes']:,} B" for k in f["largest_kinds"])
    return "\n".join(
        [
            f"Last run: {f['recorded_at']} (`python -m bench.lifecycle_history`). A SEV1 for "
            f"`nordlicht-bank` from report to close, {len(f['obligations'])} reporting "
            f"obligations in force ({', '.join(f['obligations'])}), "
            f"{f['timeline_entries']} timeline entries:",
            "",
            "| figure | measured |",
            "|---|---:|",
            f"| history, all runs | {f['events']:,} events, {f['bytes']:,} bytes JSON |",
            f"| runs (continue-as-new) | {len(f['runs'])}: {runs} |",
            f"| largest event kinds by JSON bytes | {kinds} |",
        ]
    )


def write_doc(block: str) -> None:
    replace_block(DOC, "lifecycle", block)
    replace_block(BENCHMARKS, "lifecycle", block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-doc", action="store_true", help="rewrite docs/scale.md")
    args = parser.parse_args()
    figures = asyncio.run(measure())
    print(json.dumps(figures, indent=2))
    if args.write_doc:
        write_doc(render(figures))
        print(f"{DOC.relative_to(REPO)} updated")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # temporalio's core can abort at interpreter exit (sdk-python#300)
