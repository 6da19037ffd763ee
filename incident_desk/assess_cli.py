"""`incident-desk assess`: answer an obligation's open questions from a terminal."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from incident_desk.reports_cli import UrlOption, _settings
from incident_desk.tokens_cli import TokenOption, auth_headers


def assess(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    obligation: Annotated[str, typer.Argument(help="Obligation id, e.g. eu_gdpr_art33_authority")],
    applies: Annotated[
        bool,
        typer.Option(
            "--applies/--does-not-apply",
            help="It applies (its stages run) or it does not (it is dropped)",
            show_default=False,
        ),
    ],
    by: Annotated[str, typer.Option(help="Who decided")],
    reason: Annotated[str, typer.Option(help="Why; kept in the timeline and Jira")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Answer an obligation's open questions (needs_assessment)."""
    settings = _settings()
    base = (url or settings.intake_base_url).rstrip("/")
    body = {"applies": applies, "by": by, "reason": reason, "channel": "cli"}
    try:
        response = httpx.post(
            f"{base}/api/v1/incidents/{incident}/assessments/{obligation}",
            json=body,
            headers=auth_headers(settings, token),
            timeout=15,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the intake API at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        typer.echo(f"error: HTTP {response.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    view = response.json()
    clock = next((c for c in view.get("obligations", []) if c["id"] == obligation), None)
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"obligation: {obligation}")
    typer.echo(f"in_force: {str(bool(clock and clock['in_force'])).lower()}")


def register(app: typer.Typer) -> None:
    app.command()(assess)
