"""Jira webhook bodies as Incident Desk reads them, and the incident report an issue becomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from intake.jira_payloads import (
    JiraIssue,
    JiraWebhookEvent,
    ReportProblem,
    plain_text,
    report_from_issue,
)
from tests.contract.openapi_contract import specs_dir

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def example(name: str) -> dict[str, Any]:
    """An example body as Jira sends it: without the logger's additions, epoch-ms timestamp
    (../shared/specs/README.md, section 6)."""
    data = json.loads((specs_dir() / "jira-webhook-examples" / name).read_text("utf-8"))
    for artefact in ("label", "level", "message"):
        data.pop(artefact, None)
    if not isinstance(data.get("timestamp"), int):
        data["timestamp"] = 1548852694870
    return data


def test_the_five_examples_parse() -> None:
    created = JiraWebhookEvent.model_validate(example("jira-issue_created.json"))
    assert created.webhook_event == "jira:issue_created"
    assert created.issue is not None and created.issue.key == "BBCOM-1398"
    assert created.issue.fields.created == datetime.fromisoformat("2018-01-11T13:08:03.317+03:00")
    assert created.issue.labels == []  # `labels: null` there

    moved = JiraWebhookEvent.model_validate(example("jira-issue_updated-status-changed.json"))
    assert moved.changelog is not None
    status = moved.changelog.find("status")
    assert status is not None
    assert (status.from_string, status.to_string) == ("To Do", "In Progress")
    assert moved.user is not None and moved.user.account_id == "5bcede20b3e37a158c364fef"

    commented = JiraWebhookEvent.model_validate(example("jira-issue_updated-issue_commented.json"))
    assert commented.issue_event_type_name == "issue_commented"
    assert commented.comment is not None and commented.comment.body == "111"

    comment_only = JiraWebhookEvent.model_validate(example("comment_created.json"))
    assert comment_only.issue is None and comment_only.comment is not None

    updated = JiraWebhookEvent.model_validate(example("comment_updated.json"))
    assert updated.issue is not None and updated.issue.key == "INDEV-28"


def issue(**fields: Any) -> JiraIssue:
    base = {
        "summary": "Lost laptop",
        "description": "Left on a train.",
        "labels": [],
        "reporter": {"displayName": "Ana Cruz", "emailAddress": "ana@bpo.example"},
        "created": "2026-11-28T09:15:00.000+0800",
    }
    return JiraIssue.model_validate({"key": "SEC-7", "fields": {**base, **fields}})


def report(found: JiraIssue, **kwargs: Any) -> Any:
    options = {
        "acting": None,
        "default_client": "demo",
        "client_label_prefix": "client-",
        "received_at": NOW,
        **kwargs,
    }
    return report_from_issue(found, **options)


def test_an_issue_becomes_a_report() -> None:
    made = report(issue(labels=["client-nordlicht-bank", "channel-walk-in", "urgent"]))
    assert made.client == "nordlicht-bank"
    assert made.channel == "walk_in"
    assert made.summary == "Lost laptop"
    assert made.description == "Left on a train."
    assert (made.reporter.name, made.reporter.contact) == ("Ana Cruz", "ana@bpo.example")
    assert made.aware_at == datetime(2026, 11, 28, 1, 15, tzinfo=UTC)
    assert made.external_ref == "SEC-7"


def test_defaults_when_the_issue_says_little() -> None:
    made = report(
        issue(description=None, labels=None, reporter={"accountId": "acc-1"}, created=None)
    )
    assert made.client == "demo"
    assert made.channel == "other"
    assert made.description == "(no description)"
    assert made.reporter.name == "acc-1"
    assert made.reporter.contact == "jira account acc-1"
    assert made.aware_at == NOW


def test_two_client_labels_are_refused_by_name() -> None:
    with pytest.raises(ReportProblem, match=r"several clients \(demo, nordlicht-bank\)"):
        report(issue(labels=["client-demo", "client-nordlicht-bank"]))


def test_an_unusable_client_label_is_refused_with_the_field() -> None:
    with pytest.raises(ReportProblem, match="client"):
        report(issue(labels=["client-Ünïcode!"]))


def test_atlassian_document_format_descriptions_become_text() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Caller says:"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "the PIN was asked."}]},
        ],
    }
    assert plain_text(adf) == "Caller says:\nthe PIN was asked."
    assert report(issue(description=adf)).description == "Caller says:\nthe PIN was asked."
