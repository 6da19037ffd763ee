"""Many open incidents on the embedded stack: worker memory, history size, list and query times.

    .venv/bin/python -m bench.scale [--incidents 1000] [--concurrency 16] [--write-doc]

Starts its own stack (`make run`'s supervisor on free ports, a private state dir), files
`--incidents` reports through the intake API (the path a real report takes: Jira ticket, page,
reporting clocks armed), waits until every one is ESCALATED with its timers armed, then measures:

- the worker's resident memory (VmRSS of the worker process, from /proc) before and after;
- the history of one incident at that point (events, bytes of its JSON), via fetch_history;
- Temporal visibility: `count_workflows` and listing every open incident (`IncidentState =
  'ESCALATED'`), and the latency of the `state` query on one incident (its cache may be cold);
- the Temporal server's CPU and RSS and the worker's CPU over 30 s of idling with them all open.

Not in `make test` (it takes minutes). 10,000 is the issue's target; on a 2-core machine shared
with other work, run what fits and read the per-incident figures to extrapolate (docs/scale.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from integrations.temporal import connect
from tests.support.stacks import api_headers, running_stack

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "scale.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def body(i: int, run: str) -> dict[str, Any]:
    return {
        "client": "demo",
        "summary": f"Caller reports a lookalike bank SMS ({i})",
        "description": "Customer forwarded an SMS from a lookalike sender asking for a PIN.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        "reporter": {"name": "Agent 4410", "contact": "ext 4410"},
        "category": "phishing",
        "external_ref": f"SCALE-{run}-{i}",
    }


async def file_all(base: str, headers: dict[str, str], n: int, concurrency: int) -> float:
    run = f"{int(time.time())}"
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:

        async def one(i: int) -> None:
            async with gate:
                response = await api.post("/api/v1/incidents", json=body(i, run))
                response.raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.monotonic() - started


async def measure(target: str, n: int, wait_at_most: float) -> dict[str, Any]:
    client = await connect(target)
    query = "WorkflowType = 'IncidentWorkflow' AND IncidentState = 'ESCALATED'"
    started = time.monotonic()
    while (await client.count_workflows(query)).count < n:
        if time.monotonic() - started > wait_at_most:
            raise SystemExit(f"only {(await client.count_workflows(query)).count}/{n} escalated")
        await asyncio.sleep(2)
    escalated_after = time.monotonic() - started
    t = time.monotonic()
    count = (await client.count_workflows(query)).count
    count_s = time.monotonic() - t
    t = time.monotonic()
    listed = [w.id async for w in client.list_workflows(query, page_size=1000)]
    list_s = time.monotonic() - t
    handle = client.get_workflow_handle(listed[len(listed) // 2])
    t = time.monotonic()
    await handle.query("state")
    query_s = time.monotonic() - t
    history = await handle.fetch_history()
    return {
        "escalated_wait_s": round(escalated_after, 1),
        "count": count,
        "count_s": round(count_s, 3),
        "listed": len(listed),
        "list_s": round(list_s, 2),
        "query_s": round(query_s, 3),
        "history_events": len(history.events),
        "history_bytes": len(history.to_json().encode()),
    }


def run(n: int, concurrency: int, idle: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as state:
        with running_stack(Path(state)) as stack:
            worker = stack.part("worker").process
            temporal = stack.part("temporal").process
            assert worker is not None and temporal is not None
            rss_before = rss_mb(worker.pid)
            filing_s = asyncio.run(
                file_all(stack.settings.intake_base_url, api_headers(stack), n, concurrency)
            )
            figures = asyncio.run(measure(stack.settings.temporal_target, n, wait_at_most=60 + n))
            rss_after = rss_mb(worker.pid)
            cpu_w, cpu_t = cpu_seconds(worker.pid), cpu_seconds(temporal.pid)
            time.sleep(idle)
            idle_w = (cpu_seconds(worker.pid) - cpu_w) / idle * 100
            idle_t = (cpu_seconds(temporal.pid) - cpu_t) / idle * 100
            db = Path(state) / "temporal.db"
            return {
                "incidents": n,
                "filing_s": round(filing_s, 1),
                "filed_per_s": round(n / filing_s, 1),
                **figures,
                "worker_rss_mb_before": round(rss_before, 1),
                "worker_rss_mb_after": round(rss_after, 1),
                "worker_rss_kb_per_incident": round((rss_after - rss_before) * 1024 / n, 1),
                "temporal_rss_mb": round(rss_mb(temporal.pid), 1),
                "temporal_db_mb": round(db.stat().st_size / 2**20, 1) if db.exists() else None,
                "idle_s": idle,
                "idle_cpu_worker_pct": round(idle_w, 1),
                "idle_cpu_temporal_pct": round(idle_t, 1),
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            }


def render(f: dict[str, Any]) -> str:
    n = f["incidents"]
    per10k = 10_000 / n
    return "\n".join(
        [
            f"Last run: {f['recorded_at']} on {f['machine']}; {n} open incidents "
            "(client `demo`, each ticketed, paged and with its reporting clocks armed).",
            "",
            "| figure | measured | linear extrapolation to 10,000 |",
            "|---|---:|---:|",
            f"| filing through the intake API | {f['filing_s']} s ({f['filed_per_s']}/s) | "
            f"{f['filing_s'] * per10k / 60:.0f} min |",
            f"| until all ESCALATED (after filing) | {f['escalated_wait_s']} s | - |",
            f"| worker RSS before → after | {f['worker_rss_mb_before']} → "
            f"{f['worker_rss_mb_after']} MB ({f['worker_rss_kb_per_incident']} KB/incident) | "
            f"{f['worker_rss_mb_before'] + f['worker_rss_kb_per_incident'] * 10_000 / 1024:.0f}"
            " MB (upper bound: the workflow cache is bounded, see below) |",
            f"| Temporal dev server RSS / SQLite file | {f['temporal_rss_mb']} MB / "
            f"{f['temporal_db_mb']} MB | - / {(f['temporal_db_mb'] or 0) * per10k:.0f} MB |",
            f"| history of one open incident | {f['history_events']} events, "
            f"{f['history_bytes']:,} bytes JSON | - |",
            f"| `count_workflows` (IncidentState = 'ESCALATED') | {f['count_s']} s | - |",
            f"| list all open incidents | {f['list_s']} s ({f['listed']}) | "
            f"{f['list_s'] * per10k:.1f} s |",
            f"| `state` query on one incident | {f['query_s']} s | - |",
            f"| idle CPU over {f['idle_s']:.0f} s, worker / server | "
            f"{f['idle_cpu_worker_pct']} % / {f['idle_cpu_temporal_pct']} % | - |",
        ]
    )


def write_doc(block: str) -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + block + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    parser.add_argument("--write-doc", action="store_true", help="rewrite docs/scale.md")
    args = parser.parse_args()
    figures = run(args.incidents, args.concurrency, args.idle)
    print(json.dumps(figures, indent=2))
    out = REPO / ".state" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    if args.write_doc:
        write_doc(render(figures))
        print(f"{DOC.relative_to(REPO)} updated")


if __name__ == "__main__":
    main()
