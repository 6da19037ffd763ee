"""The weekly digest's Jira requests against Atlassian's contracts.

The real gateway (pycontribs/jira underneath) posts a digest issue to the Jira stand-in, once
fresh and once again for the same client and week; every recorded exchange is validated against
the Jira Cloud v2 OpenAPI file, and those Data Center also has against the Data Center 10.3 file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from incidents.digest import (
    DIGEST_LABELS,
    build_digest,
    digest_issue_label,
    digest_week,
    render_digest_jira,
)
from integrations.jira import JiraConfig, JiraGateway
from integrations.jira_digest import DigestIssue, post_digest_issue
from sandbox.jira import create_app
from tests.contract.openapi_contract import (
    JIRA_CLOUD_V2,
    JIRA_DC_10_3,
    ExchangeRecorder,
    assert_conform,
)
from tests.support.servers import run_app


def test_digest_issue_requests_conform_and_a_repeat_creates_nothing(tmp_path: Path) -> None:
    until = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    digest = build_digest(
        client="acme",
        client_name="Acme | Bank [EU]",
        timezone="Europe/Dublin",
        since=until - timedelta(days=7),
        until=until,
        period_views=[],
        open_views=[],
    )
    summary, description = render_digest_jira(digest)
    issue = DigestIssue(
        client="acme",
        week_of=digest_week(digest),
        summary=summary,
        description=description,
        labels=list(DIGEST_LABELS),
        marker_label=digest_issue_label(digest),
    )
    recorder = ExchangeRecorder(
        create_app(tmp_path / "jira.sqlite3", project_key="RPT"),
        include=lambda p: p.startswith("/rest/"),
    )
    with run_app(recorder) as url:
        gateway = JiraGateway(
            JiraConfig(url=url, user="sandbox", token=SecretStr("sandbox"), project="RPT")
        )
        recorder.clear()
        key = post_digest_issue(gateway, issue)
        assert post_digest_issue(gateway, issue) == key
        exchanges = recorder.take()
        fields = gateway.call("read", lambda c: c.issue(key)).fields

    creates = [e for e in exchanges if e.method == "POST" and e.path == "/rest/api/2/issue"]
    assert len(creates) == 1
    property_writes = [e for e in exchanges if e.method == "PUT" and "/properties/" in e.path]
    assert len(property_writes) == 1  # the repeat found the issue by its property
    assert_conform(JIRA_CLOUD_V2, exchanges)
    assert_conform(
        JIRA_DC_10_3, [e for e in exchanges if JIRA_DC_10_3.has_operation(e.method, e.path)]
    )
    # Week of the Monday the period starts in (Mon 16 Nov 2026, Dublin).
    assert fields.summary == "Security incident digest — Acme | Bank [EU] — week of 2026-11-16"
    assert set(fields.labels) == {*DIGEST_LABELS, "incident-desk-digest-acme-2026-11-16"}
    # The client's name cannot break the wiki markup's table or open a link.
    assert "*Acme \\| Bank \\[EU\\]*" in fields.description
    assert "|Incidents reported|0|" in fields.description
