"""The intake server (real HTTP) before its dependencies are up: it answers, and says what
is missing."""

from __future__ import annotations

from pathlib import Path

import httpx

from incident_desk.settings import Settings
from intake.app import create_app
from tests.support.servers import free_port, run_app
from tests.support.stacks import make_token

REPO = Path(__file__).resolve().parents[2]


def settings_with_nothing_running() -> Settings:
    return Settings(
        policies_dir=REPO / "policies",
        temporal_port=free_port(),
        jira_sandbox_port=free_port(),
        pager_sandbox_port=free_port(),
    )


def test_healthz_is_503_and_names_each_dependency_until_ready() -> None:
    settings = settings_with_nothing_running()
    with run_app(create_app(settings)) as url:
        response = httpx.get(f"{url}/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    deps = body["dependencies"]
    assert deps["temporal"] == {
        "url": settings.temporal_target, "ready": False, "detail": "not connected",
    }  # fmt: skip
    assert deps["jira"]["url"] == settings.jira_base_url and not deps["jira"]["ready"]
    assert not deps["pager"]["ready"]
    assert deps["policies"]["ready"]  # the shipped policies load


def test_filing_while_temporal_is_down_is_503_not_500(tmp_path: Path) -> None:
    settings = settings_with_nothing_running().model_copy(update={"state_dir": tmp_path})
    with run_app(create_app(settings)) as url:
        response = httpx.post(
            f"{url}/api/v1/incidents",
            headers=make_token(settings),
            json={
                "client": "demo",
                "summary": "Suspicious login alert",
                "description": "SIEM flagged an impossible-travel login.",
                "channel": "monitoring",
                "reporter": {"name": "SIEM", "contact": "siem@bpo.example"},
            },
        )
    assert response.status_code == 503
    assert "Temporal" in response.json()["detail"]


def test_broken_policy_file_shows_in_health_with_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "acme.yaml").write_text("id: acme\nname: Acme\ntimezone: 7\n")
    settings = settings_with_nothing_running().model_copy(update={"policies_dir": tmp_path})
    with run_app(create_app(settings)) as url:
        policies = httpx.get(f"{url}/healthz").json()["dependencies"]["policies"]
    assert policies["ready"] is False
    assert "acme.yaml" in policies["detail"] and "timezone" in policies["detail"]
