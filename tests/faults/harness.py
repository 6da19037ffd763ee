"""What the fault and fuzz tests share: how to call the API, and how to count what happened.

Counting is done where the effects land (the sandboxes' own records and Temporal's visibility),
never through the intake, so a bug in the intake cannot hide a lost or duplicated effect.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from incident_desk.settings import Settings
from incident_desk.stack import Stack
from integrations.jira import correlation_label
from integrations.temporal import connect
from tests.support import stacks

REPO = Path(__file__).resolve().parents[2]
# Figures written by the fault and fuzz tests, read by `python -m bench.reliability`.
FIGURES_DIR = REPO / ".state" / "reliability"


def api_headers(stack: Stack) -> dict[str, str]:
    """Headers every /api/v1 call carries: the one place that knows about API authentication.

    The intake is gaining bearer tokens; once tests/support/stacks.py offers a helper for a
    stack's token, every fault and fuzz test uses it through here, and works without it before.
    """
    for name in ("auth_headers", "api_headers"):
        helper = getattr(stacks, name, None)
        if callable(helper):
            return dict(helper(stack))
    token_of = getattr(stacks, "api_token", None)
    if callable(token_of):
        return {"Authorization": f"Bearer {token_of(stack)}"}
    return {}


def report(external_ref: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client": "demo",
        "summary": f"Caller reports a lookalike bank SMS ({external_ref})",
        "description": "Customer forwarded an SMS from a lookalike sender asking for a PIN.",
        "channel": "phone",
        "validation": {"by": "filing.agent"},  # validated on filing: paged at once
        "reporter": {"name": "Agent 4410", "contact": f"ext 4410 ({external_ref})"},
        "category": "phishing",
        "external_ref": external_ref,
        **overrides,
    }


def jira_issues(settings: Settings) -> list[dict[str, Any]]:
    response = httpx.get(f"{settings.jira_base_url}/sandbox/issues", timeout=10)
    response.raise_for_status()
    return response.json()


def pager_events(settings: Settings) -> list[dict[str, Any]]:
    response = httpx.get(f"{settings.pager_sandbox_url}/sandbox/events", timeout=10)
    response.raise_for_status()
    return response.json()


def issues_per_workflow(settings: Settings, workflow_ids: Iterable[str]) -> dict[str, int]:
    """Jira issues per incident workflow, by the correlation label set in the create call itself
    (the issue property comes a request later, so a crash in between would hide an issue)."""
    issues = jira_issues(settings)
    return {
        wf: sum(correlation_label(wf) in issue.get("labels", []) for issue in issues)
        for wf in workflow_ids
    }


def triggers_per_dedup_key(settings: Settings) -> Counter[str]:
    return Counter(
        e["dedup_key"]
        for e in pager_events(settings)
        if e.get("payload", {}).get("event_action") == "trigger"
    )


def count_workflows(settings: Settings, query: str = "") -> int:
    async def count() -> int:
        client = await connect(settings.temporal_target)
        return (await client.count_workflows(query or None)).count

    return asyncio.run(count())


def history_lengths(settings: Settings, workflow_ids: Iterable[str]) -> dict[str, int]:
    async def lengths() -> dict[str, int]:
        client = await connect(settings.temporal_target)
        out = {}
        for wf in workflow_ids:
            out[wf] = (await client.get_workflow_handle(wf).describe()).history_length
        return out

    return asyncio.run(lengths())


def states(settings: Settings, stack: Stack, incident_ids: Iterable[str]) -> dict[str, str]:
    out = {}
    with httpx.Client(timeout=15, headers=api_headers(stack)) as http:
        for incident in incident_ids:
            response = http.get(f"{settings.intake_base_url}/api/v1/incidents/{incident}")
            out[incident] = response.json().get("state") if response.status_code == 200 else None
    return out


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.25) -> float:
    """Seconds it took; fails naming what never happened."""
    started = time.monotonic()
    while True:
        last = predicate()
        if last is True:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s; last: {last!r}")
        time.sleep(poll)


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep a test's figures for docs/reliability.md (see bench/reliability.py)."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    figures = {
        **figures,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
