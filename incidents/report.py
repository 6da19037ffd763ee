"""The inbound report as the agent or system gave it, before anyone has judged it.

It is the edge of the system: validation errors here are what a caller of the intake API sees,
so every constraint names the field it guards.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from incidents.facts import DataCategory
from incidents.jurisdictions import Jurisdiction


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    MONITORING = "monitoring"
    WALK_IN = "walk_in"
    OTHER = "other"


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=1, max_length=200, description="Phone number, email or handle")


class ReportValidation(BaseModel):
    """The filer vouches for the report: an agent who validated it on the call, or a trusted
    system. Such a report skips the triage wait and pages at once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Field(min_length=1, max_length=200, description="Who validated it")
    note: str | None = Field(None, max_length=4000, description="Why it is a real incident")


class IncidentReport(BaseModel):
    """What `POST /api/v1/incidents` accepts.

    `aware_at` is when the BPO became aware, the instant most regulatory clocks start from; it
    must carry an offset because a naive local time from a site in Manila or Pune would shift
    every deadline by hours.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    summary: str = Field(min_length=1, max_length=255)
    description: str = Field(min_length=1, max_length=32_000)
    channel: Channel
    reporter: Reporter
    aware_at: AwareDatetime | None = Field(
        None, description="When the BPO became aware (ISO-8601 with offset); defaults to now"
    )
    category: str | None = Field(None, max_length=64)
    severity: Severity | None = None
    external_ref: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The caller's own id; the same client and external_ref start one incident",
    )
    # What the reporter already knows about whose data is involved: it starts the reporting
    # clocks at once instead of waiting for triage (all of it can be corrected later).
    jurisdictions: tuple[Jurisdiction, ...] = Field(
        (), description="Where the affected people live (ISO codes); default: the client's"
    )
    data_categories: tuple[DataCategory, ...] = Field(
        (), description="Kinds of personal data involved; empty: none known"
    )
    records_affected: int | None = Field(
        None, ge=0, description="How many people are affected; leave out while uncounted"
    )
    validation: ReportValidation | None = Field(
        None, description="Set when the filer already validated the report: it pages at once"
    )

    @field_validator("summary")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("summary must be a single line")
        return value


class StartIncident(BaseModel):
    """Workflow input: the report with the instant it was received fixed by the intake.

    `jira_key` is set when the incident was born in Jira (an agent logged the call as an issue):
    the ticket exists already and must not be created again.
    """

    incident_id: str
    report: IncidentReport
    received_at: datetime
    jira_key: str | None = None
    # Long incidents continue as new (workflows/carry_over.py). Both fields are absent from
    # inputs recorded before that existed, which keeps those histories decoding the same.
    history_limit: int | None = Field(
        None,
        ge=40,
        description="Continue as new once the run's history has this many events, besides "
        "whenever Temporal suggests it; set low only to exercise the switch in tests",
    )
    carried: dict[str, Any] | None = Field(
        None,
        description="The state a continued run resumes from (IncidentCarryOver as JSON); set "
        "only by the workflow itself when it continues as new",
    )
