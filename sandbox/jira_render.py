"""Jira's JSON shapes, as the stand-in (`sandbox.jira`) sends them.

Kept apart from the routes so that the shapes, which the contract tests hold against
Atlassian's OpenAPI files, can be read in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.jira_store import Comment, Issue, IssueRef, Status

API = "/rest/api/2"
PROJECT_ID = "10000"
ISSUE_TYPE_ID = "10001"
# Jira's standard sub-task type (`subtask: true`, hierarchy level -1); the review uses it.
SUBTASK_TYPE_ID = "10003"
SUBTASK_TYPE = "Sub-task"
_ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


@dataclass(frozen=True)
class SandboxUser:
    """A login of the stand-in. Several exist so that tests can act as a person in Jira, distinct
    from the account Incident Desk itself uses (whose own changes it must recognise and skip)."""

    name: str
    token: str = field(repr=False)
    display_name: str


@dataclass(frozen=True)
class SandboxConfig:
    project_key: str
    issue_type: str
    user: str
    token: str = field(repr=False)
    agents: tuple[SandboxUser, ...] = ()
    custom_fields: tuple[str, ...] = ()  # ids settable on create, e.g. customfield_10050

    @property
    def project_name(self) -> str:
        return f"{self.project_key} (Incident Desk sandbox)"

    @property
    def users(self) -> tuple[SandboxUser, ...]:
        """The main user first; an agent with the main user's name is shadowed by it."""
        main = SandboxUser(self.user, self.token, self.user)
        return (main, *(a for a in self.agents if a.name != self.user))

    def display_name(self, name: str) -> str:
        return next((u.display_name for u in self.users if u.name == name), name)


