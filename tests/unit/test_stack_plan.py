"""What `incident-desk up` starts: stand-ins only for what is not configured."""

from __future__ import annotations

from pathlib import Path

from incident_desk.settings import Settings
from incident_desk.stack import Stack


def names(settings: Settings) -> list[str]:
    return [part.name for part in Stack(settings).parts]


def test_embedded_default_starts_everything(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert names(settings) == [
        "temporal", "jira-sandbox", "pager-sandbox", "opsgenie-sandbox", "smtp-sandbox",
        "worker", "intake",
    ]  # fmt: skip
    temporal = Stack(settings).parts[0]
    assert "--db-filename" in temporal.argv
    assert str(tmp_path.resolve() / "temporal.db") in temporal.argv
    assert "IncidentClient=Keyword" in temporal.argv and "Regimes=KeywordList" in temporal.argv


def test_configured_endpoints_replace_their_stand_ins(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        temporal_address="temporal.internal:7233",
        jira_url="https://bpo.atlassian.net",
        jira_user="desk@bpo.example",
        jira_token="api-token",
        pagerduty_events_url="https://events.pagerduty.com/v2/enqueue",
        opsgenie_api_url="https://api.eu.opsgenie.com",
        smtp_host="smtp.bpo.example",
    )
    assert names(settings) == ["worker", "intake"]
    assert Stack(settings).urls()["Mail"] == "smtp.bpo.example:587"
    assert Stack(settings).urls()["Jira"] == "https://bpo.atlassian.net"


def test_ack_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    first = Stack(Settings(state_dir=tmp_path)).settings.ack_secret
    again = Stack(Settings(state_dir=tmp_path)).settings.ack_secret
    assert first is not None and first == again
    assert (tmp_path / "ack-secret").stat().st_mode & 0o077 == 0
