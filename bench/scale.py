"""Many open incidents on the embedded stack: worker memory, history size, list and query times.

    .venv/bin/python -m bench.scale [--incidents 1000] [--concurrency 16] [--write-doc]

Starts its own stack (`make run`'s supervisor on free ports, a private state dir), files
`--incidents` reports through the intake API (the path a real report takes: Jira ticket, page,
reporting clocks armed), waits until every one is ESCALATED with its timers armed, then measures:

- the worker's resident memory (VmRSS of the worker process, from /proc) before and after;
- the history of one incident at that point (events, bytes of its JSON), via fetch_history;
- Temporal visibility: `count_workflows` and listing every open incident (`IncidentState =
  'ESCALATED'`), and the latency of the `state` query on one incident (its cache may be cold);
- the Temporal server's CPU and RSS and the worker's CPU over 30 s of idling with them all open;
- clock lag when many fall due at once: the last `--burst` of the incidents are filed for
  `harbour-pine` (agents in Pune: CERT-In's 6-hour clock) with an awareness time chosen so that
  all their CERT-In deadlines fall on one instant shortly after the rest are in; for each, the
  lag of the breach (the workflow's `breached_at` − due, on a sample) and of its compliance page
  reaching the pager sandbox (received − due, for all).

Not in `make test` (it takes minutes). 10,000 is the issue's target; on a 2-core machine shared
with other work, run what fits and read the per-incident figures to extrapolate (docs/scale.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.docs import replace_block
from integrations.temporal import connect
from tests.support.stacks import api_headers, running_stack

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "scale.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RUN = f"{int(time.time())}"
# The burst: harbour-pine's agents sit in Pune, so CERT-In's 6 hours from awareness applies to
# every one of its incidents (policies/clients/harbour-pine.yaml, docs/obligations.md).
BURST_CLIENT = "harbour-pine"
BURST_OBLIGATION = "in_certin_2022_cyber_incident"
BURST_CLOCK = timedelta(hours=6)
ESCALATED = "WorkflowType = 'IncidentWorkflow' AND IncidentState = 'ESCALATED'"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def body(i: int, run: str, aware_at: datetime | None = None) -> dict[str, Any]:
    """One report; each its own contact, so none is merged into another as a duplicate."""
    report: dict[str, Any] = {
        "client": "demo",
        "summary": f"Caller reports a lookalike bank SMS ({i})",
        "description": "Customer forwarded an SMS from a lookalike sender asking for a PIN.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        "reporter": {"name": "Agent 4410", "contact": f"ext {run}-{i}"},
        "category": "phishing",
        "data_categories": ["personal"],  # GDPR's 72-hour clocks armed beside the contract's
        "external_ref": f"SCALE-{run}-{i}",
    }
    if aware_at is not None:
        report["client"] = BURST_CLIENT
        report["aware_at"] = aware_at.isoformat()
    return report


async def file_all(
    base: str,
    headers: dict[str, str],
    numbers: range,
    concurrency: int,
    aware_at: datetime | None = None,
    escalated: Callable[[], Awaitable[int]] | None = None,
    window: int = 0,
) -> float:
    """File every report, keeping at most `window` of them not yet ESCALATED: unthrottled, the
    intake accepts reports far faster than one worker pages them, and a worker starved of CPU
    lets its activities outrun their timeouts and redo work (docs/scale.md)."""
    gate = asyncio.Semaphore(concurrency)
    done = numbers.start
    progressed = asyncio.Condition()

    async def watch() -> None:
        nonlocal done
        assert escalated is not None
        while True:
            count = await escalated()
            async with progressed:
                if count // 500 > done // 500:
                    print(f"{time.strftime('%H:%M:%S')} {count} escalated", file=sys.stderr)
                done = count
                progressed.notify_all()
            await asyncio.sleep(1)

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as api:

        async def one(i: int) -> None:
            if window:
                async with progressed:
                    await progressed.wait_for(lambda: i - done < window)
            async with gate:
                for attempt in range(6):  # a busy intake may shed load; a real client retries
                    try:
                        response = await api.post("/api/v1/incidents", json=body(i, RUN, aware_at))
                    except httpx.TransportError:
                        if attempt == 5:
                            raise
                    else:
                        if response.status_code not in (429, 502, 503, 504) or attempt == 5:
                            response.raise_for_status()
                            return
                    await asyncio.sleep(2**attempt)

        watcher = asyncio.create_task(watch()) if escalated and window else None
        started = time.monotonic()
        try:
            await asyncio.gather(*(one(i) for i in numbers))
        finally:
            if watcher is not None:
                watcher.cancel()
        return time.monotonic() - started


async def escalated_count(client: Client) -> int:
    return (await client.count_workflows(ESCALATED)).count


async def wait_escalated(client: Client, n: int, wait_at_most: float) -> float:
    started = time.monotonic()
    while (seen := await escalated_count(client)) < n:
        if time.monotonic() - started > wait_at_most:
            raise SystemExit(f"only {seen}/{n} escalated after {wait_at_most:.0f} s")
        await asyncio.sleep(2)
    return time.monotonic() - started


async def measure(client: Client, n: int) -> dict[str, Any]:
    query = ESCALATED
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
        "count": count,
        "count_s": round(count_s, 3),
        "listed": len(listed),
        "list_s": round(list_s, 2),
        "query_s": round(query_s, 3),
        "history_events": len(history.events),
        "history_bytes": len(history.to_json().encode()),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lag_figures(prefix: str, lags: list[float]) -> dict[str, Any]:
    if not lags:
        return {f"{prefix}_n": 0}
    return {
        f"{prefix}_n": len(lags),
        f"{prefix}_p50_s": round(percentile(lags, 0.5), 2),
        f"{prefix}_p95_s": round(percentile(lags, 0.95), 2),
        f"{prefix}_max_s": round(max(lags), 2),
    }


async def burst_lags(
    client: Client, pager_url: str, due: datetime, burst: int, sample: int, wait_at_most: float
) -> dict[str, Any]:
    """Wait for the burst's breach pages, then the lag of each: page received − due, and on a
    sample the workflow's own `breached_at` − due (when its timer fired, as Temporal saw it)."""
    wanted = f"~breach-{BURST_OBLIGATION}-initial"
    deadline = time.monotonic() + wait_at_most
    async with httpx.AsyncClient(base_url=pager_url, timeout=120) as pager:
        while True:
            events = (await pager.get("/sandbox/events")).json()
            pages = {
                e["dedup_key"]: e["received_at"]
                for e in events
                if (e["dedup_key"] or "").endswith(wanted)
                and e["payload"].get("event_action") == "trigger"
            }
            if len(pages) >= burst or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    page_lags = [
        (datetime.fromisoformat(at.replace("Z", "+00:00")) - due).total_seconds()
        for at in pages.values()
    ]
    workflow_ids = sorted(key.split("~", 1)[0] for key in pages)
    step = max(1, len(workflow_ids) // sample)
    timer_lags: list[float] = []
    for workflow_id in workflow_ids[::step][:sample]:
        view = await client.get_workflow_handle(workflow_id).query("state")
        for clock in view["obligations"]:
            if clock["id"] != BURST_OBLIGATION:
                continue
            for stage in clock["stages"]:
                if stage.get("breached_at"):
                    fired = datetime.fromisoformat(stage["breached_at"])
                    timer_lags.append((fired - due).total_seconds())
    return {
        "burst": burst,
        "burst_due": due.isoformat(timespec="seconds"),
        **lag_figures("page_lag", page_lags),
        **lag_figures("timer_lag", timer_lags),
    }


def run(
    n: int, burst: int, concurrency: int, idle: float, window: int, settle: float
) -> dict[str, Any]:
    steady = n - burst
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as state:
        with running_stack(Path(state)) as stack:
            worker = stack.part("worker").process
            temporal = stack.part("temporal").process
            assert worker is not None and temporal is not None
            base, headers = stack.settings.intake_base_url, api_headers(stack)
            return asyncio.run(
                _run(stack, base, headers, steady, burst, concurrency, idle, window, settle)
            ) | {
                "window": window,
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            }


async def _run(
    stack: Any,
    base: str,
    headers: dict[str, str],
    steady: int,
    burst: int,
    concurrency: int,
    idle: float,
    window: int,
    settle: float,
) -> dict[str, Any]:
    worker, temporal = stack.part("worker").process, stack.part("temporal").process
    client = await connect(stack.settings.temporal_target)
    load: list[float] = []
    started = time.monotonic()

    def count() -> Awaitable[int]:
        return escalated_count(client)

    rss_before = rss_mb(worker.pid)
    filing_s = await file_all(base, headers, range(steady), concurrency, None, count, window)
    await wait_escalated(client, steady, wait_at_most=600 + steady)
    steady_s = time.monotonic() - started
    load.append(os.getloadavg()[0])
    # The burst's deadlines fall together, after it is all in: its filing takes about as long
    # per incident as the steady part did, with margin for the measurements before the instant.
    per_incident = steady_s / max(steady, 1)
    due = datetime.now(UTC) + timedelta(seconds=burst * per_incident * 1.5 + 120 + settle + idle)
    due = due.replace(microsecond=0)
    burst_started = time.monotonic()
    filing_s += await file_all(
        base, headers, range(steady, steady + burst), concurrency, due - BURST_CLOCK, count, window
    )
    await wait_escalated(client, steady + burst, wait_at_most=600 + burst)
    all_in_s = time.monotonic() - started
    burst_in = datetime.now(UTC)
    if burst and burst_in >= due:
        raise SystemExit(
            f"the burst was in only at {burst_in:%H:%M:%S}, after its deadlines ({due:%H:%M:%S})"
        )
    await asyncio.sleep(settle)  # the last write-backs and notices, before "idle"
    figures = await measure(client, steady + burst)
    rss_after = rss_mb(worker.pid)
    cpu_w, cpu_t = cpu_seconds(worker.pid), cpu_seconds(temporal.pid)
    await asyncio.sleep(idle)
    idle_w = (cpu_seconds(worker.pid) - cpu_w) / idle * 100
    idle_t = (cpu_seconds(temporal.pid) - cpu_t) / idle * 100
    load.append(os.getloadavg()[0])
    lags: dict[str, Any] = {}
    if burst:
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        lags = await burst_lags(
            client, stack.settings.pager_sandbox_url, due, burst, sample=200,
            wait_at_most=600 + burst,
        )  # fmt: skip
        load.append(os.getloadavg()[0])
    db = stack.settings.state_dir / "temporal.db"
    n = steady + burst
    return {
        "incidents": n,
        "filing_s": round(filing_s, 1),
        "filed_per_s": round(n / filing_s, 1),
        "all_escalated_s": round(all_in_s, 1),
        "escalated_per_s": round(n / all_in_s, 1),
        "burst_in_s": round(time.monotonic() - burst_started, 1),
        **figures,
        "worker_rss_mb_before": round(rss_before, 1),
        "worker_rss_mb_after": round(rss_after, 1),
        "worker_rss_kb_per_incident": round((rss_after - rss_before) * 1024 / n, 1),
        "temporal_rss_mb": round(rss_mb(temporal.pid), 1),
        "temporal_db_mb": round(db.stat().st_size / 2**20, 1) if db.exists() else None,
        "idle_s": idle,
        "idle_cpu_worker_pct": round(idle_w, 1),
        "idle_cpu_temporal_pct": round(idle_t, 1),
        **lags,
        "load_average": [round(x, 1) for x in load],
    }


def render(f: dict[str, Any]) -> str:
    n = f["incidents"]
    per10k = 10_000 / n
    extrapolate = n < 10_000
    lines = [
        f"Last run: {f['recorded_at']} on {f['machine']}; {n:,} open incidents at once, "
        f"{n - f.get('burst', 0):,} for `demo` (GDPR and contract clocks armed) and "
        f"{f.get('burst', 0):,} for `harbour-pine` (CERT-In clock armed), each ticketed in Jira, "
        "paged and its client notified. Load average (1 min) after filing / after idling / "
        f"after the burst: {' / '.join(str(x) for x in f.get('load_average', []))}.",
        "",
        "| figure | measured |" + (" linear extrapolation to 10,000 |" if extrapolate else ""),
        "|---|---:|" + ("---:|" if extrapolate else ""),
    ]

    def row(name: str, value: str, scaled: str = "-") -> None:
        lines.append(f"| {name} | {value} |" + (f" {scaled} |" if extrapolate else ""))

    row(
        "filing through the intake API",
        f"{f['filing_s']} s ({f['filed_per_s']}/s)",
        f"{f['filing_s'] * per10k / 60:.0f} min",
    )
    row(
        "until all ESCALATED (ticket, page, clocks armed)",
        f"{f['all_escalated_s']} s ({f['escalated_per_s']}/s)",
        f"{f['all_escalated_s'] * per10k / 60:.0f} min",
    )
    row(
        "worker RSS before → after",
        f"{f['worker_rss_mb_before']} → {f['worker_rss_mb_after']} MB "
        f"({f['worker_rss_kb_per_incident']} KB/incident)",
        f"{f['worker_rss_mb_before'] + f['worker_rss_kb_per_incident'] * 10_000 / 1024:.0f}"
        " MB (upper bound: the workflow cache is bounded, see below)",
    )
    row(
        "Temporal dev server RSS / SQLite file",
        f"{f['temporal_rss_mb']} MB / {f['temporal_db_mb']} MB",
        f"- / {(f['temporal_db_mb'] or 0) * per10k:.0f} MB",
    )
    row(
        "history of one open incident",
        f"{f['history_events']} events, {f['history_bytes']:,} bytes JSON",
    )
    row("`count_workflows` (IncidentState = 'ESCALATED')", f"{f['count_s']} s")
    row(
        "list all open incidents",
        f"{f['list_s']} s ({f['listed']:,})",
        f"{f['list_s'] * per10k:.1f} s",
    )
    row("`state` query on one incident", f"{f['query_s']} s")
    row(
        f"idle CPU over {f['idle_s']:.0f} s, worker / server",
        f"{f['idle_cpu_worker_pct']} % / {f['idle_cpu_temporal_pct']} % of one core",
    )
    if f.get("page_lag_n"):
        row(
            f"{f['burst']:,} CERT-In deadlines due at one instant: breach page received − due "
            "(p50 / p95 / max)",
            f"{f['page_lag_p50_s']} / {f['page_lag_p95_s']} / {f['page_lag_max_s']} s "
            f"({f['page_lag_n']:,} pages)",
        )
    if f.get("timer_lag_n"):
        row(
            "the same, the workflow's `breached_at` − due (a sample)",
            f"{f['timer_lag_p50_s']} / {f['timer_lag_p95_s']} / {f['timer_lag_max_s']} s "
            f"({f['timer_lag_n']} incidents)",
        )
    return "\n".join(lines)


def write_doc(block: str) -> None:
    replace_block(DOC, "figures", block)
    replace_block(BENCHMARKS, "scale", block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument(
        "--burst", type=int, default=None, help="of which due at one instant (default a tenth)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before sampling")
    parser.add_argument(
        "--window", type=int, default=200, help="most reports in flight (0: no limit)"
    )
    parser.add_argument("--write-doc", action="store_true", help="rewrite docs/scale.md")
    args = parser.parse_args()
    burst = args.incidents // 10 if args.burst is None else args.burst
    if not 0 <= burst <= args.incidents:
        parser.error("--burst: between 0 and --incidents")
    figures = run(args.incidents, burst, args.concurrency, args.idle, args.window, args.settle)
    print(json.dumps(figures, indent=2))
    out = REPO / ".state" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    if args.write_doc:
        write_doc(render(figures))
        print(f"{DOC.relative_to(REPO)} updated")


if __name__ == "__main__":
    main()