def jira_time(value: datetime) -> str:
    """Jira's timestamp format, e.g. 2026-11-28T22:45:16.000+0000 (no colon in the offset)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _account_id(user: str) -> str:
    return hashlib.sha256(f"sandbox-user:{user}".encode()).hexdigest()[:24]


def user_json(base: str, user: str, display_name: str | None = None) -> dict[str, Any]:
    account_id = _account_id(user)
    return {
        "self": f"{base}{API}/user?accountId={account_id}",
        "accountId": account_id,
        "emailAddress": f"{user}@sandbox.invalid",
        "displayName": display_name or user,
        "active": True,
        "timeZone": "UTC",
        "accountType": "atlassian",
    }


def status_json(base: str, status: Status) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/status/{status.id}",
        "description": status.description,
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": f"{base}{API}/statuscategory/{status.category_id}",
            "id": status.category_id,
            "key": status.category_key,
            "colorName": status.category_color,
            "name": status.category_name,
        },
    }


def issue_type_json(base: str, cfg: SandboxConfig) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/issuetype/{ISSUE_TYPE_ID}",
        "id": ISSUE_TYPE_ID,
        "description": "A security incident reported to the service desk.",
        "iconUrl": f"{base}/images/icons/issuetypes/incident.svg",
        "name": cfg.issue_type,
        "subtask": False,
        "hierarchyLevel": 0,
    }


def subtask_type_json(base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/issuetype/{SUBTASK_TYPE_ID}",
        "id": SUBTASK_TYPE_ID,
        "description": "A piece of work that belongs to another issue.",
        "iconUrl": f"{base}/images/icons/issuetypes/subtask.svg",
        "name": SUBTASK_TYPE,
        "subtask": True,
        "hierarchyLevel": -1,
    }


def issue_types_json(base: str, cfg: SandboxConfig) -> list[dict[str, Any]]:
    return [issue_type_json(base, cfg), subtask_type_json(base)]


def type_json(base: str, cfg: SandboxConfig, name: str) -> dict[str, Any]:
    return subtask_type_json(base) if name == SUBTASK_TYPE else issue_type_json(base, cfg)


def issue_ref_json(base: str, cfg: SandboxConfig, ref: IssueRef) -> dict[str, Any]:
    """Another issue as Jira embeds it in `fields.parent` and `fields.subtasks`."""
    return {
        "id": str(ref.id),
        "key": ref.key,
        "self": f"{base}{API}/issue/{ref.id}",
        "fields": {
            "summary": ref.summary,
            "status": status_json(base, ref.status),
            "priority": {
                "self": f"{base}{API}/priority/3",
                "iconUrl": f"{base}/images/icons/priorities/medium.svg",
                "name": "Medium",
                "id": "3",
            },
            "issuetype": type_json(base, cfg, ref.issue_type),
        },
    }


def project_ref_json(base: str, cfg: SandboxConfig) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/project/{PROJECT_ID}",
        "id": PROJECT_ID,
        "key": cfg.project_key,
        "name": cfg.project_name,
        "projectTypeKey": "software",
        "simplified": False,
    }


def project_json(base: str, cfg: SandboxConfig) -> dict[str, Any]:
    return {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        **project_ref_json(base, cfg),
        "description": "Security incidents handled through Incident Desk.",
        "lead": user_json(base, cfg.user),
        "components": [],
        "issueTypes": issue_types_json(base, cfg),
        "assigneeType": "UNASSIGNED",
        "versions": [],
        "roles": {},
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }


def comment_json(base: str, cfg: SandboxConfig, issue_id: int, comment: Comment) -> dict[str, Any]:
    author = user_json(base, comment.author, cfg.display_name(comment.author))
    return {
        "self": f"{base}{API}/issue/{issue_id}/comment/{comment.id}",
        "id": str(comment.id),
        "author": author,
        "body": comment.body,
        "updateAuthor": author,
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": True,
    }


def field_selector(values: list[str], default: str) -> Callable[[str], bool]:
    names = [n.strip() for raw in values for n in raw.split(",") if n.strip()] or [default]
    excluded = {n[1:] for n in names if n.startswith("-")}
    explicit = {n for n in names if not n.startswith(("-", "*"))}
    everything = "*all" in names
    navigable = "*navigable" in names

    def wanted(name: str) -> bool:
        if name in excluded:
            return False
        return everything or (navigable and name != "comment") or name in explicit

    return wanted


def property_selector(values: list[str]) -> Callable[[str], bool] | None:
    names = {n.strip() for raw in values for n in raw.split(",") if n.strip()}
    if not names:
        return None
    return lambda key: "*all" in names or key in names


def issue_json(
    base: str,
    cfg: SandboxConfig,
    issue: Issue,
    wanted: Callable[[str], bool],
    properties: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    status = issue.status
    done = status.category_key == "done"
    reporter = user_json(base, issue.reporter, cfg.display_name(issue.reporter))
    comments = [comment_json(base, cfg, issue.id, c) for c in issue.comments]
    all_fields: dict[str, Any] = {
        "summary": issue.summary,
        "description": issue.description,
        "issuetype": type_json(base, cfg, issue.issue_type),
        "subtasks": [issue_ref_json(base, cfg, ref) for ref in issue.subtasks],
        "project": project_ref_json(base, cfg),
        "status": status_json(base, status),
        "labels": list(issue.labels),
        "priority": {
            "self": f"{base}{API}/priority/3",
            "iconUrl": f"{base}/images/icons/priorities/medium.svg",
            "name": "Medium",
            "id": "3",
        },
        "resolution": (
            {
                "self": f"{base}{API}/resolution/10000",
                "id": "10000",
                "description": "Work has been completed on this issue.",
                "name": "Done",
            }
            if done
            else None
        ),
        "resolutiondate": jira_time(issue.resolution_date) if issue.resolution_date else None,
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "statuscategorychangedate": jira_time(issue.status_changed),
        "reporter": reporter,
        "creator": reporter,
        "assignee": None,
        "comment": {
            "comments": comments,
            "self": f"{base}{API}/issue/{issue.id}/comment",
            "maxResults": len(comments),
            "total": len(comments),
            "startAt": 0,
        },
        **{f: issue.custom_fields.get(f) for f in cfg.custom_fields},
    }
    if issue.parent is not None:
        # Jira leaves `parent` out of an issue that has none.
        all_fields["parent"] = issue_ref_json(base, cfg, issue.parent)
    out: dict[str, Any] = {
        "expand": _ISSUE_EXPAND,
        "id": str(issue.id),
        "self": f"{base}{API}/issue/{issue.id}",
        "key": issue.key,
        "fields": {name: value for name, value in all_fields.items() if wanted(name)},
    }
    if properties is not None:
        out["properties"] = {k: v for k, v in issue.properties.items() if properties(k)}
    return out


_FIELDS_META: tuple[tuple[str, str, bool, dict[str, Any]], ...] = (
    # id, name, orderable, schema
    ("summary", "Summary", True, {"type": "string", "system": "summary"}),
    ("description", "Description", True, {"type": "string", "system": "description"}),
    ("issuetype", "Issue Type", True, {"type": "issuetype", "system": "issuetype"}),
    ("parent", "Parent", False, {"type": "issuelink", "system": "parent"}),
    (
        "subtasks",
        "Sub-tasks",
        False,
        {"type": "array", "items": "issuelinks", "system": "subtasks"},
    ),
    ("project", "Project", False, {"type": "project", "system": "project"}),
    ("status", "Status", False, {"type": "status", "system": "status"}),
    (
        "labels",
        "Labels",
        True,
        {"type": "array", "items": "string", "system": "labels"},
    ),
    ("priority", "Priority", True, {"type": "priority", "system": "priority"}),
    ("resolution", "Resolution", True, {"type": "resolution", "system": "resolution"}),
    ("resolutiondate", "Resolved", False, {"type": "datetime", "system": "resolutiondate"}),
    ("created", "Created", False, {"type": "datetime", "system": "created"}),
    ("updated", "Updated", False, {"type": "datetime", "system": "updated"}),
    (
        "statuscategorychangedate",
        "Status Category Changed",
        False,
        {"type": "datetime", "system": "statuscategorychangedate"},
    ),
    ("reporter", "Reporter", True, {"type": "user", "system": "reporter"}),
    ("creator", "Creator", False, {"type": "user", "system": "creator"}),
    ("assignee", "Assignee", True, {"type": "user", "system": "assignee"}),
    (
        "comment",
        "Comment",
        True,
        {"type": "comments-page", "system": "comment"},
    ),
)
_CLAUSE_NAMES = {
    "issuetype": ["issuetype", "type"],
    "resolutiondate": ["resolutiondate", "resolved"],
}


def fields_json() -> list[dict[str, Any]]:
    return [
        {
            "id": field_id,
            "key": field_id,
            "name": name,
            "custom": False,
            "orderable": orderable,
            "navigable": field_id != "comment",
            "searchable": True,
            "clauseNames": _CLAUSE_NAMES.get(field_id, [field_id]),
            "schema": schema,
        }
        for field_id, name, orderable, schema in _FIELDS_META
    ]
