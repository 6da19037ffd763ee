"""`incident-desk digest schedule` and `incident-desk digest send`: the weekly client digest.

Like `metrics`, these talk to Temporal directly (address, namespace, TLS, codec keys from the
environment), not through the intake API: schedules are Temporal objects.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from temporalio.client import Client
from temporalio.service import RPCError

from incident_desk.config import ConfigError, load_settings
from incident_desk.connection import connect_configured
from incident_desk.digest_schedules import (
    DigestTime,
    Weekday,
    ensure_digest_schedules,
    schedule_id,
)
from incident_desk.namespaces import Namespaces, clients_for
from incident_desk.settings import Settings
from incidents.policy import PolicyError, load_policies

__all__ = ["register"]

digest_app = typer.Typer(help="The weekly incident digest each client's contacts receive.")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


async def _connect(settings: Settings, client: str | None = None) -> Client:
    """The Temporal client for that client's namespace (its policy may name its own)."""
    try:
        base = await connect_configured(settings)
    except RuntimeError as exc:
        typer.echo(f"error: cannot reach Temporal at {settings.temporal_target}: {exc}", err=True)
        raise typer.Exit(1) from None
    namespace = Namespaces.from_dir(settings.temporal_namespace, settings.policies_dir).of(client)
    return clients_for(base, [namespace])[namespace]


@digest_app.command()
def schedule(
    weekday: Annotated[
        Weekday, typer.Option(help="Day of the week, in each client's time zone")
    ] = (Weekday.mon),
    hour: Annotated[int, typer.Option(min=0, max=23, help="Hour, in each client's time zone")] = 8,
    client: Annotated[str | None, typer.Option(help="Only this client's schedule")] = None,
) -> None:
    """Create or update one schedule per client policy (id `digest-<client>`)."""
    settings = _settings()

    async def run() -> dict[str, str]:
        done: dict[str, str] = {}
        for client_id in [client] if client else sorted(load_policies(settings.policies_dir)):
            # Each in its client's namespace, where its digest workflow lists its incidents.
            temporal = await _connect(settings, client_id)
            done |= await ensure_digest_schedules(
                temporal,
                settings.policies_dir,
                settings.task_queue,
                when=DigestTime(weekday, hour),
                update=True,
                only=client_id,
            )
        return done

    try:
        done = asyncio.run(run())
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    except RPCError as exc:
        typer.echo(f"error: Temporal refused: {exc}", err=True)
        raise typer.Exit(1) from None
    for sid, outcome in done.items():
        typer.echo(f"{sid}: {outcome} ({weekday.name} {hour:02d}:00, client's time zone)")


@digest_app.command()
def send(client: Annotated[str, typer.Argument(help="Client id (policy file name)")]) -> None:
    """Send a client's digest now, through its schedule (the period is the past week)."""
    settings = _settings()

    async def run() -> None:
        temporal = await _connect(settings, client)
        await temporal.get_schedule_handle(schedule_id(client)).trigger()

    try:
        asyncio.run(run())
    except RPCError as exc:
        typer.echo(
            f"error: no digest schedule for '{client}' ({exc.message}); "
            "run `incident-desk digest schedule` first",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"{schedule_id(client)}: triggered; the email goes out within a minute")


def register(app: typer.Typer) -> None:
    app.add_typer(digest_app, name="digest")
