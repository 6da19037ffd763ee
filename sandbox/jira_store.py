"""SQLite persistence for the Jira stand-in (`sandbox.jira`).

The stand-in must survive restarts the way a real Jira does: issue keys keep counting up after a
restart (a reused key would silently point a workflow at somebody else's ticket), and comments,
labels and issue properties written by earlier runs stay readable. Plain stdlib `sqlite3` keeps
the stand-in dependency-free; one connection guarded by a lock is plenty for a test double.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.jira_jql import Clause

_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    project_key TEXT NOT NULL,
    issue_type TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT,
    status_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    reporter TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    status_changed TEXT NOT NULL,
    resolution_date TEXT
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS custom_fields (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (issue_id, field)
);
CREATE TABLE IF NOT EXISTS issue_links (
    id INTEGER PRIMARY KEY,
    type_id TEXT NOT NULL,
    inward_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    outward_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS parents (
    issue_id INTEGER PRIMARY KEY REFERENCES issues(id) ON DELETE CASCADE,
    parent_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS properties (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (issue_id, key)
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments (issue_id);
CREATE INDEX IF NOT EXISTS parents_parent ON parents (parent_id);
CREATE INDEX IF NOT EXISTS links_inward ON issue_links (inward_id);
CREATE INDEX IF NOT EXISTS links_outward ON issue_links (outward_id);
CREATE INDEX IF NOT EXISTS properties_key ON properties (key);
"""

# Jira numbers issues and comments from 10000 upwards; keeping that makes ids look familiar.
_FIRST_ID = 10000


@dataclass(frozen=True)
class Status:
    """One workflow status, with the transition that leads to it."""

    id: str
    name: str
    category_id: int
    category_key: str
    category_color: str
    category_name: str
    transition_id: str
    description: str


# The three-step workflow of a Jira "simplified" project, plus the statuses of the incident
# lifecycle. Ids are fixed so that clients may cache them across restarts, as they can with a
# real instance.
WORKFLOW: tuple[Status, ...] = (
    Status("10000", "To Do", 2, "new", "blue-gray", "To Do", "11", "Work that has not started."),
    Status(
        "10001",
        "In Progress",
        4,
        "indeterminate",
        "yellow",
        "In Progress",
        "21",
        "The issue is being worked on.",
    ),
    Status("10002", "Done", 3, "done", "green", "Done", "31", "Work on the issue is complete."),
    # Incident Desk's lifecycle (intake/jira_transitions.py maps these to incident actions).
    Status(
        "10003", "Validated", 4, "indeterminate", "yellow", "In Progress", "41", "A real incident."
    ),
    Status("10004", "False Alarm", 3, "done", "green", "Done", "51", "Not an incident."),
    Status(
        "10005", "Contained", 4, "indeterminate", "yellow", "In Progress", "61", "Harm stopped."
    ),
    Status("10006", "Resolved", 4, "indeterminate", "yellow", "In Progress", "71", "In review."),
    Status("10007", "Closed", 3, "done", "green", "Done", "81", "Reviewed and closed."),
)
INITIAL_STATUS = WORKFLOW[0]


def status_by_id(status_id: str) -> Status:
    for status in WORKFLOW:
        if status.id == status_id:
            return status
    raise KeyError(status_id)


def now_utc() -> datetime:
    # Jira timestamps carry milliseconds, no finer.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Comment:
    id: int
    issue_id: int
    body: str
    author: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class IssueRef:
    """Another issue as Jira embeds it (`fields.parent`, `fields.subtasks`)."""

    id: int
    key: str
    issue_type: str
    summary: str
    status_id: str

    @property
    def status(self) -> Status:
        return status_by_id(self.status_id)


