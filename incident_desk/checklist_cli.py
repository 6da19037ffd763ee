"""`incident-desk checklist tick`: tick an SOP checklist item from a terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from incident_desk.api_calls import post_action
from incident_desk.reports_cli import UrlOption
from incident_desk.tokens_cli import TokenOption


def tick(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    item: Annotated[str, typer.Argument(help="Checklist item id, e.g. link_clicked")],
    by: Annotated[str, typer.Option(help="Who did it")],
    answer: Annotated[
        str | None, typer.Option(help="The reporter's answer, for an intake question")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Mark a checklist item done (with the answer, for a question)."""
    view = post_action(
        incident, f"checklist/{item}", {"by": by, "answer": answer}, url=url, token=token
    )
    checklist = view.get("checklist") or {}
    open_items = [i["id"] for i in checklist.get("items", []) if i["required"] and not i["done_at"]]
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"ticked: {item}")
    typer.echo(f"severity: {view['severity']}")
    typer.echo(f"required_open: {', '.join(open_items) or 'none'}")


def register(app: typer.Typer) -> None:
    checklist_app = typer.Typer(help="SOP checklist of an incident.", no_args_is_help=True)
    checklist_app.command("tick")(tick)
    app.add_typer(checklist_app, name="checklist")
