"""Jira webhook payloads as Incident Desk reads them, and the report an issue becomes.

Atlassian publishes no schema for webhook bodies (../shared/specs/README.md, section 6), and
Cloud, Data Center and every instance's custom fields all send different extras, so the models
keep only the fields Incident Desk uses and ignore the rest. Only what would make us act wrongly
is strict: a `webhookEvent`, an issue `key`, a parseable `created` time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from incidents.report import Channel, IncidentReport, Reporter

DESCRIPTION_MAX = 32_000
SUMMARY_MAX = 255
REPORTER_MAX = 200
INCIDENT_DESK_LABEL = (
    "incident-desk"  # on every issue Incident Desk creates (workflows/incident.py)
)
CHANNEL_LABEL_PREFIX = "channel-"


def _as_text(value: Any) -> Any:
    # Jira ids are strings in JSON, but some instances and proxies send numbers.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _jira_time(value: Any) -> Any:
    """Jira writes `2018-01-11T13:08:03.317+0300`; Python 3.11 reads that offset form."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("Jira timestamps carry an offset; this one has none")
        return parsed
    return value


Text = Annotated[str, BeforeValidator(_as_text)]
JiraTime = Annotated[datetime, BeforeValidator(_jira_time)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class JiraUser(_Lenient):
    """Cloud names users by `accountId` (e-mail often hidden); Data Center by `name`/`key`."""

    account_id: Text | None = Field(None, alias="accountId")
    name: Text | None = None
    key: Text | None = None
    email_address: str | None = Field(None, alias="emailAddress")
    display_name: str | None = Field(None, alias="displayName")

    @property
    def label(self) -> str:
        """How people know this user: what an incident's timeline says they did."""
        return (self.display_name or self.name or self.account_id or "a Jira user").strip()


class Named(_Lenient):
    id: Text | None = None
    key: str | None = None
    name: str | None = None


class IssueFields(_Lenient):
    # Custom fields (`customfield_<n>`, ids differ per instance) stay in `model_extra`.
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    summary: str | None = None
    description: Any = None  # wiki markup (v2) or an Atlassian Document Format tree (v3)
    labels: list[str] | None = None
    issuetype: Named | None = None
    project: Named | None = None
    status: Named | None = None
    reporter: JiraUser | None = None
    creator: JiraUser | None = None
    created: JiraTime | None = None


class JiraIssue(_Lenient):
    id: Text | None = None
    key: str = Field(min_length=1, max_length=255)
    fields: IssueFields = IssueFields()
    # Only app (Connect) webhooks carry properties, as a list of {key, value}; admin ones don't.
    properties: list[dict[str, Any]] | dict[str, Any] | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.fields.labels or [])

    def field_text(self, field_id: str | None) -> str | None:
        """A custom field's value as text: a string, a select option's value, a number."""
        value = (self.fields.model_extra or {}).get(field_id) if field_id else None
        if isinstance(value, dict):
            value = value.get("value") or value.get("name")
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return value.strip() or None if isinstance(value, str) else None

    def property_value(self, key: str) -> Any:
        if isinstance(self.properties, dict):
            return self.properties.get(key)
        for item in self.properties or []:
            if item.get("key") == key:
                return item.get("value")
        return None


class ChangelogItem(_Lenient):
    field: str
    fieldtype: str | None = None
    field_id: str | None = Field(None, alias="fieldId")
    from_: Text | None = Field(None, alias="from")
    from_string: str | None = Field(None, alias="fromString")
    to: Text | None = None
    to_string: str | None = Field(None, alias="toString")


class Changelog(_Lenient):
    id: Text | None = None
    items: list[ChangelogItem] = Field(default_factory=list)

    def find(self, field_id: str) -> ChangelogItem | None:
        """The last change of a system field; custom fields may share its display name."""
        matches = [
            item
            for item in self.items
            if (item.field_id or item.field).casefold() == field_id
            and (item.fieldtype in (None, "jira"))
        ]
        return matches[-1] if matches else None


class JiraComment(_Lenient):
    id: Text | None = None
    body: Any = None
    author: JiraUser | None = None


class JiraWebhookEvent(_Lenient):
    """One delivery. `timestamp` is epoch milliseconds, as Jira sends it."""

    timestamp: int | None = None
    webhook_event: str = Field(alias="webhookEvent", min_length=1)
    issue_event_type_name: str | None = None
    user: JiraUser | None = None
    issue: JiraIssue | None = None
    changelog: Changelog | None = None
    comment: JiraComment | None = None


# -- the report an issue becomes ------------------------------------------------------------------


class ReportProblem(ValueError):
    """The issue cannot become an incident as it is; the message tells the agent what to fix."""


def plain_text(value: Any) -> str:
    """Description text from wiki markup or an ADF tree (API v3 and some Cloud webhooks)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                parts.append(node["text"])
            elif node.get("type") == "hardBreak":
                parts.append("\n")
            for child in node.get("content") or []:
                walk(child)
            if node.get("type") in ("paragraph", "heading", "listItem", "codeBlock"):
                parts.append("\n")
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return "".join(parts).strip()


def client_of(labels: list[str], prefix: str, default: str) -> str:
    clients = sorted({label[len(prefix) :].lower() for label in labels if label.startswith(prefix)})
    clients = [c for c in clients if c]
    if len(clients) > 1:
        raise ReportProblem(
            f"the issue names several clients ({', '.join(clients)}) in its "
            f"'{prefix}<id>' labels; keep exactly one"
        )
    return clients[0] if clients else default


def channel_of(labels: list[str]) -> Channel:
    known = {c.value for c in Channel}
    for label in labels:
        if label.lower().startswith(CHANNEL_LABEL_PREFIX):
            name = label[len(CHANNEL_LABEL_PREFIX) :].lower().replace("-", "_")
            if name in known:
                return Channel(name)
    return Channel.OTHER


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reporter_of(issue: JiraIssue, acting: JiraUser | None) -> Reporter:
    """The issue's reporter; whoever created it if Jira hides the reporter."""
    person = issue.fields.reporter or issue.fields.creator or acting or JiraUser()
    contact = (
        person.email_address
        or person.name
        or (f"jira account {person.account_id}" if person.account_id else None)
        or "unknown (no contact in Jira)"
    )
    return Reporter(name=_clip(person.label, REPORTER_MAX), contact=_clip(contact, REPORTER_MAX))


def report_from_issue(
    issue: JiraIssue,
    *,
    acting: JiraUser | None,
    default_client: str,
    client_label_prefix: str,
    received_at: datetime,
) -> IncidentReport:
    """The incident report an agent filed by creating the issue.

    Raises ReportProblem, naming what to change in Jira, when the issue cannot become one.
    """
    labels = issue.labels
    summary = " ".join((issue.fields.summary or "").split()) or f"Jira issue {issue.key}"
    description = plain_text(issue.fields.description).strip() or "(no description)"
    if len(description) > DESCRIPTION_MAX:
        description = description[: DESCRIPTION_MAX - 40] + "\n… (truncated; see the Jira issue)"
    aware_at = issue.fields.created or received_at
    try:
        return IncidentReport(
            client=client_of(labels, client_label_prefix, default_client),
            summary=_clip(summary, SUMMARY_MAX),
            description=description,
            channel=channel_of(labels),
            reporter=reporter_of(issue, acting),
            aware_at=aware_at.astimezone(UTC) if aware_at.tzinfo else aware_at,
            external_ref=issue.key,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'report'}: {e['msg']}" for e in exc.errors()
        )
        raise ReportProblem(f"the issue does not make a valid incident report: {problems}") from exc
