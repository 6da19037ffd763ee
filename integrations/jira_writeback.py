"""What the incident writes back onto its Jira issue, and the duplicate links between issues.

Agents look at the issue, not at Temporal: its labels name the reporting obligations in force
(`obligation-<id>`, so a JQL filter finds every GDPR incident), the next deadline sits in a
date-time field when the instance has one (configured by name), and the `incident-desk` issue
property holds the workflow id and state for tools and for the webhook receiver.

Every write compares with what the issue already holds and sends only the difference, so a
retried activity or a repeated sync changes nothing the second time. No Temporal imports here.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import jira
from pydantic import BaseModel, Field

from integrations.jira import PROPERTY_KEY, JiraGateway

log = logging.getLogger(__name__)

OBLIGATION_LABEL_PREFIX = "obligation-"
DUPLICATE_LINK_TYPE = "Duplicate"


class TicketState(BaseModel):
    """The incident as its issue shows it."""

    workflow_id: str
    state: str
    obligations: list[str] = Field(default_factory=list, description="Ids in force")
    next_deadline: datetime | None = None

    def property_value(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "state": self.state,
            "obligations": sorted(self.obligations),
            "nextDeadline": self.next_deadline.astimezone(UTC).isoformat()
            if self.next_deadline
            else None,
        }


def obligation_label(obligation_id: str) -> str:
    # Labels may not hold spaces; obligation ids are slugs already, this only guards.
    return OBLIGATION_LABEL_PREFIX + re.sub(r"\s+", "-", obligation_id.strip().lower())[:200]


def jira_datetime(instant: datetime) -> str:
    """Jira's date-time field format: 2026-11-28T09:15:00.000+0000."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sync_ticket(
    gateway: JiraGateway, key: str, state: TicketState, deadline_field: str | None
) -> list[str]:
    """Bring the issue in line with the incident; returns what had to change (for the log)."""
    field_id = gateway.fields.id_of(deadline_field)

    def sync(client: jira.JIRA) -> list[str]:
        wanted_fields = ["labels", *([field_id] if field_id else [])]
        issue = client.issue(key, fields=",".join(wanted_fields))
        current: dict[str, Any] = issue.raw.get("fields") or {}
        done: list[str] = []
        have = {
            label
            for label in current.get("labels") or []
            if label.startswith(OBLIGATION_LABEL_PREFIX)
        }
        wanted = {obligation_label(o) for o in state.obligations}
        operations = [{"add": label} for label in sorted(wanted - have)]
        operations += [{"remove": label} for label in sorted(have - wanted)]
        fields: dict[str, Any] = {}
        if field_id and _instant(current.get(field_id)) != state.next_deadline:
            deadline = state.next_deadline
            fields[field_id] = jira_datetime(deadline) if deadline else None
            done.append(f"{deadline_field} = {fields[field_id]}")
        if operations:
            done.append(
                "labels " + " ".join(f"{v} {label}" for o in operations for v, label in o.items())
            )
        if fields or operations:
            issue.update(fields=fields, update={"labels": operations} if operations else None)
        value = state.property_value()
        try:
            existing = client.issue_property(key, PROPERTY_KEY).raw.get("value")
        except jira.JIRAError as exc:
            if exc.status_code != 404:
                raise
            existing = None
        if existing != value:
            client.add_issue_property(key, PROPERTY_KEY, value)
            done.append(f"property {PROPERTY_KEY}")
        return done

    changed = gateway.call("sync issue", sync)
    if changed:
        log.info("synced Jira issue %s: %s", key, "; ".join(changed))
    return changed


def link_duplicate(gateway: JiraGateway, duplicate: str, original: str) -> bool:
    """Link `duplicate` to `original` as "Duplicate" unless they are linked so already.

    Jira's REST naming is backwards from how people read it: the issue given as `inwardIssue`
    is the one that shows the outward description ("duplicates").
    """

    def link(client: jira.JIRA) -> bool:
        issue = client.issue(duplicate, fields="issuelinks")
        for existing in issue.raw.get("fields", {}).get("issuelinks") or []:
            kind = (existing.get("type") or {}).get("name", "")
            other = existing.get("outwardIssue") or existing.get("inwardIssue") or {}
            if kind.casefold() == DUPLICATE_LINK_TYPE.casefold() and other.get("key") == original:
                return False
        # Not `create_issue_link`: it sends `"comment": null`, which the contract forbids.
        body = {
            "type": {"name": DUPLICATE_LINK_TYPE},
            "inwardIssue": {"key": duplicate},
            "outwardIssue": {"key": original},
        }
        client._session.post(client._get_url("issueLink"), data=json.dumps(body))
        return True

    linked = gateway.call("link duplicate", link)
    if linked:
        log.info("linked Jira issue %s as a duplicate of %s", duplicate, original)
    return linked
