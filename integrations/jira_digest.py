"""The weekly digest as one Jira issue per client and week in the client's reporting project.

Idempotent the way incident issues are (integrations/jira.py), with markers of its own so that
nothing taking an issue for an incident's (webhooks, write-back) mistakes a digest for one: the
label `incident-desk-digest-<client>-<week>` is set in the create call itself, and the issue
property `incident-desk-digest` = `{"digest": "<client>/<week>", ...}` right after. A look-up
tries the property, then the label, so a retried activity or a second run for the same week
finds the issue and creates none.

No Temporal imports here; activities/digest.py wraps this.
"""

from __future__ import annotations

import logging
from datetime import date

import jira
import pydantic

from integrations.jira import JiraGateway, jql_quote

log = logging.getLogger(__name__)

DIGEST_PROPERTY_KEY = "incident-desk-digest"


class DigestIssue(pydantic.BaseModel):
    client: str
    week_of: date
    summary: str
    description: str
    labels: list[str]
    marker_label: str = pydantic.Field(description="The label unique to this client and week")

    @property
    def digest_id(self) -> str:
        return f"{self.client}/{self.week_of:%Y-%m-%d}"


def _first(client: jira.JIRA, jql: str) -> str | None:
    found = client.search_issues(f"{jql} ORDER BY created ASC", maxResults=10, fields="summary")
    keys = [issue.key for issue in found]
    if len(keys) > 1:
        log.warning("several Jira issues hold the same weekly digest: %s", keys)
    return keys[0] if keys else None


def post_digest_issue(gateway: JiraGateway, issue: DigestIssue) -> str:
    """The week's digest issue key, created only if neither marker finds one. Safe to repeat."""
    project = gateway.config.project

    def post(client: jira.JIRA) -> str:
        marked = True
        key = _first(
            client,
            f"issue.property[{DIGEST_PROPERTY_KEY}].digest = {jql_quote(issue.digest_id)}",
        )
        if key is None:
            marked = False
            key = _first(
                client,
                f"project = {jql_quote(project)} AND labels = {jql_quote(issue.marker_label)}",
            )
        if key is None:
            created = client.create_issue(
                fields={
                    "project": {"key": project},
                    "issuetype": {"name": gateway.config.issue_type},
                    "summary": issue.summary,
                    "description": issue.description,
                    "labels": list(dict.fromkeys([*issue.labels, issue.marker_label])),
                },
                prefetch=False,
            )
            key = str(created.key)
            log.info("created weekly digest issue %s for %s", key, issue.digest_id)
        if not marked:
            client.add_issue_property(
                key,
                DIGEST_PROPERTY_KEY,
                {
                    "digest": issue.digest_id,
                    "client": issue.client,
                    "weekOf": f"{issue.week_of:%Y-%m-%d}",
                },
            )
        return key

    # Find, create and mark are one unit of retry, as for incident issues.
    return gateway.call("post weekly digest", post)
