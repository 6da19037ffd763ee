"""`incident-desk deadlines`, `severity` and `policy check`: the domain rules from a terminal.

JSON in on stdin, JSON out on stdout, so compliance staff can pin a case in a file and diff the
answer after a catalogue change. Input mistakes exit with status 2 and a message naming the
field or value at fault; nothing here prints a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from incidents.facts import IncidentFacts
from incidents.obligations import obligations_for
from incidents.policy import ClientPolicy, PolicyError, load_policy
from incidents.severity import ServiceImpact, SeverityAnswers, assess_severity

M = TypeVar("M", bound=BaseModel)

PoliciesDir = Annotated[
    Path | None,
    typer.Option(
        "--policies-dir",
        help="Directory holding clients/<id>.yaml (default: INCIDENT_DESK_POLICIES_DIR or ./policies)",
    ),
]


class SeverityRequest(IncidentFacts):
    """The `deadlines` input plus the triage answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ongoing: bool
    service_impact: ServiceImpact = ServiceImpact.NONE


class InputError(Exception):
    """Bad input, already worded for the person who typed it."""


def _default_policies_dir() -> Path:
    from incident_desk.settings import Settings

    return Settings().policies_dir


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"] if part != "[key]")
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown field '{loc}'")
        elif error["type"] == "enum":
            expected = error.get("ctx", {}).get("expected", "")
            problems.append(f"{loc}: unknown value {error['input']!r}; expected {expected}")
        elif error["type"] == "missing":
            problems.append(f"{loc}: required field missing")
        else:
            problems.append(f"{loc}: {error['msg'].removeprefix('Value error, ')}")
    return problems


def _read_input() -> tuple[list[Any], bool]:
    """The objects on stdin, and whether they came as a list (the answer mirrors the shape)."""
    text = sys.stdin.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"stdin is not JSON: {exc}") from None
    if isinstance(data, list):
        if not all(isinstance(item, dict) for item in data):
            raise InputError("stdin: a list must hold JSON objects only")
        return data, True
    if isinstance(data, dict):
        return [data], False
    raise InputError("stdin: expected a JSON object or a list of objects")


def _parse(model: type[M], items: list[Any], listed: bool) -> list[M]:
    parsed: list[M] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            prefix = f"input[{index}]: " if listed else ""
            problems += [prefix + p for p in _describe(exc)]
    if problems:
        raise InputError("\n".join(problems))
    return parsed


def _policy_for(client: str | None, policies_dir: Path | None) -> ClientPolicy | None:
    if client is None:
        return None
    directory = policies_dir or _default_policies_dir()
    path = directory / "clients" / f"{client}.yaml"
    if not path.is_file():
        raise InputError(f"client: unknown client '{client}' (no {path})")
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise InputError(f"client: policy cannot be used: {exc}") from None


def _emit(results: list[dict[str, Any]], listed: bool) -> None:
    typer.echo(json.dumps(results if listed else results[0], indent=2, ensure_ascii=False))


def _fail(exc: InputError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def deadlines(policies_dir: PoliciesDir = None) -> None:
    """Obligations and due instants for incident facts (JSON object or list on stdin)."""
    try:
        items, listed = _read_input()
        facts = _parse(IncidentFacts, items, listed)
        reports = [obligations_for(f, _policy_for(f.client, policies_dir)) for f in facts]
    except InputError as exc:
        raise _fail(exc) from None
    _emit([r.model_dump(mode="json") for r in reports], listed)


def severity(policies_dir: PoliciesDir = None) -> None:
    """Severity from the facts plus `ongoing` and `service_impact` (JSON on stdin)."""
    try:
        items, listed = _read_input()
        requests = _parse(SeverityRequest, items, listed)
        results = []
        for request in requests:
            policy = _policy_for(request.client, policies_dir)
            facts = IncidentFacts.model_validate(
                request.model_dump(exclude={"ongoing", "service_impact"})
            )
            answers = SeverityAnswers(
                ongoing=request.ongoing, service_impact=request.service_impact
            )
            report = obligations_for(facts, policy)
            results.append(assess_severity(facts, answers, report, policy).model_dump(mode="json"))
    except InputError as exc:
        raise _fail(exc) from None
    _emit(results, listed)


def policy_check(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Policy files (default: all client policies)")
    ] = None,
    policies_dir: PoliciesDir = None,
) -> None:
    """Validate client policy files; every problem names the file and the field."""
    paths = files or sorted(((policies_dir or _default_policies_dir()) / "clients").glob("*.yaml"))
    if not paths:
        typer.echo("error: no policy files to check", err=True)
        raise typer.Exit(2)
    failed = 0
    for path in paths:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            failed += 1
            typer.echo(f"error: {exc}", err=True)
        else:
            typer.echo(f"ok: {path} ({policy.id})")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the domain commands to the `incident-desk` app."""
    app.command("deadlines")(deadlines)
    app.command("severity")(severity)
    policy_app = typer.Typer(help="Client policies (SOPs as data).", no_args_is_help=True)
    policy_app.command("check")(policy_check)
    app.add_typer(policy_app, name="policy")
