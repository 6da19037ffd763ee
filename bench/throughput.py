"""Throughput and time to page with 1, 2 and 4 worker processes, and a soak at saturation.

    .venv/bin/python -m bench.throughput [--workers 1,2,4] [--burst 100] [--rate 2]
        [--duration 20] [--soak 60] [--json out.json]

Starts its own embedded stack per worker count (`incident_desk.stack.Stack`: dev server on
SQLite, the sandboxes, the intake, and `Stack.add_worker` for the extra workers) on free ports
in a temporary state dir, so nothing else on the machine is disturbed and every count starts
from an empty server. For each count, in order:

1. light load: incidents filed open loop at `--rate` for `--duration` s; time to page
   (`202 Accepted` → the trigger's receipt stamp in the pager sandbox), as `bench.time_to_page`;
2. throughput: `--burst` incidents filed at once; pages per second from the first filing to
   the last page. The floor is the same number of trigger events sent straight to the pager
   sandbox with the same concurrency: what delivering the pages costs without us;
3. soak: open loop at the throughput just measured (the saturation rate) for `--soak` s; if
   the stack keeps up, the time to page stays flat from the first third to the last.

CPU seconds per process (from /proc) and the split of each burst incident's history
(`bench.page_anatomy`: workflow tasks queued and run, activities) say where the time goes. Floors and
figures come from the same run, so `docs/benchmarks.md` gives ratios. Not part of `make test`
(tests/integration/test_bench_throughput.py runs it once with tiny parameters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.page_anatomy import anatomy
from bench.time_to_page import _body, _stats, load, percentile, received
from incident_desk.connection import connect_configured
from incident_desk.settings import Settings
from incident_desk.stack import Stack
from incident_desk.tokens_cli import auth_headers

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = 100  # USER_HZ: /proc/<pid>/stat counts CPU time in these on Linux


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bench_settings(state_dir: Path) -> Settings:
    """A stack of its own: free ports, a private state dir, the repository's policies."""
    return Settings(
        state_dir=state_dir,
        policies_dir=REPO / "policies",
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        intake_port=free_port(),
        jira_sandbox_port=free_port(),
        pager_sandbox_port=free_port(),
        opsgenie_sandbox_port=free_port(),
        smtp_sandbox_port=free_port(),
        smtp_sandbox_http_port=free_port(),
        worker_health_port=free_port(),
        worker_shutdown_grace=2.0,
        metrics_address="",
    )


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU (user + system) used so far by each part; empty where /proc is not there."""
    used: dict[str, float] = {}
    for part in stack.parts:
        if part.process is None:
            continue
        try:
            fields = Path(f"/proc/{part.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[part.name] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    # Extra workers are summed under "worker": the question is what the workers cost together.
    delta: dict[str, float] = {}
    for name, value in after.items():
        key = "worker" if name.startswith("worker") else name
        delta[key] = round(delta.get(key, 0.0) + value - before.get(name, 0.0), 2)
    return delta


@dataclass
class Burst:
    incidents: int
    paged: int
    seconds: float  # first filing → last page (or → the wait ran out)
    page: dict[str, float]
    floor_seconds: float
    workflow_ids: list[str]


async def _fire_floor(pager: httpx.AsyncClient, n: int, run_id: str) -> float:
    """`n` trigger events straight to the sandbox, all at once, until the last is accepted."""

    async def one(i: int) -> None:
        body = {
            "routing_key": "bench",
            "event_action": "trigger",
            "dedup_key": f"floor-burst-{run_id}-{i}",
            "payload": {"summary": "floor", "source": "bench", "severity": "info"},
        }
        (await pager.post("/v2/enqueue", json=body)).raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start


async def burst(api: httpx.AsyncClient, pager: httpx.AsyncClient, n: int, wait: float) -> Burst:
    run_id = uuid.uuid4().hex[:6]
    accepted: dict[str, datetime] = {}

    async def file(i: int) -> None:
        response = await api.post("/api/v1/incidents", json=_body(f"b{run_id}", i))
        if response.status_code == 202:
            accepted[response.json()["workflow_id"]] = datetime.now(UTC)

    first = datetime.now(UTC)
    await asyncio.gather(*(file(i) for i in range(n)))
    got = await received(pager, set(accepted), wait)
    last = max(got.values(), default=datetime.now(UTC))
    times = [(got[k] - t).total_seconds() * 1000 for k, t in accepted.items() if k in got]
    floor = await _fire_floor(pager, n, run_id)
    return Burst(n, len(got), (last - first).total_seconds(), _stats(times), floor, list(got))


async def open_loop(
    api: httpx.AsyncClient, pager: httpx.AsyncClient, rate: float, duration: float, wait: float
) -> dict[str, Any]:
    """Open-loop run (as `bench.time_to_page`), plus the first and last third apart."""
    run = await load(api, pager, rate, duration)
    got = await received(pager, set(run.accepted) | set(run.floor_sent), wait)
    order = sorted(run.accepted.items(), key=lambda kv: kv[1])
    paged = [(got[k] - t).total_seconds() * 1000 for k, t in order if k in got]
    floor = [(got[k] - t).total_seconds() * 1000 for k, t in run.floor_sent.items() if k in got]
    third = max(1, len(paged) // 3)
    return {
        "rate": round(rate, 2),
        "duration": duration,
        "filed": int(rate * duration),
        "accepted": len(run.accepted),
        "paged": len(paged),
        "refusals": dict(run.refusals),
        "page": _stats(paged),
        "floor": _stats(floor),
        "first_third_p50": percentile(paged[:third], 0.5) if paged else None,
        "last_third_p50": percentile(paged[-third:], 0.5) if paged else None,
    }


def start_stack(workers: int, state_dir: Path) -> Stack:
    stack = Stack(bench_settings(state_dir))
    stack.start()
    try:
        for i in range(2, workers + 1):
            stack.add_worker(f"worker-{i}", free_port())
    except BaseException:
        stack.stop()
        raise
    return stack


async def measure_stack(
    stack: Stack, *, burst_size: int, rate: float, duration: float, soak: float, wait: float
) -> dict[str, Any]:
    s = stack.settings
    headers = auth_headers(s, None)
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(
            base_url=s.intake_base_url, headers=headers, timeout=60, limits=limits
        ) as api,
        httpx.AsyncClient(base_url=s.pager_sandbox_url, timeout=60, limits=limits) as pager,
    ):
        # Warm-up: the first incident pays for imports and connections, not the steady state.
        await open_loop(api, pager, 2.0, 1.0, wait)
        light = await open_loop(api, pager, rate, duration, wait)
        cpu0 = cpu_seconds(stack)
        b = await burst(api, pager, burst_size, wait)
        cpu1 = cpu_seconds(stack)
        client = await connect_configured(s)
        split = await anatomy(client, b.workflow_ids)
        throughput = b.paged / b.seconds if b.seconds > 0 else 0.0
        saturation = max(0.5, round(throughput, 1))
        soaked = await open_loop(api, pager, saturation, soak, wait) if soak > 0 else None
        cpu2 = cpu_seconds(stack)
    return {
        "light": light,
        "burst": {
            "incidents": b.incidents,
            "paged": b.paged,
            "seconds": round(b.seconds, 2),
            "throughput_per_s": round(throughput, 2),
            "page": b.page,
            "floor_seconds": round(b.floor_seconds, 3),
            "floor_per_s": round(b.incidents / b.floor_seconds, 1) if b.floor_seconds else None,
            "cpu_s": _cpu_delta(cpu0, cpu1),
            "anatomy_s": split,
        },
        "soak": soaked,
        "soak_cpu_s": _cpu_delta(cpu1, cpu2) if soaked else None,
    }


def run(
    workers: list[int],
    *,
    burst_size: int = 100,
    rate: float = 2.0,
    duration: float = 20.0,
    soak: float = 60.0,
    wait: float = 120.0,
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for count in workers:
        with tempfile.TemporaryDirectory(prefix="incident-desk-bench-") as tmp:
            stack = start_stack(count, Path(tmp))
            try:
                figures = asyncio.run(
                    measure_stack(
                        stack,
                        burst_size=burst_size,
                        rate=rate,
                        duration=duration,
                        soak=soak,
                        wait=wait,
                    )
                )
            finally:
                stack.stop()
        # Other work on the machine slows every figure: say how busy it was (1-minute load).
        results.append({"workers": count, "load_after": round(os.getloadavg()[0], 1), **figures})
    return results


def _ms(stats: dict[str, float] | None, key: str) -> str:
    return f"{stats[key]:.0f} ms" if stats and key in stats else "-"


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| workers | light rate | p50 | p95 | floor p50 | p50 / floor | burst | paged/s | "
        "floor/s | throughput / floor | saturation p50 (first → last third) | soak p95 | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        light, b, soak = r["light"], r["burst"], r["soak"]
        floor_p50 = light["floor"].get("p50") if light["floor"] else None
        ratio = f"{light['page']['p50'] / floor_p50:.0f}×" if floor_p50 and light["page"] else "-"
        share = (
            f"1/{b['floor_per_s'] / b['throughput_per_s']:.0f}"
            if b["floor_per_s"] and b["throughput_per_s"]
            else "-"
        )
        if soak and soak["first_third_p50"] is not None:
            sat = (
                f"{soak['rate']}/s: {soak['first_third_p50']:.0f} → "
                f"{soak['last_third_p50']:.0f} ms ({soak['paged']}/{soak['accepted']} paged)"
            )
        else:
            sat = "-"
        rows.append(
            f"| {r['workers']} | {light['rate']}/s | {_ms(light['page'], 'p50')} | "
            f"{_ms(light['page'], 'p95')} | {_ms(light['floor'], 'p50')} | {ratio} | "
            f"{b['paged']}/{b['incidents']} in {b['seconds']} s | {b['throughput_per_s']} | "
            f"{b['floor_per_s']} | {share} | {sat} | {_ms(soak['page'] if soak else None, 'p95')} | "
            f"{r['load_after']} |"
        )
    return "\n".join(rows)


def cpu_table(results: list[dict[str, Any]]) -> str:
    names = sorted({n for r in results for n in r["burst"]["cpu_s"]})
    rows = [
        "| workers | " + " | ".join(names) + " | total |",
        "|---:|" + "---:|" * (len(names) + 1),
    ]
    for r in results:
        cpu, n = r["burst"]["cpu_s"], r["burst"]["incidents"]
        cells = [f"{1000 * cpu.get(name, 0.0) / n:.0f}" for name in names]
        rows.append(
            f"| {r['workers']} | " + " | ".join(cells) + f" | {1000 * sum(cpu.values()) / n:.0f} |"
        )
    return "\n".join(rows)


def anatomy_table(results: list[dict[str, Any]]) -> str:
    names = sorted({n for r in results for n in r["burst"]["anatomy_s"]})
    rows = ["| workers | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for r in results:
        split = r["burst"]["anatomy_s"]
        cells = [
            f"{split[n]:g}"
            if n == "workflow_tasks"
            else f"{1000 * split[n]:.0f} ms"
            if n in split
            else "-"
            for n in names
        ]
        rows.append(f"| {r['workers']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--burst", type=int, default=100, help="incidents filed at once")
    parser.add_argument("--rate", type=float, default=2.0, help="light-load rate, incidents/s")
    parser.add_argument("--duration", type=float, default=20.0, help="light-load seconds")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds at saturation (0: no)")
    parser.add_argument("--wait", type=float, default=120.0, help="longest wait for a page")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    args = parser.parse_args()
    results = run(
        [int(w) for w in args.workers.split(",")],
        burst_size=args.burst,
        rate=args.rate,
        duration=args.duration,
        soak=args.soak,
        wait=args.wait,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results))
    print()
    print("CPU ms per incident during the burst, by process:")
    print(cpu_table(results))
    print()
    print("Median split of the burst's time to page (from the workflow histories):")
    print(anatomy_table(results))


if __name__ == "__main__":
    main()
