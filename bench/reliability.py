"""Regenerate the figures in docs/reliability.md from a fresh run of the fault and fuzz tests.

    .venv/bin/python -m bench.reliability [--examples 30] [--incidents 50]

The tests are the measurement: each writes what it did (requests sent, kills, incidents, times)
to .state/reliability/*.json as it passes, and this command runs them, then rewrites the block
between the markers in docs/reliability.md. Larger `--examples` / `--incidents` make a soak run
of the same tests; `make test` runs them at the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.docs import replace_block

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / ".state" / "reliability"
DOC = REPO / "docs" / "reliability.md"


def run_tests(examples: int, incidents: int) -> int:
    shutil.rmtree(FIGURES, ignore_errors=True)
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples), "FAULTS_INCIDENTS": str(incidents)}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/fuzz", "tests/faults"]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def _load(name: str) -> dict[str, Any]:
    path = FIGURES / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def render() -> str:
    fuzz, jira = _load("fuzz"), _load("faults_jira")
    kill, temporal = _load("faults_worker_kill"), _load("faults_temporal_restart")
    outages = {name: _load(f"outage_{name}") for name in ("jira", "pager", "smtp")}
    machine = next((f["machine"] for f in (fuzz, jira, kill, temporal) if f), "?")
    when = next((f["recorded_at"] for f in (fuzz, jira, kill, temporal) if f), "?")
    lines = [
        f"Last run: {when} on {machine}.",
        "",
        "| run | figures |",
        "|---|---|",
        f"| fuzz (hypothesis + schemathesis) | {fuzz.get('requests', '-')} requests, "
        f"{fuzz.get('examples_per_property', '-')} examples per property, "
        f"{fuzz.get('seconds', '-')} s; no 5xx, no workflow started or changed by invalid input |",
        f"| Jira 503 outage + 429 bursts | {jira.get('incidents', '-')} incidents "
        f"({jira.get('faults', '-')}); all paged after {jira.get('seconds_to_all_paged', '-')} s; "
        "one issue and one alert each |",
        f"| worker SIGKILL | {kill.get('sigkills', '-')} kills, {kill.get('incidents', '-')} "
        f"incidents in flight (activity timeout {kill.get('activity_timeout_s', '-')} s); every "
        f"level-1 timer ({kill.get('timer_set_s', '-')} s) fired and level 2 paged after "
        f"{kill.get('seconds_to_all_escalated', '-')} s (latest timer entry "
        f"{kill.get('timer_fired_after_s_max', '-')} s after its page); acknowledged and "
        f"resolved by {kill.get('seconds_total', '-')} s; {kill.get('trigger_events', '-')} "
        "trigger events; one issue and one alert per level each |",
        f"| Temporal dev server restart (same SQLite file) | {temporal.get('incidents', '-')} "
        f"incidents filed just before; restart took {temporal.get('restart_seconds', '-')} s; "
        f"all ESCALATED {temporal.get('seconds_to_all_escalated', '-')} s after it; "
        "one issue and one alert each |",
        *(
            f"| {label} outage | {o.get('incidents', '-')} incidents, outage "
            f"{o.get('outage_seconds', '-')} s, {o.get('failed_calls', '-')} failed calls "
            f"reported; one degraded and one recovered alert ({how}) |"
            for label, o, how in (
                ("Jira 503", outages["jira"], "page + email"),
                ("PagerDuty 503", outages["pager"], "email"),
                ("SMTP 451", outages["smtp"], "page"),
            )
        ),
        "",
        "Requests per fuzz target:",
        "",
        "| target | requests |",
        "|---|---:|",
        *(f"| `{k}` | {v} |" for k, v in fuzz.get("by_target", {}).items()),
    ]
    return "\n".join(lines)


def write_doc(block: str) -> None:
    replace_block(DOC, "figures", block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=30, help="hypothesis examples/property")
    parser.add_argument("--incidents", type=int, default=50, help="incidents in the kill test")
    parser.add_argument("--no-run", action="store_true", help="only re-render the last figures")
    args = parser.parse_args()
    code = 0 if args.no_run else run_tests(args.examples, args.incidents)
    write_doc(render())
    print(f"docs/reliability.md updated (tests exit code {code})")
    sys.exit(code)


if __name__ == "__main__":
    main()
