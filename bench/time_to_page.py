"""Time to page under load: `POST /api/v1/incidents` accepted → page received by the pager sandbox.

    .venv/bin/python -m bench.time_to_page [--rates 1,5,20] [--duration 60] [--url ...] [--pager ...]

Needs a running embedded stack (`make run` or `incident-desk up`); reads the same settings and
admin token as the CLI. Open loop: incidents are filed on a fixed schedule whatever the stack's
answer time, because reports arrive when callers call, not when we are ready; a closed loop would
hide queueing. At every tick the same Events API call the worker makes is also sent directly to
the sandbox: that floor, measured under the same load, is what any design pays to deliver a
page, so the ratio says what the durable path (intake, Temporal, worker, Jira ticket first) adds.
Both ends are the sandbox's receipt stamp (`received_at`) against this machine's clock.
Supersedes bench/intake_to_page.py, the sequential (one incident at a time) version.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from incident_desk.settings import Settings
from incident_desk.tokens_cli import auth_headers

PAGE_WAIT_S = 120.0


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as `incidents.metrics` does: every figure is one a real incident took."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Run:
    rate: float
    accepted: dict[str, datetime] = field(default_factory=dict)  # workflow id → 202 received
    floor_sent: dict[str, datetime] = field(default_factory=dict)  # dedup key → sent
    rejected: int = 0
    refusals: Counter[str] = field(default_factory=Counter)  # "status body" → how many


def _body(run_id: str, i: int) -> dict[str, object]:
    return {
        "client": "demo",
        "summary": "Benchmark incident",
        "description": "Synthetic report for the time-to-page benchmark.",
        "channel": "monitoring",
        # One caller per incident: reports from the same contact are linked to the open
        # incident as duplicates (intake/duplicates.py) instead of starting their own.
        "reporter": {"name": "bench", "contact": f"bench-{run_id}-{i}@localhost"},
        "category": "other",
        "external_ref": f"ttp-{run_id}-{i}",
        # Validated by its filer, so it pages at once: an unvalidated report waits in triage for
        # an agent (workflows/triage.py), and that wait is people's time, not ours.
        "validation": {"by": "bench", "note": "Synthetic report, validated on filing"},
    }


async def _file(api: httpx.AsyncClient, run: Run, body: dict[str, object]) -> None:
    response = await api.post("/api/v1/incidents", json=body)
    if response.status_code != 202:
        run.rejected += 1
        run.refusals[f"{response.status_code} {response.text[:200]}"] += 1
        return
    run.accepted[response.json()["workflow_id"]] = datetime.now(UTC)


async def _floor(pager: httpx.AsyncClient, run: Run, key: str) -> None:
    sent = datetime.now(UTC)
    body = {
        "routing_key": "bench",
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": "floor", "source": "bench", "severity": "info"},
    }
    (await pager.post("/v2/enqueue", json=body)).raise_for_status()
    run.floor_sent[key] = sent


async def load(
    api: httpx.AsyncClient, pager: httpx.AsyncClient, rate: float, duration: float
) -> Run:
    run, run_id = Run(rate), uuid.uuid4().hex[:6]
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(int(rate * duration)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_file(api, run, _body(run_id, i))))
        tasks.append(asyncio.create_task(_floor(pager, run, f"floor-{run_id}-{i}")))
    await asyncio.gather(*tasks)
    return run


async def received(
    pager: httpx.AsyncClient, keys: set[str], wait: float = PAGE_WAIT_S
) -> dict[str, datetime]:
    """First trigger receipt per dedup key, waiting for the stragglers of the last ticks."""
    seen: dict[str, datetime] = {}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for event in (await pager.get("/sandbox/events")).json():
            key = event.get("dedup_key")
            if key in keys and key not in seen:
                seen[key] = datetime.fromisoformat(event["received_at"])
        if len(seen) == len(keys):
            break
        await asyncio.sleep(0.5)
    return seen


def _stats(values: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}": percentile(values, q) for q in (0.5, 0.95, 0.99)} if values else {}


async def measure(
    api_url: str, pager_url: str, headers: dict[str, str], rates: list[float], duration: float
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60, limits=limits) as api,
        httpx.AsyncClient(base_url=pager_url, timeout=60, limits=limits) as pager,
    ):
        for rate in rates:
            run = await load(api, pager, rate, duration)
            got = await received(pager, set(run.accepted) | set(run.floor_sent))
            paged = [
                (got[k] - t).total_seconds() * 1000 for k, t in run.accepted.items() if k in got
            ]
            floor = [
                (got[k] - t).total_seconds() * 1000 for k, t in run.floor_sent.items() if k in got
            ]
            results.append(
                {
                    "rate": rate,
                    "filed": int(rate * duration),
                    "accepted": len(run.accepted),
                    "paged": len(paged),
                    "page": _stats(paged),
                    "floor": _stats(floor),
                }
            )
            await asyncio.sleep(2)  # let the worker's tail of the previous rate settle
    return results


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| rate | incidents (accepted / paged) | p50 | p95 | p99 | floor p50 | floor p95 | floor p99 | p50 / floor p50 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        page, floor = r["page"], r["floor"]
        assert isinstance(page, dict) and isinstance(floor, dict)
        ratio = f"{page['p50'] / floor['p50']:.0f}×" if page and floor else "-"
        cells = [f"{page.get(p, float('nan')):.0f} ms" for p in ("p50", "p95", "p99")]
        cells += [f"{floor.get(p, float('nan')):.1f} ms" for p in ("p50", "p95", "p99")]
        lines.append(
            f"| {r['rate']:g}/s | {r['filed']} ({r['accepted']} / {r['paged']}) | "
            + " | ".join(cells)
            + f" | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="1,5,20", help="incidents per second, comma-separated")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--url", default=settings.intake_base_url)
    parser.add_argument("--pager", default=settings.pager_sandbox_url)
    parser.add_argument(
        "--token", default=None, help="API token (default: the stack's admin token)"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    headers = auth_headers(settings, args.token)
    results = asyncio.run(
        measure(args.url.rstrip("/"), args.pager.rstrip("/"), headers, rates, args.duration)
    )
    print(table(results))


if __name__ == "__main__":
    main()
