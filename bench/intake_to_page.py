"""Time from `POST /api/v1/incidents` to the page arriving at the pager, on a running stack.

    .venv/bin/python -m bench.intake_to_page [--count 30] [--url http://127.0.0.1:8000]

Needs the embedded stack (`make run`): the pager sandbox stamps each event on receipt. The floor,
measured in the same run, is one direct Events API call to the same sandbox: what any design would
pay to deliver a page. The ratio says what the durable path (intake, Temporal, worker, Jira ticket
first) costs on top of it.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx

from incident_desk.settings import Settings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(count: int, api: str, pager: str) -> dict[str, float]:
    latencies: list[float] = []
    floors: list[float] = []
    run = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=30) as http:
        for i in range(count):
            body = {
                "client": "demo",
                "summary": "Benchmark incident",
                "description": "Synthetic report for the intake-to-page benchmark.",
                "channel": "monitoring",
                "reporter": {"name": "bench", "contact": "bench@localhost"},
                "category": "other",
                "external_ref": f"bench-{run}-{i}",
            }
            posted = datetime.now(UTC)
            accepted = http.post(f"{api}/api/v1/incidents", json=body).raise_for_status().json()
            key = accepted["workflow_id"]
            while True:
                events = http.get(f"{pager}/sandbox/events", params={"dedup_key": key}).json()
                if events:
                    break
                time.sleep(0.005)
            received = datetime.fromisoformat(events[0]["received_at"])
            latencies.append((received - posted).total_seconds() * 1000)

            started = time.perf_counter()
            http.post(
                f"{pager}/v2/enqueue",
                json={
                    "routing_key": "bench",
                    "event_action": "trigger",
                    "dedup_key": f"floor-{run}-{i}",
                    "payload": {"summary": "floor", "source": "bench", "severity": "info"},
                },
            ).raise_for_status()
            floors.append((time.perf_counter() - started) * 1000)
    median = statistics.median(latencies)
    floor = statistics.median(floors)
    return {
        "count": count,
        "median_ms": median,
        "p90_ms": _percentile(latencies, 0.9),
        "max_ms": max(latencies),
        "floor_median_ms": floor,
        "ratio_median_to_floor": median / floor,
    }


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--url", default=settings.intake_base_url)
    parser.add_argument("--pager", default=settings.pager_sandbox_url)
    args = parser.parse_args()
    result = measure(args.count, args.url.rstrip("/"), args.pager.rstrip("/"))
    for name, value in result.items():
        print(f"{name:>24}: {value:.1f}" if isinstance(value, float) else f"{name:>24}: {value}")


if __name__ == "__main__":
    main()
