"""Sub-tasks in the Jira stand-in, as the `jira` library and Atlassian's spec see them.

The post-incident review is a sub-task of the incident's issue (integrations/jira_review.py):
the stand-in must offer a sub-task type (`subtask: true`), require and validate `fields.parent`
on create, and show the parent on the sub-task and the sub-task in the parent's `subtasks`,
as Jira Cloud does. Every exchange is validated against the v2 (and DC 10.3) OpenAPI files.
"""

from __future__ import annotations

import jira
import pytest

from tests.contract.test_jira_sandbox import JSON, Sandbox, check, new_issue, sandbox, sb

__all__ = ["sandbox", "sb"]  # the fixtures, shared with the main sandbox contract test


def new_subtask(client: jira.JIRA, parent: str, summary: str = "Review") -> jira.Issue:
    return client.create_issue(
        fields={
            "project": {"key": "SEC"},
            "issuetype": {"name": "Sub-task"},
            "parent": {"key": parent},
            "summary": summary,
            "description": "h3. Root cause\n(What let this happen?)",
            "labels": ["incident-desk-review"],
        }
    )


def test_a_subtask_type_is_offered(sb: Sandbox) -> None:
    types = {t.name: t for t in sb.client.issue_types()}
    assert types["Sub-task"].subtask is True and types["Incident"].subtask is False
    assert sb.client.issue_type_by_name("Sub-task", project="SEC").raw["hierarchyLevel"] == -1
    check(sb, expect_routes=2)


def test_subtask_and_parent_point_at_each_other(sb: Sandbox) -> None:
    client = sb.client
    parent = new_issue(client, summary="Lost laptop")
    first = new_subtask(client, parent.key, "Review one")
    second = new_subtask(client, parent.id, "Review two")  # a parent named by id also works

    sub = client.issue(first.key)
    assert sub.fields.issuetype.name == "Sub-task" and sub.fields.issuetype.subtask is True
    assert sub.fields.parent.key == parent.key
    assert sub.fields.parent.fields.summary == "Lost laptop"
    assert sub.fields.parent.fields.issuetype.subtask is False
    assert sub.fields.subtasks == []

    again = client.issue(parent.key)
    assert [s.key for s in again.fields.subtasks] == [first.key, second.key]
    assert again.fields.subtasks[0].fields.status.name == "To Do"
    assert "parent" not in again.raw["fields"]  # Jira leaves it out of a top-level issue

    # The status a parent shows for its sub-task follows the sub-task's moves.
    client.transition_issue(first.key, "Done")
    assert client.issue(parent.key).fields.subtasks[0].fields.status.name == "Done"

    found = client.search_issues(
        f'parent = {parent.key} AND labels = "incident-desk-review" ORDER BY created ASC'
    )
    assert [i.key for i in found] == [first.key, second.key]
    check(sb, expect_routes=4)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"issuetype": {"name": "Sub-task"}}, "parent", "Parent issue is required"),
        (
            {"issuetype": {"name": "Sub-task"}, "parent": {"key": "SEC-99999"}},
            "parent",
            "Could not find issue",
        ),
        ({"issuetype": {"name": "Incident"}, "parent": {"key": "SEC-1"}}, "parent", "sub-task"),
    ],
)
def test_create_refuses_a_wrong_parent_like_jira(
    sb: Sandbox, fields: dict[str, object], field: str, message: str
) -> None:
    body = {"fields": {"project": {"key": "SEC"}, "summary": "Review", **fields}}
    answer = sb.raw("POST", "/rest/api/2/issue", json=body, headers=JSON)
    assert answer.status_code == 400
    assert message in answer.json()["errors"][field]
    check(sb)


def test_a_subtask_cannot_parent_a_subtask(sb: Sandbox) -> None:
    parent = new_issue(sb.client)
    sub = new_subtask(sb.client, parent.key)
    with pytest.raises(jira.JIRAError) as refused:
        new_subtask(sb.client, sub.key)
    assert refused.value.status_code == 400
    assert "hierarchy" in refused.value.response.json()["errors"]["parent"]
    check(sb, expect_routes=1)
