"""`incident-desk metrics`: figures across incidents, read from Temporal itself.

Unlike `status` and `export`, this goes to Temporal directly rather than through the intake API:
the selection is a visibility query (`StartTime`, `IncidentClient`) and every figure comes from
each workflow's `state` query, the same record the incident report uses, so no second store of
incident data is kept that could drift from the workflows. It therefore needs what a worker
needs to connect (address, namespace, TLS, codec keys), not an API token, and a running worker to
answer the queries.

The HTML form carries its charts as data URIs so that the file can be mailed or archived alone.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from temporalio.client import Client

from incident_desk.connection import connect_configured
from incident_desk.namespaces import Namespaces, clients_for
from incident_desk.settings import Settings
from incident_desk.tokens import TokenError, parse_duration
from incidents.lifecycle import IncidentView
from incidents.metrics import Durations, Metrics, StageTally, compute
from workflows.incident import IncidentWorkflow

__all__ = ["charts", "collect", "register", "render_html", "render_table", "visibility_query"]

# Client ids are policy file names; anything else would be a way to inject into the query.
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CONCURRENT_QUERIES = 16
# A workflow nobody can answer for (no worker on its queue) must not hang the whole report.
QUERY_TIMEOUT = timedelta(seconds=10)


class MetricsFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"


def visibility_query(since: datetime, client: str | None) -> str:
    if client is not None and not CLIENT_ID.fullmatch(client):
        raise ValueError(f"client '{client}': letters, digits, '.', '_' and '-' only")
    instant = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"WorkflowType = 'IncidentWorkflow' AND StartTime > '{instant}'"
    if client is not None:
        query += f" AND IncidentClient = '{client}'"
    return query


async def collect(
    client: Client, since: datetime, client_id: str | None = None
) -> tuple[list[IncidentView], list[str]]:
    """The incidents started after `since`, and the workflow ids whose state could not be read.

    A workflow that cannot answer (no worker, a history the codec cannot decrypt) is named
    rather than silently left out, because a metric over a partial set must say so.
    """
    gate = asyncio.Semaphore(CONCURRENT_QUERIES)
    views: list[IncidentView] = []
    failed: list[str] = []

    async def read(workflow_id: str, run_id: str | None) -> None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                views.append(await handle.query(IncidentWorkflow.state, rpc_timeout=QUERY_TIMEOUT))
            except Exception:  # any failure is reported by id below
                failed.append(workflow_id)

    # A long incident is a chain of runs (continue-as-new) under one workflow id: read each
    # incident once, from its latest run, and count it by when the report came in.
    listed = [wf.id async for wf in client.list_workflows(visibility_query(since, client_id))]
    tasks = [asyncio.create_task(read(wid, None)) for wid in dict.fromkeys(listed)]
    await asyncio.gather(*tasks)
    views[:] = [v for v in views if v.received_at > since]
    views.sort(key=lambda v: v.received_at)
    return views, sorted(failed)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _rows(m: Metrics) -> list[tuple[str, list[tuple[str, str]]]]:
    """The figures as titled groups of (label, value); table and HTML share them."""

    def timing(d: Durations) -> str:
        return f"median {_fmt(d.median_s)}, p90 {_fmt(d.p90_s)} (n={d.count})"

    def stages(t: StageTally) -> str:
        return f"{_pct(t.met_pct)} met ({t.met} met, {t.missed} missed, {t.open} open)"

    scope = f"client {m.client}" if m.client else "all clients"
    return [
        (
            "Overview",
            [
                ("Period", f"since {m.since:%Y-%m-%d %H:%M} UTC ({scope})"),
                ("Incidents", str(m.incidents)),
                ("False alarms", f"{m.false_alarms} ({_pct(m.false_alarm_pct)})"),
                ("Time to triage", timing(m.time_to_triage)),
                ("Time to page", timing(m.time_to_page)),
                ("Time to acknowledge (MTTA)", timing(m.time_to_ack)),
                ("Time to contain", timing(m.time_to_contain)),
                ("Time to resolve (MTTR)", timing(m.time_to_resolve)),
                ("Client notification SLA", stages(m.client_notification)),
                ("Regulatory stages", stages(m.regulatory)),
            ],
        ),
        ("By type", [(k, str(v)) for k, v in m.by_type.items()]),
        ("By severity", [(k, str(v)) for k, v in m.by_severity.items()]),
        ("By client", [(k, str(v)) for k, v in m.by_client.items()]),
        ("By channel", [(k, str(v)) for k, v in m.by_channel.items()]),
        ("By state", [(k, str(v)) for k, v in m.by_state.items()]),
        (
            "Regulatory breaches",
            [
                (
                    f"{b.incident_id} {b.obligation} / {b.stage}",
                    f"due {b.due_at:%Y-%m-%d %H:%M} UTC, "
                    + (f"done {b.done_at:%Y-%m-%d %H:%M} UTC" if b.done_at else "not done"),
                )
                for b in m.breaches
            ],
        ),
        (
            "SOP checklists (per type)",
            [
                (
                    name,
                    f"{c.completed} of {c.posted} complete, {_pct(c.completion_pct)} of required "
                    f"items done; time to complete {timing(c.time_to_complete)}",  # type: ignore[arg-type]
                )
                for name, c in m.checklists.items()
            ],
        ),
    ]


def render_table(m: Metrics) -> str:
    lines: list[str] = []
    for title, rows in _rows(m):
        lines.append(title)
        if not rows:
            lines.append("  (none)")
        width = max((len(label) for label, _ in rows), default=0)
        lines += [f"  {label:<{width}}  {value}" for label, value in rows]
        lines.append("")
    return "\n".join(lines)


def charts(m: Metrics) -> dict[str, bytes]:
    """PNGs: incidents per day, and how long paging and acknowledgement took."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}

    def png(fig: object) -> bytes:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        return buffer.getvalue()

    fig, ax = plt.subplots(figsize=(7, 2.8))
    if m.per_day:
        start, end = min(m.per_day), max(m.per_day)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        ax.bar(days, [m.per_day.get(d, 0) for d in days], color="#3a6ea5")
        fig.autofmt_xdate()
    ax.set_title("Incidents per day (UTC)")
    ax.set_ylabel("incidents")
    ax.yaxis.get_major_locator().set_params(integer=True)
    out["volume"] = png(fig)

    fig, axes = plt.subplots(1, 2, figsize=(7, 2.8))
    for ax, (title, d) in zip(
        axes,
        (("Time to page", m.time_to_page), ("Time to acknowledge", m.time_to_ack)),
        strict=True,
    ):
        minutes = [s / 60 for s in d.samples_s]
        if minutes:
            ax.hist(minutes, bins=min(20, max(5, len(minutes))), color="#c9743a")
            for value, style in ((d.median_s, "-"), (d.p90_s, "--")):
                if value is not None:
                    ax.axvline(value / 60, color="black", linestyle=style, linewidth=1)
        ax.set_title(f"{title} (n={d.count})")
        ax.set_xlabel("minutes (line: median, dashed: p90)")
    axes[0].set_ylabel("incidents")
    fig.tight_layout()
    out["distributions"] = png(fig)
    return out


