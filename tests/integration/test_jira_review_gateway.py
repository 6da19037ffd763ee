"""The review sub-task through the real `jira` library against the Jira stand-in: created once
under its parent however often the activity repeats, and read back with its answers."""

from __future__ import annotations

from integrations.jira import JiraGateway
from integrations.jira_review import (
    REVIEW_LABEL,
    REVIEW_PROPERTY_KEY,
    create_review_subtask,
    read_review_subtask,
    review_label,
)
from tests.integration.test_jira_gateway import WORKFLOW_ID, Jira, create, db, gateway, jira_sandbox

__all__ = ["db", "gateway", "jira_sandbox"]  # the fixtures, shared with the gateway tests


def subtask(gateway: JiraGateway, parent: str) -> str:
    return create_review_subtask(
        gateway,
        workflow_id=WORKFLOW_ID,
        parent_key=parent,
        summary=f"Post-incident review — {parent}",
        description="h3. Root cause\n(What let this happen?)",
    )


def test_created_once_however_often_repeated(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    parent = create(gateway)
    first = subtask(gateway, parent)
    # A retried activity (its answer lost, the worker restarted) finds it by its label.
    assert subtask(gateway, parent) == first
    assert subtask(gateway, parent) == first
    subtasks = [i for i in jira_sandbox.issues() if i["key"] != parent]
    assert [i["key"] for i in subtasks] == [first]
    assert jira_sandbox.calls("POST", "/rest/api/2/issue") == 2  # the parent and one sub-task

    read = read_review_subtask(gateway, first)
    assert read.parent_key == parent and read.workflow_id == WORKFLOW_ID
    assert read.status == "To Do" and read.comments == []
    assert read.description is not None and "h3. Root cause" in read.description


def test_marked_by_label_and_its_own_property(gateway: JiraGateway, jira_sandbox: Jira) -> None:
    parent = create(gateway)
    key = subtask(gateway, parent)
    [issue] = [i for i in jira_sandbox.issues() if i["key"] == key]
    assert REVIEW_LABEL in issue["labels"] and review_label(WORKFLOW_ID) in issue["labels"]
    assert issue["properties"][REVIEW_PROPERTY_KEY] == {"workflowId": WORKFLOW_ID, "parent": parent}
    # Not an incident ticket: the incident's property stays on the parent alone.
    assert gateway.workflow_id_of(key) is None
    assert gateway.find_issue_for_workflow(WORKFLOW_ID) == parent
