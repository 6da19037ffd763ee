"""Lifecycle states and the timeline: what an incident is doing now and everything it did.

The states are the ones in DESIGN.md. The timeline is the incident's own audit trail; it is what
`GET /api/v1/incidents/{id}` shows and what reports are built from, so entries say what happened
in words a compliance reviewer can read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from incidents.checklist import ChecklistState
from incidents.clocks import ObligationClock
from incidents.facts import IncidentFacts
from incidents.notification import ClientNotification
from incidents.report import Severity
from incidents.taxonomy import IncidentType


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


_CHANNEL = Field(
    "api",
    pattern=r"^[a-z][a-z0-9_-]{0,31}$",
    description="Where the person acted: api, cli, jira, ...",
)


class Validation(BaseModel):
    """An agent confirms the report is a real incident, correcting what triage found wrong."""

    by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=4000, description="Why it is real")
    severity: Severity | None = Field(None, description="The corrected severity, if it changed")
    category: IncidentType | None = Field(None, description="The corrected incident type")
    channel: str = _CHANNEL


class FalseAlarm(BaseModel):
    """An agent dismisses the report. The reason is required: it is the only record of why
    nobody was paged and no reporting clock ran."""

    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=4000)
    channel: str = _CHANNEL


class Containment(BaseModel):
    """The responder stopped the harm from spreading; what they did goes into the record."""

    by: str = Field(min_length=1, max_length=200)
    note: str = Field(min_length=1, max_length=4000, description="What was done to contain it")
    channel: str = _CHANNEL


class ReviewAnswers(BaseModel):
    """The post-incident review's questions: the feedback loop into the BPO's practice."""

    root_cause: str = Field(min_length=1, max_length=8000)
    went_well: str | None = Field(None, max_length=8000)
    to_improve: str | None = Field(None, max_length=8000)
    training_needs: str | None = Field(None, max_length=8000)


class CloseIncident(BaseModel):
    """The review is done and the incident closes.

    Either the review's answers or a summary saying where the review was recorded (a Jira
    transition says "in this ticket") is needed. Reporting stages still open refuse the close
    unless `waive_open_stages` gives the reason, e.g. "filed by the client's DPO, ref X".
    """

    by: str = Field(min_length=1, max_length=200)
    review: ReviewAnswers | None = None
    summary: str | None = Field(None, min_length=1, max_length=8000)
    waive_open_stages: str | None = Field(
        None, min_length=3, max_length=4000, description="Why open reporting stages may stay open"
    )
    channel: str = _CHANNEL

    @model_validator(mode="after")
    def _review_given(self) -> CloseIncident:
        if self.review is None and self.summary is None:
            raise ValueError("give the review's answers (review) or a summary of the review")
        return self


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
    last_stakeholder_update_at: datetime | None = Field(
        None, description="When the last stakeholder update was posted (a marked Jira comment)"
    )
    duplicates: list[str] = Field(
        default_factory=list, description="Later reports of the same incident, linked to it"
    )
    # Triage (runs started with the validation stage; None on older ones).
    triage_due_at: datetime | None = Field(None, description="When the triage SLA runs out")
    triage_escalated_at: datetime | None = Field(
        None, description="When the team lead was paged for a report left untriaged"
    )
    triaged_at: datetime | None = Field(None, description="Validated or dismissed")
    validated_by: str | None = None
    validation_note: str | None = None
    false_alarm_by: str | None = None
    false_alarm_reason: str | None = None
    # Containment and the review.
    contained_by: str | None = None
    contained_at: datetime | None = None
    containment_note: str | None = None
    review_due_at: datetime | None = None
    review: ReviewAnswers | None = None
    review_summary: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    open_stages_waived: str | None = Field(
        None, description="Why the incident closed with reporting stages still open"
    )
    checklist: ChecklistState | None = Field(
        None, description="The SOP checklist for the incident's type and its progress"
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)
