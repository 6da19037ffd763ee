"""The client's terms for the lifecycle's human stages: triage of a new report and the
post-incident review after resolution (`triage:` and `review:` in policies/clients/<id>.yaml).

The defaults are Incident Desk's own, not taken from any standard or contract: a triage SLA that
shrinks with severity (SEV1 15 minutes, SEV2 30 minutes, SEV3 4 hours, SEV4 24 hours, the last
standing in for "one business day" without a calendar) and a review due a week after resolution.
A client's contract or SOP that says otherwise belongs in its policy file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from incidents.report import Channel, Severity

PAGER_SEVERITIES = frozenset({"critical", "error", "warning", "info"})


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]


def _default_slas() -> dict[Severity, timedelta]:
    return {
        Severity.SEV1: timedelta(minutes=15),
        Severity.SEV2: timedelta(minutes=30),
        Severity.SEV3: timedelta(hours=4),
        Severity.SEV4: timedelta(hours=24),
    }


class TriageTerms(BaseModel):
    """How long a report may wait for an agent to validate it, and who hears when it waits
    longer.

    The team lead is paged once, at a lower urgency than an incident page: the report is not
    known to be an incident yet, and the pager itself re-notifies an open alert. The page is
    resolved as soon as the report is validated or dismissed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sla: dict[Severity, Duration] = Field(
        default_factory=_default_slas, description="Time to validate a report, per severity"
    )
    team_lead: str = Field(
        "bpo-team-lead", min_length=1, description="Pager target told when the SLA passes"
    )
    team_lead_jira: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[^\[\]\s]+$",
        description="The team lead in Jira, mentioned in the comment: a Data Center user name, "
        "or accountid:<id> on Jira Cloud",
    )
    page_severity: str = Field("warning", description="Pager severity of the team lead's page")
    auto_validated_channels: tuple[Channel, ...] = Field(
        (),
        description="Channels trusted to report real incidents (e.g. a monitoring feed): their "
        "reports skip triage and page at once",
    )

    @field_validator("sla")
    @classmethod
    def _every_severity(cls, value: dict[Severity, timedelta]) -> dict[Severity, timedelta]:
        # Given partially, the rest keep their defaults: a policy tightening SEV1 only is common.
        return _default_slas() | value

    @field_validator("page_severity")
    @classmethod
    def _pager_severity(cls, value: str) -> str:
        if value not in PAGER_SEVERITIES:
            raise ValueError(f"pager severities are {', '.join(sorted(PAGER_SEVERITIES))}")
        return value

    def sla_for(self, severity: Severity) -> timedelta:
        return self.sla[severity]

    def mention(self) -> str:
        """Jira wiki markup that notifies the team lead, or their pager name when unknown."""
        return f"[~{self.team_lead_jira}]" if self.team_lead_jira else self.team_lead


class ReviewTerms(BaseModel):
    """The post-incident review: the feedback loop that turns an incident into better practice.

    Asked in Jira when the incident is resolved; overdue reviews are reminded a bounded number
    of times, so an abandoned one does not grow the workflow's history for ever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_after: Duration = Field(timedelta(days=7), description="From resolution")
    remind_every: Duration = Field(timedelta(days=1), description="Once overdue")
    reminders: int = Field(3, ge=0, le=30, description="Reminders sent once overdue, at most")
    jira: Literal["subtask", "comment"] = Field(
        "subtask",
        description="Where the review is asked: a Jira sub-task of the incident's issue (moving "
        "it to Done with the answers closes the incident), or a comment on the issue (for Jira "
        "projects without sub-tasks)",
    )
