"""`incident-desk`: start the stack, file an incident, and look at one, from a terminal."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer

from incident_desk import (
    assess_cli,
    checklist_cli,
    digest_cli,
    domain_cli,
    lifecycle_cli,
    metrics_cli,
    reports_cli,
    sop_cli,
    temporal_cli,
    tokens_cli,
    update_cli,
)
from incident_desk.config import ConfigError, load_settings
from incident_desk.connection import encryption_notice, with_metrics_address
from incident_desk.settings import Settings
from incident_desk.stack import Stack, StackError
from incident_desk.tokens_cli import TokenOption, auth_headers
from integrations.codec import CodecConfigError

app = typer.Typer(
    help="Incident Desk: durable handling of inbound security incident reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def up() -> None:
    """Start the whole stack (what `make run` runs) and keep it running until Ctrl-C."""
    settings = _settings()
    try:
        notice = encryption_notice(settings)
    except CodecConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    stack = Stack(with_metrics_address(settings))
    typer.echo(f"Starting Incident Desk (state in {stack.state_dir}) ...")
    typer.echo(notice)
    stopping = False

    def request_stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Incident Desk is up:")
    for name, url in stack.urls().items():
        typer.echo(f"  {name:<16} {url}")
    typer.echo("Press Ctrl-C to stop.")
    try:
        while not stopping:
            dead = stack.exited()
            if dead:
                for part in dead:
                    typer.echo(
                        f"error: {part.name} stopped (code {part.process.returncode}); "  # type: ignore[union-attr]
                        f"last lines of {part.log_path}:\n{stack.log_tail(part)}",
                        err=True,
                    )
                raise typer.Exit(1)
            time.sleep(0.5)
    finally:
        typer.echo("Stopping ...")
        stack.stop()


def _api(settings: Settings, url: str | None) -> str:
    return (url or settings.intake_base_url).rstrip("/")


def _fail_on_error(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        typer.echo(f"error: HTTP {response.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    return response.json()


@app.command()
def report(
    summary: Annotated[str, typer.Option(help="One line saying what happened")],
    description: Annotated[str, typer.Option(help="What the reporter said, in full")],
    reporter_name: Annotated[str, typer.Option(help="Who reported it")],
    reporter_contact: Annotated[str, typer.Option(help="How to reach them")],
    client: Annotated[str, typer.Option(help="The client policy id")] = "demo",
    channel: Annotated[
        str, typer.Option(help="phone|email|chat|monitoring|walk_in|other")
    ] = "phone",
    aware_at: Annotated[
        datetime | None, typer.Option(help="When the BPO became aware (ISO-8601 with offset)")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Incident type, if known")] = None,
    severity: Annotated[str | None, typer.Option(help="SEV1..SEV4, if known")] = None,
    external_ref: Annotated[
        str | None, typer.Option(help="Your own id; makes filing idempotent")
    ] = None,
    validated_by: Annotated[
        str | None, typer.Option(help="You validated it on the call: page at once, no triage")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the Jira key")] = 15.0,
    token: TokenOption = None,
) -> None:
    """File an incident through the intake API and print its id and Jira key."""
    settings = _settings()
    body: dict[str, Any] = {
        "client": client,
        "summary": summary,
        "description": description,
        "channel": channel,
        "reporter": {"name": reporter_name, "contact": reporter_contact},
    }
    optional = {
        "aware_at": aware_at.isoformat() if aware_at else None,
        "category": category,
        "severity": severity,
        "external_ref": external_ref,
        "validation": {"by": validated_by} if validated_by else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    base = _api(settings, url)
    headers = auth_headers(settings, token)
    try:
        accepted = _fail_on_error(
            httpx.post(f"{base}/api/v1/incidents", json=body, headers=headers, timeout=15)
        )
        typer.echo(f"incident_id: {accepted['incident_id']}")
        typer.echo(f"workflow_id: {accepted['workflow_id']}")
        deadline = time.monotonic() + wait
        jira_key = None
        while jira_key is None and time.monotonic() < deadline:
            response = httpx.get(accepted["status_url"], headers=headers, timeout=5)
            if response.status_code == 200:
                jira_key = response.json().get("jira_key")
            if jira_key is None:
                time.sleep(0.3)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the intake API at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"jira_key: {jira_key or 'not yet created'}")
    typer.echo(f"status: {accepted['status_url']}")


@app.command()
def status(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    token: TokenOption = None,
) -> None:
    """Print an incident's current state and timeline as JSON."""
    settings = _settings()
    base = _api(settings, url)
    headers = auth_headers(settings, token)
    try:
        view = _fail_on_error(
            httpx.get(f"{base}/api/v1/incidents/{incident}", headers=headers, timeout=10)
        )
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the intake API at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    json.dump(view, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _act(
    incident: str, verb: str, by: str, note: str | None, url: str | None, token: str | None
) -> None:
    settings = _settings()
    base = _api(settings, url)
    body: dict[str, Any] = {"by": by, "channel": "cli"}
    if note:
        body["note"] = note
    try:
        view = _fail_on_error(
            httpx.post(
                f"{base}/api/v1/incidents/{incident}/{verb}",
                json=body,
                headers=auth_headers(settings, token),
                timeout=15,
            )
        )
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the intake API at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"incident_id: {view['incident_id']}")
    typer.echo(f"state: {view['state']}")
    typer.echo(f"acknowledged_by: {view.get('acknowledged_by') or '-'}")
    if verb == "resolve":
        typer.echo(f"resolved_by: {view.get('resolved_by') or '-'}")


@app.command()
def ack(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    by: Annotated[str, typer.Option(help="Who takes ownership")],
    note: Annotated[str | None, typer.Option(help="A line for the timeline and Jira")] = None,
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    token: TokenOption = None,
) -> None:
    """Acknowledge an incident: stops its escalation chain (a later ack is recorded)."""
    _act(incident, "ack", by, note, url, token)


@app.command()
def resolve(
    incident: Annotated[str, typer.Argument(help="Incident id or workflow id")],
    by: Annotated[str, typer.Option(help="Who resolved it")],
    note: Annotated[str | None, typer.Option(help="What was done")] = None,
    url: Annotated[str | None, typer.Option(help="Intake API base URL")] = None,
    token: TokenOption = None,
) -> None:
    """Resolve an acknowledged incident: every page is resolved and the post-incident review
    opens; `close` ends it and moves the ticket to Done."""
    _act(incident, "resolve", by, note, url, token)


@app.command()
def serve() -> None:
    """Run only the intake HTTP server (production: any number of these, beside the workers)."""
    from intake.__main__ import main

    main()


domain_cli.register(app)
tokens_cli.register(app)
lifecycle_cli.register(app)
update_cli.register(app)
reports_cli.register(app)
temporal_cli.register(app)
metrics_cli.register(app)
sop_cli.register(app)
digest_cli.register(app)
assess_cli.register(app)
checklist_cli.register(app)


def main() -> None:
    """The `incident-desk` command: leaves without interpreter finalisation.

    Commands that talk to Temporal leave its Rust core behind, which can still call into Python
    while the interpreter tears down and abort a finished command (sdk-python#300): a register
    that succeeded then exits with SIGABRT. Everything a command does is done when typer
    returns; flush what it printed and exit with its code.
    """
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
