"""The post-incident review's Jira sub-task: created once under the incident's issue, read back.

Marked like incident issues (integrations/jira.py): a label set in the create call itself, and
an issue property, `incident-desk-review` = `{"workflowId", "parent"}`, written right after. A
property of its own rather than the incident's `incident-desk`: that one makes an issue an
incident ticket, whose status moves are lifecycle actions, and the sub-task's are not.
Look-ups go by the label under the parent, so a retried create finds the first sub-task even if
the property write was lost.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import jira
from pydantic import BaseModel

from integrations.jira import JiraGateway, jql_quote

log = logging.getLogger(__name__)

REVIEW_PROPERTY_KEY = "incident-desk-review"
# Every review sub-task carries it: the intake recognises a review by it without a Jira call.
REVIEW_LABEL = "incident-desk-review"
SUBTASK_TYPE = "Sub-task"


def review_label(workflow_id: str) -> str:
    """The per-incident marker (a digest: workflow ids may hold characters labels may not)."""
    return f"incident-desk-review-{hashlib.sha256(workflow_id.encode()).hexdigest()[:20]}"


class ReviewSubtask(BaseModel):
    """A review sub-task as the intake needs it to close the incident."""

    key: str
    parent_key: str | None
    workflow_id: str | None
    status: str
    description: str | None
    comments: list[str]  # oldest first


def create_review_subtask(
    gateway: JiraGateway,
    *,
    workflow_id: str,
    parent_key: str,
    summary: str,
    description: str,
    issue_type: str = SUBTASK_TYPE,
) -> str:
    """Returns the review sub-task's key, creating it only if none is found (safe to repeat)."""
    marker = review_label(workflow_id)

    def create(client: jira.JIRA) -> str:
        found = client.search_issues(
            f"parent = {jql_quote(parent_key)} AND labels = {jql_quote(marker)} "
            "ORDER BY created ASC",
            maxResults=1,
            fields="summary",
        )
        if found:
            key = str(found[0].key)
        else:
            project = parent_key.rsplit("-", 1)[0]
            issue = client.create_issue(
                fields={
                    "project": {"key": project},
                    "issuetype": {"name": issue_type},
                    "parent": {"key": parent_key},
                    "summary": summary,
                    "description": description,
                    "labels": [REVIEW_LABEL, marker],
                },
                prefetch=False,
            )
            key = str(issue.key)
            log.info("created review sub-task %s under %s", key, parent_key)
        client.add_issue_property(
            key, REVIEW_PROPERTY_KEY, {"workflowId": workflow_id, "parent": parent_key}
        )
        return key

    return gateway.call("create review sub-task", create)


def read_review_subtask(gateway: JiraGateway, key: str) -> ReviewSubtask:
    """Read fresh (the webhook's copy may be trimmed), with its comments and marker property."""

    def read(client: jira.JIRA) -> ReviewSubtask:
        issue = client.issue(key, fields="description,status,parent,comment")
        fields: Any = issue.fields
        parent = getattr(fields, "parent", None)
        try:
            value = client.issue_property(key, REVIEW_PROPERTY_KEY).raw.get("value")
        except jira.JIRAError as exc:
            if exc.status_code != 404:
                raise
            value = None
        value = value if isinstance(value, dict) else {}
        workflow_id = value.get("workflowId")
        comments = [str(c.body) for c in client.comments(key)]
        return ReviewSubtask(
            key=key,
            parent_key=str(parent.key) if parent is not None else value.get("parent"),
            workflow_id=workflow_id if isinstance(workflow_id, str) and workflow_id else None,
            status=str(fields.status.name),
            description=fields.description,
            comments=comments,
        )

    return gateway.call("read review sub-task", read)
