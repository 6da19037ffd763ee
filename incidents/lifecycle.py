"""Lifecycle states and the timeline: what an incident is doing now and everything it did.

The states are the ones in DESIGN.md. The timeline is the incident's own audit trail; it is what
`GET /api/v1/incidents/{id}` shows and what reports are built from, so entries say what happened
in words a compliance reviewer can read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from incidents.report import Severity


class IncidentState(StrEnum):
    REPORTED = "REPORTED"
    TRIAGE = "TRIAGE"
    FALSE_ALARM = "FALSE_ALARM"
    VALIDATED = "VALIDATED"
    CLASSIFIED = "CLASSIFIED"
    ESCALATED = "ESCALATED"
    CONTAINED = "CONTAINED"
    RESOLVED = "RESOLVED"
    REVIEW = "REVIEW"
    CLOSED = "CLOSED"


class TimelineEntry(BaseModel):
    at: datetime
    event: str = Field(description="A stable machine name, e.g. 'jira_ticket_created'")
    detail: str = Field(description="What happened, in words")
    by: str | None = Field(None, description="Who acted, when a person did")


class Action(BaseModel):
    """A person's action on an incident (acknowledge, resolve) from the API, CLI or Jira."""

    by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=4000)


class IncidentView(BaseModel):
    """The workflow's state as the outside world may see it (query `state`)."""

    incident_id: str
    workflow_id: str
    client: str
    state: IncidentState
    severity: Severity
    category: str
    aware_at: datetime
    received_at: datetime
    jira_key: str | None = None
    page_dedup_key: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
