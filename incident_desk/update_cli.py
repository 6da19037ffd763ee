"""`incident-desk update ID --by NAME TEXT`: post a stakeholder update from a terminal.

Through the intake API (`POST /api/v1/incidents/{id}/updates`), so it is attributed, audited and
refused exactly as an API call would be; it restarts the status-update cadence.
"""

from __future__ import annotations

from typing import Annotated

import typer

from incident_desk.api_calls import post_action
from incident_desk.tokens_cli import TokenOption

__all__ = ["register"]


def update(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    text: Annotated[str, typer.Argument(help="The update for stakeholders")],
    by: Annotated[str, typer.Option(help="Who posts the update (normally the owner)")],
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    token: TokenOption = None,
) -> None:
    """Post a stakeholder update: it goes to the Jira ticket and restarts the owner's reminders."""
    if not text.strip():
        typer.echo("error: the update text is empty", err=True)
        raise typer.Exit(2)
    view = post_action(incident, "updates", {"by": by, "text": text}, url=url, token=token)
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"state: {view['state']}")
    typer.echo(f"last_stakeholder_update_at: {view.get('last_stakeholder_update_at') or '-'}")


def register(app: typer.Typer) -> None:
    app.command()(update)
