"""`incident-desk assess`: answer an obligation's open questions from a terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from incident_desk.api_calls import post_action
from incident_desk.reports_cli import UrlOption
from incident_desk.tokens_cli import TokenOption


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
    view = post_action(
        incident,
        f"assessments/{obligation}",
        {"applies": applies, "by": by, "reason": reason},
        url=url,
        token=token,
    )
    clock = next((c for c in view.get("obligations", []) if c["id"] == obligation), None)
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"obligation: {obligation}")
    typer.echo(f"in_force: {str(bool(clock and clock['in_force'])).lower()}")


def register(app: typer.Typer) -> None:
    app.command()(assess)