def render_html(m: Metrics) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Incident metrics since {m.since:%Y-%m-%d}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #bbb;"
        "padding:.25em .6em;text-align:left}img{max-width:100%}"
        "@media print{img{page-break-inside:avoid}}</style></head><body>",
        f"<h1>Incident metrics</h1><p>Generated {m.generated_at:%Y-%m-%d %H:%M} UTC.</p>",
    ]
    for name, data in charts(m).items():
        encoded = base64.b64encode(data).decode()
        parts.append(f"<img alt='{name}' src='data:image/png;base64,{encoded}'>")
    for title, rows in _rows(m):
        parts.append(f"<h2>{esc(title)}</h2>")
        if not rows:
            parts.append("<p>None.</p>")
            continue
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        parts.append(f"<table>{body}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"configuration error: {problems}", err=True)
        raise typer.Exit(2) from None


async def gather_metrics(
    settings: Settings, since: datetime, client_id: str | None, now: datetime
) -> tuple[Metrics, list[str]]:
    """Across every namespace holding incidents (one per client that names its own, docs/
    multi-client.md), or the one client's."""
    base = await connect_configured(settings)
    namespaces = Namespaces.from_dir(settings.temporal_namespace, settings.policies_dir)
    wanted = [namespaces.of(client_id)] if client_id else namespaces.all()
    views: list[IncidentView] = []
    failed: list[str] = []
    for temporal in clients_for(base, wanted).values():
        found, unread = await collect(temporal, since, client_id)
        views += found
        failed += unread
    views.sort(key=lambda v: v.received_at)
    return compute(views, now=now, since=since, client=client_id), sorted(failed)


def render(m: Metrics, fmt: MetricsFormat) -> str:
    if fmt is MetricsFormat.JSON:
        return json.dumps(m.summary(), indent=2)
    if fmt is MetricsFormat.HTML:
        return render_html(m)
    return render_table(m)


def metrics(
    since: Annotated[str, typer.Option(help="How far back: e.g. 30d, 12h, 2w")] = "30d",
    client: Annotated[str | None, typer.Option(help="Only this client's incidents")] = None,
    format: Annotated[MetricsFormat, typer.Option("--format", "-f")] = MetricsFormat.TABLE,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout)")
    ] = None,
) -> None:
    """Incident metrics: volume, time to page/ack/resolve, SLA and regulatory stages met."""
    try:
        window = parse_duration(since)
        if window is None:
            raise TokenError("'never' is not a period")
    except TokenError as exc:
        typer.echo(f"error: --since {exc}", err=True)
        raise typer.Exit(2) from None
    if client is not None and not CLIENT_ID.fullmatch(client):
        typer.echo(f"error: --client '{client}' is not a client id", err=True)
        raise typer.Exit(2)
    settings = _settings()
    now = datetime.now(UTC)
    try:
        result, failed = asyncio.run(gather_metrics(settings, now - window, client, now))
    except RuntimeError as exc:
        typer.echo(
            f"error: cannot read from Temporal at {settings.temporal_target}: {exc}", err=True
        )
        raise typer.Exit(1) from None
    if failed:
        typer.echo(
            f"warning: {len(failed)} incident(s) left out, their state could not be read "
            f"(is a worker running?): {', '.join(failed[:10])}",
            err=True,
        )
    body = render(result, format)
    if out is None:
        sys.stdout.write(body + ("" if body.endswith("\n") else "\n"))
        return
    try:
        out.write_text(body, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out} ({len(body)} bytes)", err=True)


def register(app: typer.Typer) -> None:
    app.command()(metrics)