@dataclass
class Issue:
    id: int
    key: str
    project_key: str
    issue_type: str
    summary: str
    description: str | None
    status_id: str
    labels: list[str]
    reporter: str
    created: datetime
    updated: datetime
    status_changed: datetime
    resolution_date: datetime | None
    properties: dict[str, Any] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    # Sub-tasks: the parent on a sub-task, the sub-tasks (oldest first) on a parent.
    parent: IssueRef | None = None
    subtasks: list[IssueRef] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return status_by_id(self.status_id)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _ref(row: sqlite3.Row) -> IssueRef:
    return IssueRef(int(row["id"]), row["key"], row["issue_type"], row["summary"], row["status_id"])


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class JiraStore:
    """Issues, comments and issue properties of one stand-in Jira, kept in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL survives a killed process; only an OS crash may lose the last commit,
        # which is acceptable for a stand-in and keeps each request cheap.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise RuntimeError(f"{path}: unknown Jira sandbox schema version {version}")
        self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _next(self, conn: sqlite3.Connection, name: str, first: int) -> int:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        value = first if row is None else int(row["value"])
        conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value + 1),
        )
        return value

    # -- issues ---------------------------------------------------------------------------------

    def create_issue(
        self,
        *,
        project_key: str,
        issue_type: str,
        summary: str,
        description: str | None,
        labels: list[str],
        reporter: str,
        properties: dict[str, Any] | None = None,
        custom_fields: dict[str, Any] | None = None,
        parent_id: int | None = None,
    ) -> Issue:
        created = now_utc()
        with self._tx() as conn:
            number = self._next(conn, f"issue-number:{project_key}", 1)
            issue_id = self._next(conn, "issue-id", _FIRST_ID)
            key = f"{project_key}-{number}"
            conn.execute(
                "INSERT INTO issues(id, key, project_key, issue_type, summary, description,"
                " status_id, labels, reporter, created, updated, status_changed, resolution_date)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    issue_id,
                    key,
                    project_key,
                    issue_type,
                    summary,
                    description,
                    INITIAL_STATUS.id,
                    json.dumps(labels),
                    reporter,
                    _ts(created),
                    _ts(created),
                    _ts(created),
                ),
            )
            for prop_key, value in (properties or {}).items():
                conn.execute(
                    "INSERT INTO properties(issue_id, key, value) VALUES (?, ?, ?)",
                    (issue_id, prop_key, json.dumps(value)),
                )
            for field_id, value in (custom_fields or {}).items():
                conn.execute(
                    "INSERT INTO custom_fields(issue_id, field, value) VALUES (?, ?, ?)",
                    (issue_id, field_id, json.dumps(value)),
                )
            if parent_id is not None:
                conn.execute(
                    "INSERT INTO parents(issue_id, parent_id) VALUES (?, ?)", (issue_id, parent_id)
                )
        issue = self.get_issue(key)
        assert issue is not None
        return issue

    def get_issue(self, id_or_key: str) -> Issue | None:
        with self._lock:
            if id_or_key.isdigit():
                row = self._conn.execute(
                    "SELECT * FROM issues WHERE id = ?", (int(id_or_key),)
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT * FROM issues WHERE key = ?", (id_or_key.upper(),)
                ).fetchone()
            return None if row is None else self._load(row)

    def list_issues(self) -> list[Issue]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM issues ORDER BY id").fetchall()
            return [self._load(row) for row in rows]

    def candidates(self, clauses: Sequence[Clause]) -> list[Issue]:
        """The issues a JQL query can match, narrowed in SQL as Jira narrows with its index.

        A superset: the caller still applies every clause exactly. Without this, each search
        loaded every issue with its comments, and a stack holding thousands of incidents spent
        its time in the sandbox rather than in what it measures (bench/scale.py).
        """
        where: list[str] = []
        params: list[object] = []
        for clause in clauses:
            if clause.field == "key":
                where.append("key = ?")
                params.append(clause.value.upper())
            elif clause.field == "labels":
                where.append("instr(labels, ?) > 0")
                params.append(json.dumps(clause.value))
            elif clause.field == "parent":
                where.append(
                    "id IN (SELECT p.issue_id FROM parents p JOIN issues i ON i.id = p.parent_id"
                    " WHERE i.key = ? OR CAST(i.id AS TEXT) = ?)"
                )
                params += [clause.value.upper(), clause.value]
            elif clause.field == "property" and clause.property_key is not None:
                path = "$" + "".join(f'."{part}"' for part in clause.property_path)
                # Only a text value can be compared in SQL; numbers and booleans pass through.
                where.append(
                    "id IN (SELECT issue_id FROM properties WHERE key = ? AND "
                    "(json_type(value, ?) IS NOT 'text' OR json_extract(value, ?) = ?))"
                )
                params += [clause.property_key, path, path, clause.value]
        sql = "SELECT * FROM issues" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
            return [self._load(row) for row in rows]

    def _load(self, row: sqlite3.Row) -> Issue:
        issue_id = int(row["id"])
        props = {
            r["key"]: json.loads(r["value"])
            for r in self._conn.execute(
                "SELECT key, value FROM properties WHERE issue_id = ? ORDER BY key", (issue_id,)
            )
        }
        comments = [
            Comment(
                id=int(r["id"]),
                issue_id=issue_id,
                body=r["body"],
                author=r["author"],
                created=datetime.fromisoformat(r["created"]),
                updated=datetime.fromisoformat(r["updated"]),
            )
            for r in self._conn.execute(
                "SELECT * FROM comments WHERE issue_id = ? ORDER BY id", (issue_id,)
            )
        ]
        custom = {
            r["field"]: json.loads(r["value"])
            for r in self._conn.execute(
                "SELECT field, value FROM custom_fields WHERE issue_id = ? ORDER BY field",
                (issue_id,),
            )
        }
        refs = (
            "SELECT i.id, i.key, i.issue_type, i.summary, i.status_id FROM parents p JOIN issues i"
        )
        parent = self._conn.execute(
            f"{refs} ON i.id = p.parent_id WHERE p.issue_id = ?", (issue_id,)
        ).fetchone()
        subtasks = self._conn.execute(
            f"{refs} ON i.id = p.issue_id WHERE p.parent_id = ? ORDER BY i.id", (issue_id,)
        ).fetchall()
        return Issue(
            id=issue_id,
            key=row["key"],
            project_key=row["project_key"],
            issue_type=row["issue_type"],
            summary=row["summary"],
            description=row["description"],
            status_id=row["status_id"],
            labels=json.loads(row["labels"]),
            reporter=row["reporter"],
            created=datetime.fromisoformat(row["created"]),
            updated=datetime.fromisoformat(row["updated"]),
            status_changed=datetime.fromisoformat(row["status_changed"]),
            resolution_date=_dt(row["resolution_date"]),
            properties=props,
            comments=comments,
            custom_fields=custom,
            parent=None if parent is None else _ref(parent),
            subtasks=[_ref(r) for r in subtasks],
        )

    def update_issue(
        self,
        issue_id: int,
        *,
        summary: str | None = None,
        description: str | None = None,
        set_description: bool = False,
        labels: list[str] | None = None,
        comments: list[tuple[str, str]] | None = None,
    ) -> list[Comment]:
        """Apply an edit; `comments` are (body, author) pairs added in the same transaction.

        Returns the comments added, which the webhooks of the edit carry.
        """
        when = now_utc()
        now = _ts(when)
        added: list[Comment] = []
        with self._tx() as conn:
            if summary is not None:
                conn.execute("UPDATE issues SET summary = ? WHERE id = ?", (summary, issue_id))
            if set_description:
                conn.execute(
                    "UPDATE issues SET description = ? WHERE id = ?", (description, issue_id)
                )
            if labels is not None:
                conn.execute(
                    "UPDATE issues SET labels = ? WHERE id = ?", (json.dumps(labels), issue_id)
                )
            for body, author in comments or []:
                comment_id = self._insert_comment(conn, issue_id, body, author, now)
                added.append(Comment(comment_id, issue_id, body, author, when, when))
            conn.execute("UPDATE issues SET updated = ? WHERE id = ?", (now, issue_id))
        return added

    def set_custom_fields(self, issue_id: int, values: dict[str, Any]) -> None:
        """Set (or, with None, clear) custom field values."""
        with self._tx() as conn:
            for field_id, value in values.items():
                conn.execute(
                    "DELETE FROM custom_fields WHERE issue_id = ? AND field = ?",
                    (issue_id, field_id),
                )
                if value is not None:
                    conn.execute(
                        "INSERT INTO custom_fields(issue_id, field, value) VALUES (?, ?, ?)",
                        (issue_id, field_id, json.dumps(value)),
                    )
            conn.execute("UPDATE issues SET updated = ? WHERE id = ?", (_ts(now_utc()), issue_id))

    def add_link(self, type_id: str, inward_id: int, outward_id: int) -> int:
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO issue_links(type_id, inward_id, outward_id) VALUES (?, ?, ?)",
                (type_id, inward_id, outward_id),
            )
            return int(cursor.lastrowid or 0)

    def links_of(self, issue_id: int) -> list[tuple[int, str, int, int]]:
        """(link id, type id, inward issue id, outward issue id) touching the issue."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, type_id, inward_id, outward_id FROM issue_links "
                "WHERE inward_id = ? OR outward_id = ? ORDER BY id",
                (issue_id, issue_id),
            ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def set_status(
        self, issue_id: int, status: Status, *, comments: list[tuple[str, str]] | None = None
    ) -> list[Comment]:
        when = now_utc()
        now = _ts(when)
        resolved = now if status.category_key == "done" else None
        added: list[Comment] = []
        with self._tx() as conn:
            conn.execute(
                "UPDATE issues SET status_id = ?, status_changed = ?, updated = ?,"
                " resolution_date = ? WHERE id = ?",
                (status.id, now, now, resolved, issue_id),
            )
            for body, author in comments or []:
                comment_id = self._insert_comment(conn, issue_id, body, author, now)
                added.append(Comment(comment_id, issue_id, body, author, when, when))
        return added

    def delete_issue(self, issue_id: int) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM issues WHERE id = ?", (issue_id,))

    def next_changelog_id(self) -> int:
        """Ids of change groups, as webhooks carry them; they survive restarts like issue ids do,
        because receivers may use them as idempotency keys."""
        with self._tx() as conn:
            return self._next(conn, "changelog-id", _FIRST_ID)

    # -- comments -------------------------------------------------------------------------------

    def _insert_comment(
        self, conn: sqlite3.Connection, issue_id: int, body: str, author: str, when: str
    ) -> int:
        comment_id = self._next(conn, "comment-id", _FIRST_ID)
        conn.execute(
            "INSERT INTO comments(id, issue_id, body, author, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (comment_id, issue_id, body, author, when, when),
        )
        conn.execute("UPDATE issues SET updated = ? WHERE id = ?", (when, issue_id))
        return comment_id

    def add_comment(self, issue_id: int, body: str, author: str) -> Comment:
        now = now_utc()
        with self._tx() as conn:
            comment_id = self._insert_comment(conn, issue_id, body, author, _ts(now))
        return Comment(comment_id, issue_id, body, author, now, now)

    # -- issue properties -----------------------------------------------------------------------

    def set_property(self, issue_id: int, key: str, value: Any) -> bool:
        """Store a property; True if it did not exist before (Jira answers 201 then, else 200)."""
        with self._tx() as conn:
            existed = conn.execute(
                "SELECT 1 FROM properties WHERE issue_id = ? AND key = ?", (issue_id, key)
            ).fetchone()
            conn.execute(
                "INSERT INTO properties(issue_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(issue_id, key) DO UPDATE SET value = excluded.value",
                (issue_id, key, json.dumps(value)),
            )
        return existed is None

    def delete_property(self, issue_id: int, key: str) -> bool:
        with self._tx() as conn:
            cursor = conn.execute(
                "DELETE FROM properties WHERE issue_id = ? AND key = ?", (issue_id, key)
            )
            return cursor.rowcount > 0
