"""`incident-desk update ID --by NAME TEXT`: post a stakeholder update from a terminal.

Through the intake API (`POST /api/v1/incidents/{id}/updates`), so it is attributed, audited and
refused exactly as an API call would be; it restarts the status-update cadence.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from incident_desk.config import ConfigError, load_settings
from incident_desk.tokens_cli import TokenOption, auth_headers

__all__ = ["register"]


def update(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    text: Annotated[str, typer.Argument(help="The update for stakeholders")],
    by: Annotated[str, typer.Option(help="Who posts the update (normally the owner)")],
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    token: TokenOption = None,
) -> None:
    """Post a stakeholder update: it goes to the Jira ticket and restarts the owner's reminders."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
    if not text.strip():
        typer.echo("error: the update text is empty", err=True)
        raise typer.Exit(2)
    base = (url or settings.intake_base_url).rstrip("/")
    try:
        response = httpx.post(
            f"{base}/api/v1/incidents/{incident}/updates",
            json={"by": by, "text": text, "channel": "cli"},
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
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"state: {view['state']}")
    typer.echo(f"last_stakeholder_update_at: {view.get('last_stakeholder_update_at') or '-'}")


def register(app: typer.Typer) -> None:
    app.command()(update)
