"""Screenshots of the Temporal UI as operations staff see it, taken in a real headless browser.

    .venv/bin/python -m bench.ui_screenshots [--out docs/img] [--budget-ms 10000]

Brings up the whole stack (`make run`'s supervisor) on free ports with a throw-away state dir,
files three incidents of different severities through the API, and opens the UI in Debian's
`chromium` (no browser is downloaded): the list filtered to `IncidentSeverity="SEV1"` and that
incident's history. A screenshot alone can be a blank page or a UI error, so the script also
reads the rendered DOM and fails unless it names the incidents it should (and not the others).

The UI is a JavaScript app: `--virtual-time-budget` lets it fetch and render before the capture.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from incident_desk.connection import connect_configured
from incident_desk.settings import Settings
from incident_desk.stack import Stack

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
SEV1_QUERY = 'IncidentSeverity="SEV1"'
WINDOW = (1400, 900)

REPORTS = [
    {
        "severity": "SEV1",
        "category": "data_leakage",
        "summary": "Monitoring flagged a bulk export of customer records to an unknown host",
        "channel": "monitoring",
    },
    {
        "severity": "SEV2",
        "category": "lost_or_stolen_asset",
        "summary": "Agent's laptop left on a train; disk encryption status unknown",
        "channel": "walk_in",
    },
    {
        "severity": "SEV3",
        "category": "phishing",
        "summary": "Caller received an SMS asking for her card PIN",
        "channel": "phone",
    },
]


@dataclass
class Shot:
    name: str
    path: Path
    url: str


def find_chromium() -> str | None:
    """`CHROMIUM` wins, so a machine with the browser elsewhere can still run this."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_settings(state_dir: Path) -> Settings:
    """Every port free and every secret unset: the default, unencrypted stack, isolated."""
    return Settings(
        state_dir=state_dir,
        policies_dir=REPO / "policies",
        host="127.0.0.1",
        temporal_port=_free_port(),
        temporal_ui_port=_free_port(),
        intake_port=_free_port(),
        jira_sandbox_port=_free_port(),
        pager_sandbox_port=_free_port(),
        opsgenie_sandbox_port=_free_port(),
        smtp_sandbox_port=_free_port(),
        smtp_sandbox_http_port=_free_port(),
        worker_shutdown_grace=2.0,
    )


def file_incidents(stack: Stack, run: str) -> list[dict[str, str]]:
    """Files the three reports and waits until each has its ticket and page."""
    s = stack.settings
    token = stack.admin_token_path.read_text().strip()
    filed = []
    with httpx.Client(
        base_url=s.intake_base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as api:
        for number, report in enumerate(REPORTS, start=1):
            body = {
                **report,
                "client": "demo",
                "description": "Screenshot run: a synthetic report.",
                "reporter": {"name": f"Agent 44{number:02d}", "contact": f"ext 44{number:02d}"},
                "external_ref": f"UI-{run}-{number}",
                "validation": {"by": "filing.agent"},  # validated on the call: paged at once
            }
            answer = api.post("/api/v1/incidents", json=body)
            answer.raise_for_status()
            filed.append({**answer.json(), "severity": report["severity"]})
        for incident in filed:
            _wait(
                lambda i=incident: api.get(f"/api/v1/incidents/{i['incident_id']}").json(),
                lambda view: view.get("jira_key") and view.get("state") == "ESCALATED",
                f"incident {incident['incident_id']} paged",
            )
    return filed


def close_incident(stack: Stack, incident_id: str) -> None:
    token = stack.admin_token_path.read_text().strip()
    with httpx.Client(
        base_url=stack.settings.intake_base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    ) as api:
        for action, note in (("ack", "taking it"), ("resolve", "export blocked at the proxy")):
            answer = api.post(
                f"/api/v1/incidents/{incident_id}/{action}", json={"by": "ana.oncall", "note": note}
            )
            answer.raise_for_status()
        # Resolution opens the review; the review's close ends the incident. The screenshot
        # incident's reporting stages are synthetic, so they are waived with that reason.
        closing = {
            "by": "lead.reviewer",
            "summary": "Review held in the ticket",
            "waive_open_stages": "synthetic incident filed for the screenshots",
        }
        api.post(f"/api/v1/incidents/{incident_id}/close", json=closing).raise_for_status()
        _wait(
            lambda: api.get(f"/api/v1/incidents/{incident_id}").json(),
            lambda view: view.get("state") == "CLOSED",
            f"incident {incident_id} closed",
        )


def _wait(fetch, done, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.2)


async def _visible_run_id(settings: Settings, workflow_id: str) -> str:
    """The list is served from visibility, which lags the workflow by a moment: wait for it."""
    client = await connect_configured(settings)
    query = f'{SEV1_QUERY} AND WorkflowId="{workflow_id}"'
    deadline = time.monotonic() + 30
    while (await client.count_workflows(query)).count == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workflow_id} never appeared in the list for {SEV1_QUERY}")
        await asyncio.sleep(0.2)
    return (await client.get_workflow_handle(workflow_id).describe()).run_id


