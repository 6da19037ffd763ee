"""`incident-desk tokens create|list|revoke`, and how the other commands find their token.

The commands work on the token store file directly (INCIDENT_DESK_TOKEN_STORE, by default
`<state dir>/tokens.json`), not through the API: whoever can write that file administers access
already, and a lost admin token can still be replaced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from incident_desk.settings import Settings
from incident_desk.tokens import (
    ADMIN_TOKEN_FILE,
    ALL_CLIENTS,
    Role,
    TokenError,
    TokenStore,
    TokenStoreError,
    parse_duration,
    parse_role,
)

__all__ = ["TokenOption", "auth_headers", "register"]

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="INCIDENT_DESK_TOKEN",
        show_envvar=True,
        help="API token (default: the local stack's <state dir>/admin-token)",
    ),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Token store file (default: INCIDENT_DESK_TOKEN_STORE)"),
]


def auth_headers(settings: Settings, token: str | None) -> dict[str, str]:
    """The Authorization header for API calls: the given token, else the local admin token.

    No header at all when neither exists: the API then answers 401 and the CLI says so.
    """
    if not token:
        try:
            token = (settings.state_dir / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return {}
    return {"Authorization": f"Bearer {token}"}


def _store(store: Path | None) -> TokenStore:
    return TokenStore(store or Settings().token_store_path)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2 if isinstance(exc, TokenError) else 1)


def create(
    name: Annotated[str, typer.Option(help="Who or what holds the token, e.g. ops-laptop-ana")],
    role: Annotated[
        str,
        typer.Option(
            help="agent (file, triage, contain, update, checklist), on-call (acknowledge, "
            "contain, resolve, update), compliance (obligations, stages, close), admin "
            "(everything), client-readonly (its client's status only); docs/security.md"
        ),
    ] = Role.AGENT.value,
    clients: Annotated[
        str, typer.Option(help="Comma-separated client ids, or * for all")
    ] = ALL_CLIENTS,
    expires_in: Annotated[str, typer.Option(help="e.g. 90d, 12h, 2w, or never")] = "90d",
    store: StoreOption = None,
) -> None:
    """Create a token and print it once: only its hash is kept."""
    try:
        record, token = _store(store).create(
            name,
            role=parse_role(role),
            clients=[c.strip() for c in clients.split(",") if c.strip()],
            expires_in=parse_duration(expires_in),
        )
    except (TokenError, TokenStoreError) as exc:
        raise _fail(exc) from None
    typer.echo(f"name: {record.name}")
    typer.echo(f"role: {record.role}")
    typer.echo(f"clients: {','.join(record.clients)}")
    typer.echo(f"expires_at: {record.expires_at.isoformat() if record.expires_at else 'never'}")
    typer.echo(f"token: {token}")
    typer.echo("Store the token now: it is not shown again.", err=True)


def list_tokens(
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per token")] = False,
) -> None:
    """List tokens (names, roles, scopes, expiry, status); never their secrets or hashes."""
    try:
        records = _store(store).records()
    except TokenStoreError as exc:
        raise _fail(exc) from None
    now = datetime.now(UTC)
    rows = [
        {
            "name": r.name,
            "role": str(r.role),
            "clients": ",".join(r.clients),
            "created_at": r.created_at.isoformat(timespec="seconds"),
            "expires_at": r.expires_at.isoformat(timespec="seconds") if r.expires_at else "never",
            "status": r.status(now),
        }
        for r in records
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    typer.echo(f"{'NAME':<24} {'ROLE':<16} {'STATUS':<8} {'EXPIRES':<26} CLIENTS")
    for row in rows:
        typer.echo(
            f"{row['name']:<24} {row['role']:<16} {row['status']:<8} "
            f"{row['expires_at']:<26} {row['clients']}"
        )


def revoke(
    name: Annotated[str, typer.Argument(help="The token's name")],
    store: StoreOption = None,
) -> None:
    """Revoke a token: the intake refuses it from its next request on."""
    try:
        _store(store).revoke(name)
    except (TokenError, TokenStoreError) as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked: {name}")


def register(app: typer.Typer) -> None:
    tokens = typer.Typer(help="API tokens for the intake API and this CLI.", no_args_is_help=True)
    tokens.command("create")(create)
    tokens.command("list")(list_tokens)
    tokens.command("revoke")(revoke)
    app.add_typer(tokens, name="tokens")
