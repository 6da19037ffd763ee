"""The intake report model and client policy loading: the errors people see at the edges."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from incident_desk.settings import Settings
from incident_desk.stack import settings_env
from incidents.policy import PolicyError, load_policies, load_policy
from incidents.report import IncidentReport

REPO = Path(__file__).resolve().parents[2]

VALID = {
    "client": "demo",
    "summary": "Lost laptop on the MRT",
    "description": "Agent left a company laptop on the train.",
    "channel": "walk_in",
    "reporter": {"name": "Team lead", "contact": "ext 4410"},
}


def test_minimal_report_is_valid_and_aware_at_is_optional() -> None:
    report = IncidentReport.model_validate(VALID)
    assert report.aware_at is None
    assert report.channel == "walk_in"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"aware_at": "2026-11-28T10:00:00"}, "aware_at"),  # no offset: refused
        ({"summary": "two\nlines"}, "summary"),
        ({"reporter": {"name": "x"}}, "contact"),
        ({"severity": "SEV9"}, "severity"),
        ({"external_ref": "has spaces"}, "external_ref"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_report_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        IncidentReport.model_validate({**VALID, **change})
    assert field in str(error.value)


def test_shipped_policies_load_and_include_demo() -> None:
    policies = load_policies(REPO / "policies")
    assert "demo" in policies
    assert policies["demo"].pager.severity_map["SEV1"] == "critical"


def test_policy_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "acme.yaml"
    bad.write_text("id: acme\nname: Acme\ndefault_severity: SEV7\n")
    with pytest.raises(PolicyError) as error:
        load_policy(bad)
    assert str(bad) in str(error.value)
    assert "default_severity" in str(error.value)

    misnamed = tmp_path / "other.yaml"
    misnamed.write_text("id: acme\nname: Acme\n")
    with pytest.raises(PolicyError, match="must match the file name"):
        load_policy(misnamed)

    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes of `incident-desk up` must see exactly the parent's configuration."""
    parent = Settings(temporal_port=17233, jira_token="s3cret", state_dir=Path("/tmp/x"))
    env = settings_env(parent)
    assert "JIRA_URL" not in env  # unset endpoints stay unset: the child uses the stand-in
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child.temporal_target == parent.temporal_target
    assert child.jira_token.get_secret_value() == "s3cret"
    assert child.jira_sandboxed
    assert child.worker_shutdown_grace == parent.worker_shutdown_grace