def _browser_args(chromium: str, profile: Path, budget_ms: int) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--virtual-time-budget={budget_ms}",
    ]


def _run_browser(args: list[str]) -> str:
    began = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    print(f"  chromium {args[-1]}: {time.monotonic() - began:.1f} s", file=sys.stderr)
    return done.stdout


def capture(chromium: str, shot: Shot, budget_ms: int) -> str:
    """Saves the screenshot and returns the rendered DOM of the same URL, to check it."""
    with tempfile.TemporaryDirectory(prefix="ui-shot-", ignore_cleanup_errors=True) as profile:
        base = _browser_args(chromium, Path(profile), budget_ms)
        _run_browser([*base, f"--screenshot={shot.path}", shot.url])
        dom = _run_browser([*base, "--dump-dom", shot.url])
    if not shot.path.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {shot.url}")
    _shrink(shot.path)
    return dom


def _shrink(path: Path) -> None:
    """The PNGs are committed: a 64-colour palette keeps them small and the text sharp."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def take(out: Path, *, budget_ms: int = 10000) -> list[Shot]:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit(
            "no chromium binary: install Debian's `chromium` package (or set CHROMIUM)"
        )
    out.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="incident-desk-ui-") as state:
        stack = Stack(stack_settings(Path(state)))
        stack.start()
        try:
            filed = file_incidents(stack, run)
            sev1 = next(i for i in filed if i["severity"] == "SEV1")
            run_id = asyncio.run(_visible_run_id(stack.settings, sev1["workflow_id"]))
            ui = f"{stack.settings.temporal_ui}/namespaces/{stack.settings.temporal_namespace}"
            shots = [
                Shot("list", out / "ui-list-sev1.png", f"{ui}/workflows?query={quote(SEV1_QUERY)}"),
                Shot(
                    "history",
                    out / "ui-incident-history.png",
                    f"{ui}/workflows/{sev1['workflow_id']}/{run_id}/history",
                ),
            ]
            list_dom = capture(chromium, shots[0], budget_ms)
            # A running workflow's page long-polls for new events, which holds the browser's
            # virtual time still for good; a closed one renders, with its whole lifecycle.
            close_incident(stack, sev1["incident_id"])
            history_dom = capture(chromium, shots[1], budget_ms)
        finally:
            stack.stop()
    others = [i["workflow_id"] for i in filed if i is not sev1]
    if sev1["workflow_id"] not in list_dom:
        raise RuntimeError("the filtered list does not show the SEV1 incident")
    if any(other in list_dom for other in others):
        raise RuntimeError(f"the {SEV1_QUERY} list shows other severities")
    if sev1["incident_id"] not in history_dom:
        raise RuntimeError("the history page does not show the incident's summary and steps")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--budget-ms", type=int, default=10000, help="virtual time to render")
    args = parser.parse_args(argv)
    for shot in take(args.out, budget_ms=args.budget_ms):
        print(f"{shot.name}: {shot.path} ({shot.path.stat().st_size // 1024} KiB) <- {shot.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
