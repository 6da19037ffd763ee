"""`incident-desk deadlines`, `severity` and `policy check` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from incident_desk.domain_cli import register
from tests.domain.conftest import AWARE, REPO

POLICIES = ["--policies-dir", str(REPO / "policies")]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def run(app: typer.Typer, *args: str, stdin: Any = None) -> Any:
    text = stdin if isinstance(stdin, str) or stdin is None else json.dumps(stdin)
    return CliRunner().invoke(app, list(args), input=text)


def test_deadlines_prints_the_contract_shape(app: typer.Typer) -> None:
    result = run(
        app,
        "deadlines",
        stdin={
            "aware_at": "2026-06-01T12:00:00+02:00",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
        },
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"obligations", "not_applicable"}
    gdpr = next(o for o in out["obligations"] if o["id"] == "eu_gdpr_art33_authority")
    assert {"id", "name", "owed_by", "recipient", "stages", "needs_assessment"} <= set(gdpr)
    assert gdpr["owed_by"] == "client"
    initial = gdpr["stages"][0]
    assert initial["stage"] == "initial"
    assert initial["status"] == "due"
    assert initial["due_at"] == "2026-06-04T10:00:00+00:00"
    assert gdpr["stages"][1]["status"] == "no_fixed_deadline"
    assert gdpr["stages"][1]["due_at"] is None
    assert all(set(n) == {"id", "reason"} for n in out["not_applicable"])


def test_deadlines_answers_a_list_with_a_list(app: typer.Typer) -> None:
    result = run(
        app, "deadlines", stdin=[{"aware_at": AWARE}, {"aware_at": AWARE, "sites": ["IN"]}]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert isinstance(out, list) and len(out) == 2
    assert [o["id"] for o in out[1]["obligations"]] == ["in_certin_2022_cyber_incident"]


def test_pending_triggers_and_events(app: typer.Typer) -> None:
    facts = {"aware_at": AWARE, "sectors": ["public_company"]}
    pending = json.loads(run(app, "deadlines", stdin=facts).stdout)
    sec = next(o for o in pending["obligations"] if o["id"] == "us_sec_8k_item_1_05")
    assert sec["stages"][0]["status"] == "pending_trigger"
    facts["events"] = {"materiality_determination": "2026-09-04T16:00:00-04:00"}
    due = json.loads(run(app, "deadlines", stdin=facts).stdout)
    sec = next(o for o in due["obligations"] if o["id"] == "us_sec_8k_item_1_05")
    assert sec["stages"][0]["due_at"] == "2026-09-11T21:00:00+00:00"


def test_a_client_adds_its_contract_obligation(app: typer.Typer) -> None:
    result = run(app, "deadlines", *POLICIES, stdin={"aware_at": AWARE, "client": "demo"})
    assert result.exit_code == 0, result.output
    ids = [o["id"] for o in json.loads(result.stdout)["obligations"]]
    assert "contract_demo_processor_to_controller" in ids


@pytest.mark.parametrize(
    ("stdin", "named"),
    [
        ({"aware_at": AWARE, "colour": "red"}, "unknown field 'colour'"),
        ({"aware_at": AWARE, "data_categories": ["secret"]}, "'secret'"),
        ({"aware_at": AWARE, "sectors": ["banking"]}, "'banking'"),
        ({"aware_at": AWARE, "jurisdictions": ["XX"]}, "'XX'"),
        ({"aware_at": AWARE, "role": "owner"}, "'owner'"),
        ({"aware_at": AWARE, "events": {"lunch": AWARE}}, "'lunch'"),
        ({"aware_at": AWARE, "events": {"awareness": AWARE}}, "awareness cannot be given"),
        ({"aware_at": "2026-06-01T10:00:00"}, "aware_at"),
        ({}, "aware_at: required field missing"),
        ([{"aware_at": AWARE}, {"aware_at": AWARE, "x": 1}], "input[1]: unknown field 'x'"),
        ({"aware_at": AWARE, "client": "nobody"}, "unknown client 'nobody'"),
        ("not json", "not JSON"),
        ("42", "expected a JSON object"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong(app: typer.Typer, stdin: Any, named: str) -> None:
    result = run(app, "deadlines", *POLICIES, stdin=stdin)
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.output


def test_severity_command(app: typer.Typer) -> None:
    result = run(
        app,
        "severity",
        *POLICIES,
        stdin={
            "aware_at": AWARE,
            "client": "harbour-pine",
            "data_categories": ["payment_card"],
            "records_affected": 120,
            "ongoing": False,
        },
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["computed"], out["severity"]) == ("SEV2", "SEV1")
    assert out["reasons"]


def test_severity_requires_its_answers_and_checks_them(app: typer.Typer) -> None:
    missing = run(app, "severity", stdin={"aware_at": AWARE})
    assert missing.exit_code == 2 and "ongoing: required field missing" in missing.stderr
    wrong = run(
        app, "severity", stdin={"aware_at": AWARE, "ongoing": True, "service_impact": "meh"}
    )
    assert wrong.exit_code == 2 and "'meh'" in wrong.stderr


def test_policy_check_defaults_to_every_client_policy(app: typer.Typer) -> None:
    result = run(app, "policy", "check", *POLICIES)
    assert result.exit_code == 0, result.output
    assert "ok: " in result.stdout and "(harbour-pine)" in result.stdout


def test_policy_check_names_file_and_field_without_a_traceback(
    app: typer.Typer, tmp_path: Path
) -> None:
    bad = tmp_path / "acme.yaml"
    bad.write_text("id: acme\nname: Acme\ncontract: {clause: x, notify_within: soon}\n")
    good = REPO / "policies/clients/demo.yaml"
    result = run(app, "policy", "check", str(bad), str(good), str(tmp_path / "gone.yaml"))
    assert result.exit_code == 1
    assert f"{bad}: contract.notify_within" in result.stderr
    assert "gone.yaml: cannot be read" in result.stderr
    assert "ok: " in result.stdout
    assert "Traceback" not in result.output
