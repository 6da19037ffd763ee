"""`incident-desk sop show` and `sop check`: the SOP checklists (policies/sops) from a terminal.

`show` prints what an agent is shown for one incident type, in their language and with their
client's additions; `check` validates every SOP file and every client's `sop_overrides` against
them, naming the file and the field of each problem (exit 1), as `policy check` does.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from incidents.policy import ClientPolicy, PolicyError, load_policies, load_policy
from incidents.sop import (
    Language,
    ResolvedChecklist,
    Section,
    SopError,
    checklist_for,
    load_sops,
    merge,
)
from incidents.taxonomy import IncidentType

__all__ = ["register", "render_text"]

PoliciesDir = Annotated[
    Path | None,
    typer.Option(
        "--policies-dir",
        help="Directory holding sops/<type>.yaml and clients/<id>.yaml "
        "(default: INCIDENT_DESK_POLICIES_DIR or ./policies)",
    ),
]

# Headings are agent-facing too, so they come in the agents' languages.
HEADINGS: dict[Language, dict[str, str]] = {
    Language.EN: {
        Section.QUESTIONS: "Ask the reporter",
        Section.CONTAINMENT: "Contain now (you may)",
        Section.FORBIDDEN: "Never do",
        Section.EVIDENCE: "Evidence to attach",
        "hotlines": "Hotlines",
        "required": "* required before the incident may move on",
    },
    Language.ES: {
        Section.QUESTIONS: "Pregunte a quien reporta",
        Section.CONTAINMENT: "Contenga ahora (puede hacerlo)",
        Section.FORBIDDEN: "Nunca haga",
        Section.EVIDENCE: "Evidencia para adjuntar",
        "hotlines": "Líneas directas",
        "required": "* obligatorio antes de que el incidente avance",
    },
    Language.TL: {
        Section.QUESTIONS: "Itanong sa nag-report",
        Section.CONTAINMENT: "Pigilan ngayon (puwede mong gawin)",
        Section.FORBIDDEN: "Huwag kailanman gawin",
        Section.EVIDENCE: "Ebidensyang i-attach",
        "hotlines": "Mga hotline",
        "required": "* kailangan bago umusad ang insidente",
    },
}


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _default_policies_dir() -> Path:
    from incident_desk.settings import Settings

    return Settings().policies_dir


def render_text(checklist: ResolvedChecklist) -> str:
    words = HEADINGS[checklist.language]
    lines = [f"{checklist.title} ({checklist.incident_type.value}, {checklist.language.value})"]
    if checklist.client:
        lines[0] += f" — client {checklist.client}"
    for section in Section:
        items = checklist.section(section)
        if not items:
            continue
        lines += ["", f"{words[section]}:"]
        for item in items:
            box = "  ✗" if section == Section.FORBIDDEN else "  [ ]"
            mark = "*" if item.required else " "
            note = " (client)" if item.source != "sop" else ""
            lines.append(f"{box}{mark} {item.text}  [{item.id}]{note}")
    if checklist.hotlines:
        lines += ["", f"{words['hotlines']}:"]
        for hotline in checklist.hotlines:
            when = f" — {hotline.when}" if hotline.when else ""
            lines.append(f"  {hotline.name}: {hotline.number}{when}")
    if checklist.required_ids:
        lines += ["", words["required"]]
    if checklist.fallbacks:
        lines += [
            "",
            f"note: no '{checklist.language.value}' text for "
            f"{', '.join(checklist.fallbacks)}; shown in English",
        ]
    return "\n".join(lines)


def show(
    incident_type: Annotated[IncidentType, typer.Argument(help="The incident type")],
    client: Annotated[str | None, typer.Option(help="Apply this client's sop_overrides")] = None,
    lang: Annotated[Language, typer.Option(help="The agent's language")] = Language.EN,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = (
        OutputFormat.TEXT
    ),
    policies_dir: PoliciesDir = None,
) -> None:
    """Print the SOP checklist for an incident type."""
    directory = policies_dir or _default_policies_dir()
    policy: ClientPolicy | None = None
    try:
        sops = load_sops(directory / "sops")
        if client is not None:
            path = directory / "clients" / f"{client}.yaml"
            if not path.is_file():
                typer.echo(f"error: client: unknown client '{client}' (no {path})", err=True)
                raise typer.Exit(2)
            policy = load_policy(path)
        checklist = checklist_for(sops, incident_type, policy, lang)
    except (SopError, PolicyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if output == OutputFormat.JSON:
        typer.echo(json.dumps(checklist.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(checklist))


def check(policies_dir: PoliciesDir = None) -> None:
    """Validate every SOP file and every client's sop_overrides; problems name file and field."""
    directory = policies_dir or _default_policies_dir()
    try:
        sops = load_sops(directory / "sops")
    except SopError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {len(sops)} SOPs in {directory / 'sops'}")
    try:
        policies = load_policies(directory)
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = 0
    for client_id, policy in sorted(policies.items()):
        path = directory / "clients" / f"{client_id}.yaml"
        for incident_type, override in policy.sop_overrides.items():
            try:
                merge(sops[incident_type], override, str(path))
            except SopError as exc:
                failed += 1
                typer.echo(f"error: {exc}", err=True)
            else:
                typer.echo(f"ok: {path} sop_overrides.{incident_type.value}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `sop show` and `sop check` to the `incident-desk` app."""
    sop_app = typer.Typer(help="SOP checklists per incident type.", no_args_is_help=True)
    sop_app.command("show")(show)
    sop_app.command("check")(check)
    app.add_typer(sop_app, name="sop")
