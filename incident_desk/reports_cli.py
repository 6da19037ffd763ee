"""`incident-desk export ID` and `incident-desk drafts ID`: reports and drafts from the API.

They go through the intake API, like `status`, so the same token, client scope and audit line
apply as for any other reader; the rendering is the server's, so a report saved from the CLI is
the one a browser gets.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from incident_desk.api_calls import call_api
from incident_desk.tokens_cli import TokenOption

__all__ = ["register"]


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"
    PDF = "pdf"


class DraftFormat(StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"


IncidentArg = Annotated[str, typer.Argument(help="Incident id or workflow id")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file (default: standard output)")
]
UrlOption = Annotated[str | None, typer.Option(help="Intake API base URL")]


def fetch(path: str, fmt: str, url: str | None, token: str | None) -> bytes:
    """The body of a GET on the intake API; exits 1 with the API's reason on any failure."""
    response = call_api("GET", path, url=url, token=token, params={"format": fmt}, timeout=60)
    return response.content


def _write(body: bytes, out: Path | None, binary: bool) -> None:
    if out is not None:
        try:
            out.write_bytes(body)
        except OSError as exc:
            typer.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {out} ({len(body)} bytes)", err=True)
        return
    if binary and sys.stdout.isatty():
        typer.echo("error: a PDF is not for the terminal; give --out FILE", err=True)
        raise typer.Exit(2)
    sys.stdout.buffer.write(body)
    sys.stdout.flush()


def export(
    incident: IncidentArg,
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.HTML,
    out: OutOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Export an incident's report (md, html or pdf) for audits and reviews."""
    body = fetch(f"/api/v1/incidents/{incident}/report", format.value, url, token)
    _write(body, out, binary=format is ReportFormat.PDF)


def drafts(
    incident: IncidentArg,
    format: Annotated[DraftFormat, typer.Option("--format", "-f")] = DraftFormat.MD,
    out: OutOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Draft the notices owed to authorities; what the record lacks is listed as questions."""
    body = fetch(f"/api/v1/incidents/{incident}/drafts", format.value, url, token)
    _write(body, out, binary=False)


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command()(drafts)
