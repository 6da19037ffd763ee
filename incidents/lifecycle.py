"""Lifecycle states and the timeline: what an incident is doing now and everything it did.

The states are the ones in DESIGN.md. The timeline is the incident's own audit trail; it is what
`GET /api/v1/incidents/{id}` shows and what reports are built from, so entries say what happened
in words a compliance reviewer can read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from incidents.clocks import ObligationClock
from incidents.facts import IncidentFacts
from incidents.notification import ClientNotification
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
    channel: str = Field(
        "api",
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="Where the person acted: api, cli, pagerduty, opsgenie, jira, ...",
    )


class Page(BaseModel):
    """One page sent for the incident; every open one is resolved with the incident."""

    dedup_key: str
    level: int = Field(description="Chain level; 0 for the no-responder alert")
    round: int = 1
    targets: list[str] = Field(default_factory=list)
    paged_at: datetime
    status: str = Field("open", description="open, acknowledged or resolved")


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
    acknowledged_via: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    pages: list[Page] = Field(default_factory=list)
    no_responder: bool = Field(False, description="The chain ran out and operations was alerted")
    facts: IncidentFacts | None = Field(
        None, description="What the reporting clocks are computed from; None before assessment"
    )
    obligations: list[ObligationClock] = Field(
        default_factory=list, description="Reporting clocks: each obligation with its stages"
    )
    next_deadline: datetime | None = Field(None, description="Earliest due instant still owed")
    deadline_breached: bool = False
    client_notification: ClientNotification | None = Field(
        None, description="Notices sent to the client's contacts and its acknowledgement"
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)
