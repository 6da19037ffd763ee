"""`incident-desk validate|false-alarm|contain|close ID`: the lifecycle's human stages from a
terminal, through the intake API (same token, scope and audit line as any other action).

A refusal is the workflow's own reason (HTTP 409), printed as is: "the report has not been
validated yet", "reporting stages still open: ...".
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from incident_desk.api_calls import post_action
from incident_desk.tokens_cli import TokenOption

__all__ = ["register"]

IncidentArg = Annotated[str, typer.Argument(help="Incident id or workflow id")]
ByOption = Annotated[str, typer.Option(help="Who acts (a person, not a team)")]
UrlOption = Annotated[str | None, typer.Option(help="Intake API base URL")]


def _post(
    incident: str, verb: str, body: dict[str, Any], url: str | None, token: str | None
) -> None:
    view = post_action(incident, verb, body, url=url, token=token)
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"state: {view['state']}")


def validate(
    incident: IncidentArg,
    by: ByOption,
    note: Annotated[str | None, typer.Option(help="Why it is a real incident")] = None,
    severity: Annotated[str | None, typer.Option(help="Corrected severity, SEV1..SEV4")] = None,
    category: Annotated[str | None, typer.Option(help="Corrected incident type")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Validate a report in triage: it is classified and paged, and its clocks start."""
    body = {"by": by, "note": note, "severity": severity, "category": category}
    _post(incident, "validate", body, url, token)


def false_alarm(
    incident: IncidentArg,
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why it is not an incident (required)")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Dismiss a report in triage as a false alarm: nobody is paged, the ticket is closed."""
    _post(incident, "false-alarm", {"by": by, "reason": reason}, url, token)


def contain(
    incident: IncidentArg,
    by: ByOption,
    note: Annotated[str, typer.Option(help="What was done to contain it")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Record that an acknowledged incident is contained."""
    _post(incident, "contain", {"by": by, "note": note}, url, token)


def close(
    incident: IncidentArg,
    by: ByOption,
    root_cause: Annotated[str | None, typer.Option(help="Review: what let it happen")] = None,
    went_well: Annotated[str | None, typer.Option(help="Review: what went well")] = None,
    to_improve: Annotated[str | None, typer.Option(help="Review: what to improve")] = None,
    training_needs: Annotated[str | None, typer.Option(help="Review: training needs")] = None,
    summary: Annotated[
        str | None, typer.Option(help="Review summary, or where the review is recorded")
    ] = None,
    waive: Annotated[
        str | None, typer.Option(help="Close despite open reporting stages, for this reason")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Close a resolved incident with its post-incident review (--root-cause, or --summary)."""
    answers = {
        "went_well": went_well,
        "to_improve": to_improve,
        "training_needs": training_needs,
    }
    review = None
    if root_cause is not None:
        review = {"root_cause": root_cause} | {k: v for k, v in answers.items() if v is not None}
    elif any(v is not None for v in answers.values()):
        typer.echo("error: --root-cause is needed with the other review answers", err=True)
        raise typer.Exit(2)
    if review is None and summary is None:
        typer.echo("error: give the review (--root-cause ...) or a --summary", err=True)
        raise typer.Exit(2)
    body = {"by": by, "review": review, "summary": summary, "waive_open_stages": waive}
    _post(incident, "close", body, url, token)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command("false-alarm")(false_alarm)
    app.command()(contain)
    app.command()(close)
