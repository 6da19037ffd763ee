"""The CLI's calls to the intake API: one place that finds the API, signs in and explains failures.

Every action command goes through the API rather than Temporal so that it is authorised,
audited and refused exactly as an API call is; the error lines are what a person at a terminal
needs (the status and the API's own reason), never a traceback.
"""

from __future__ import annotations

from typing import Any

import httpx
import typer

from incident_desk.config import ConfigError, load_settings
from incident_desk.settings import Settings
from incident_desk.tokens_cli import auth_headers


def cli_settings() -> Settings:
    """The configuration, or exit 2 with what is wrong in it."""
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


def call_api(
    method: str,
    path: str,
    *,
    url: str | None,
    token: str | None,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    timeout: float = 15,
) -> httpx.Response:
    """The API's successful answer; an unreachable API or a 4xx/5xx exits 1 with the reason."""
    settings = cli_settings()
    base = (url or settings.intake_base_url).rstrip("/")
    try:
        response = httpx.request(
            method,
            f"{base}{path}",
            json=json,
            params=params,
            headers=auth_headers(settings, token),
            timeout=timeout,
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
    return response


def post_action(
    incident: str, action: str, body: dict[str, Any], *, url: str | None, token: str | None
) -> dict[str, Any]:
    """POST /api/v1/incidents/{incident}/{action} as the CLI channel; the incident's view."""
    body = {k: v for k, v in body.items() if v is not None} | {"channel": "cli"}
    path = f"/api/v1/incidents/{incident}/{action}"
    return call_api("POST", path, url=url, token=token, json=body).json()
