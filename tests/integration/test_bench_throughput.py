"""The throughput benchmark runs end to end with tiny parameters (its figures are not judged here).

The measurement itself is `python -m bench.throughput` (docs/benchmarks.md); this only keeps the
script working: its own stack with a second worker process, every phase, the tables.
"""

from __future__ import annotations

from bench import throughput


def test_bench_throughput_smoke() -> None:
    results = throughput.run([2], burst_size=3, rate=2.0, duration=1.0, soak=1.0, wait=60.0)

    [result] = results
    assert result["workers"] == 2
    light, burst, soak = result["light"], result["burst"], result["soak"]
    assert light["accepted"] == light["filed"] == 2, light["refusals"]
    assert light["paged"] == 2 and light["page"]["p50"] > 0 and light["floor"]["p50"] > 0
    assert burst["paged"] == burst["incidents"] == 3
    assert burst["throughput_per_s"] > 0 and burst["floor_per_s"] > 0
    assert burst["cpu_s"]["worker"] > 0 and burst["cpu_s"]["temporal"] > 0
    assert burst["anatomy_s"]["workflow_tasks"] >= 1 and burst["anatomy_s"]["total"] > 0
    assert soak is not None and soak["paged"] == soak["accepted"] > 0

    text = (
        throughput.table(results)
        + throughput.cpu_table(results)
        + throughput.anatomy_table(results)
    )
    assert "| 2 | 2.0/s |" in text
