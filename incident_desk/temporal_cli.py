"""`incident-desk temporal …`: one-off set-up of a Temporal cluster for Incident Desk.

The embedded dev server is started with the search attributes on its command line; a real
cluster needs them registered once per namespace before the first incident starts, or every
workflow fails its first upsert. The names and types come from workflows/names.py, so the
cluster and the code cannot drift apart.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, field
from typing import Annotated

import typer
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from incident_desk.config import ConfigError, load_settings
from incident_desk.connection import connect_configured, temporal_notice
from incident_desk.namespaces import Namespaces, clients_for
from workflows.names import IncidentSearchAttribute

CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
}


class SearchAttributeConflict(RuntimeError):
    """A name we need exists with another type; Temporal cannot change it, a person must decide."""


@dataclass
class Registration:
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def wanted() -> dict[str, SearchAttributeIndexedValueType]:
    return {m.key.name: m.key.indexed_value_type for m in IncidentSearchAttribute}


def create_commands(namespace: str) -> list[str]:
    """The same registration as `temporal` CLI commands, for operators who run it by hand."""
    return [
        "temporal operator search-attribute create "
        f"--namespace {shlex.quote(namespace)} --name {name} --type {CLI_TYPE_NAMES[kind]}"
        for name, kind in wanted().items()
    ]


async def register_search_attributes(client: Client) -> Registration:
    """Idempotent: attributes already there with the right type are left alone."""
    existing = (
        await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    ).custom_attributes
    result = Registration()
    missing: dict[str, IndexedValueType.ValueType] = {}
    conflicts = []
    for name, kind in wanted().items():
        if name not in existing:
            missing[name] = IndexedValueType.ValueType(kind.value)
        elif existing[name] != kind.value:
            have = IndexedValueType.Name(existing[name]).removeprefix("INDEXED_VALUE_TYPE_")
            conflicts.append(f"{name} is {have}, Incident Desk needs {CLI_TYPE_NAMES[kind]}")
        else:
            result.present.append(name)
    if conflicts:
        raise SearchAttributeConflict(
            f"namespace {client.namespace}: " + "; ".join(conflicts) + ". Rename or remove "
            "those attributes (or use another namespace); Temporal cannot change a type."
        )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
        result.added = list(missing)
    return result


temporal_app = typer.Typer(
    help="Set up a Temporal cluster for Incident Desk.", no_args_is_help=True
)


@temporal_app.command("register-search-attributes")
def register_command(
    print_commands: Annotated[
        bool,
        typer.Option(
            "--print-commands",
            help="Print the equivalent `temporal operator search-attribute create` commands "
            "instead of connecting",
        ),
    ] = False,
) -> None:
    """Register Incident Desk's search attributes in TEMPORAL_NAMESPACE and in every namespace
    a client policy names for itself (idempotent).

    Connects as the worker does (TEMPORAL_ADDRESS, TLS, API key). Temporal Cloud: use
    `tcld namespace search-attributes add` or the Cloud UI instead (docs/deploy.md).
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
    namespaces = Namespaces.from_dir(settings.temporal_namespace, settings.policies_dir).all()
    if print_commands:
        for namespace in namespaces:
            for line in create_commands(namespace):
                typer.echo(line)
        return

    async def run() -> dict[str, Registration]:
        base = await connect_configured(settings)
        return {
            namespace: await register_search_attributes(client)
            for namespace, client in clients_for(base, namespaces).items()
        }

    typer.echo(temporal_notice(settings))
    try:
        results = asyncio.run(run())
    except SearchAttributeConflict as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except RuntimeError as exc:  # connection and RPC failures from the SDK
        typer.echo(f"error: cannot register search attributes: {exc}", err=True)
        raise typer.Exit(1) from None
    for namespace, result in results.items():
        where = f" in {namespace}" if len(results) > 1 else ""
        typer.echo(f"added{where}: {', '.join(result.added) or 'none'}")
        typer.echo(f"already present{where}: {', '.join(result.present) or 'none'}")


def register(app: typer.Typer) -> None:
    app.add_typer(temporal_app, name="temporal")
