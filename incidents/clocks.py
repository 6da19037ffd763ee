"""Reporting clocks: the obligations an incident owes, as the workflow tracks them over time.

`obligations_for` answers "what is owed, by when" for one set of facts. An incident lives longer
than one answer: facts are corrected, triggers arrive, people mark stages done, deadlines pass.
This module keeps that state (`ObligationClock`) and says how a new answer changes it
(`reconcile`), so the workflow only arms and cancels timers. Pure: `now` comes in as an argument.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from incidents.escalation import format_duration
from incidents.facts import DataCategory, IncidentFacts, Sector, Trigger
from incidents.jurisdictions import Country, Jurisdiction
from incidents.obligations import Obligation, ObligationReport, StageDeadline, StageStatus
from incidents.report import Severity
from incidents.taxonomy import IncidentType


class ClockStatus(StrEnum):
    PENDING = "pending"
    WAITING_TRIGGER = "waiting_trigger"
    NO_FIXED_DEADLINE = "no_fixed_deadline"
    DONE = "done"
    BREACHED = "breached"
    CANCELLED = "cancelled"


# A stage in one of these still needs someone to act; the others are settled or cannot run.
OPEN = frozenset({ClockStatus.PENDING, ClockStatus.BREACHED})


class StageClock(BaseModel):
    stage: str
    status: ClockStatus
    trigger: str
    due_at: datetime | None = None
    not_later_than: datetime | None = None
    reminders_sent: list[str] = Field(default_factory=list, description="e.g. ['T-24h', 'T-4h']")
    breached_at: datetime | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    reference: str | None = None


class ObligationClock(BaseModel):
    id: str
    name: str
    owed_by: str
    jurisdiction: str
    instrument: str
    needs_assessment: list[str] = Field(default_factory=list)
    in_force: bool = True
    cancelled_reason: str | None = None
    stages: list[StageClock]

    def stage(self, name: str) -> StageClock | None:
        return next((s for s in self.stages if s.stage == name), None)


class ClockChange(BaseModel):
    """One line of the timeline a reassessment writes; `event` is a stable machine name."""

    event: str
    obligation_id: str
    detail: str


class StageDone(BaseModel):
    """Evidence that a stage was carried out: who, and where the proof is (a filing number,
    a portal receipt, the message id of the notice)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    obligation: str = Field(min_length=1, max_length=128)
    stage: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=200)
    reference: str = Field(min_length=1, max_length=500)


class FactsUpdate(BaseModel):
    """A correction or addition to an incident's facts. Fields left out stay as they are; lists
    replace the current list; `events` are added to (or correct) the recorded events."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(None, max_length=2000)
    aware_at: AwareDatetime | None = None
    jurisdictions: tuple[Jurisdiction, ...] | None = None
    data_categories: tuple[DataCategory, ...] | None = None
    sectors: tuple[Sector, ...] | None = None
    sites: tuple[Country, ...] | None = None
    records_affected: int | None = Field(None, ge=0)
    incident_type: IncidentType | None = None
    events: dict[Trigger, AwareDatetime] = Field(default_factory=dict)
    severity: Severity | None = Field(
        None, description="A reclassification; not a fact the clocks read, kept on the incident"
    )

    def apply(self, facts: IncidentFacts) -> IncidentFacts:
        """The facts after this update; ValueError when the result is not a valid set of facts
        (e.g. awareness or the end of the year given as an event)."""
        changes = self.model_dump(
            mode="json", exclude_none=True, exclude={"by", "reason", "events", "severity"}
        )
        merged = facts.model_dump(mode="json") | changes
        merged["events"] = merged.get("events", {}) | {
            str(k): v.isoformat() for k, v in self.events.items()
        }
        return IncidentFacts.model_validate(merged)


def clocks_from(
    report: ObligationReport, previous: list[ObligationClock], now: datetime
) -> tuple[list[ObligationClock], list[ClockChange]]:
    """The clocks after a (re)assessment, and what changed, in words for the timeline.

    Done stays done whatever the new answer says (the evidence is a fact), a breach stands while
    its due instant stands, and an obligation that no longer applies is kept, cancelled with the
    rule's reason, so reviewers see it was considered and why it was dropped.
    """
    before = {c.id: c for c in previous}
    reasons = {n.id: n.reason for n in report.not_applicable}
    clocks: list[ObligationClock] = []
    changes: list[ClockChange] = []
    for obligation in report.obligations:
        old = before.pop(obligation.id, None)
        clock, found = _reconciled(obligation, old if old and old.in_force else None, now)
        if old is None or not old.in_force:
            event = "obligation_armed" if old is None else "obligation_reinstated"
            found = [ClockChange(event=event, obligation_id=obligation.id, detail=_armed(clock))]
        clocks.append(clock)
        changes += found
    for old in before.values():
        if old.in_force:
            reason = reasons.get(old.id, "no longer among the obligations for these facts")
            old = _cancelled(old, reason)
            changes.append(
                ClockChange(
                    event="obligation_cancelled",
                    obligation_id=old.id,
                    detail=f"{old.name} no longer applies: {reason}",
                )
            )
        clocks.append(old)
    return clocks, changes


def _reconciled(
    obligation: Obligation, old: ObligationClock | None, now: datetime
) -> tuple[ObligationClock, list[ClockChange]]:
    changes: list[ClockChange] = []
    stages: list[StageClock] = []
    for deadline in obligation.stages:
        previous = old.stage(deadline.stage) if old else None
        stage = _fresh(deadline)
        if previous is not None:
            stage = _carried(previous, stage)
            if previous.due_at != stage.due_at and previous.status is not ClockStatus.DONE:
                changes.append(_moved(obligation, previous, stage))
        stages.append(stage)
    clock = ObligationClock(
        id=obligation.id,
        name=obligation.name,
        owed_by=str(obligation.owed_by),
        jurisdiction=obligation.jurisdiction,
        instrument=obligation.instrument,
        needs_assessment=list(obligation.needs_assessment),
        stages=stages,
    )
    return clock, changes


def _fresh(deadline: StageDeadline) -> StageClock:
    status = {
        StageStatus.DUE: ClockStatus.PENDING,
        StageStatus.PENDING_TRIGGER: ClockStatus.WAITING_TRIGGER,
        StageStatus.NO_FIXED_DEADLINE: ClockStatus.NO_FIXED_DEADLINE,
    }[deadline.status]
    return StageClock(
        stage=deadline.stage,
        status=status,
        trigger=str(deadline.trigger),
        due_at=deadline.due_at,
        not_later_than=deadline.not_later_than,
    )


def _carried(previous: StageClock, fresh: StageClock) -> StageClock:
    kept = {"reminders_sent": previous.reminders_sent}
    if previous.status is ClockStatus.DONE:
        kept |= {
            "status": ClockStatus.DONE,
            "done_at": previous.done_at,
            "done_by": previous.done_by,
            "reference": previous.reference,
            "breached_at": previous.breached_at,
        }
    elif previous.status is ClockStatus.BREACHED and previous.due_at == fresh.due_at:
        kept |= {"status": ClockStatus.BREACHED, "breached_at": previous.breached_at}
    elif previous.due_at != fresh.due_at:
        # Reminders belong to the old due instant; the moved clock reminds again.
        kept = {}
    return fresh.model_copy(update=kept)


def _moved(obligation: Obligation, previous: StageClock, stage: StageClock) -> ClockChange:
    label = f"{obligation.name} ({stage.stage})"
    if previous.due_at is None:
        detail = f"{label} armed: its trigger ({stage.trigger}) arrived; due {_at(stage.due_at)}"
        return ClockChange(event="stage_armed", obligation_id=obligation.id, detail=detail)
    if stage.due_at is None:
        detail = f"{label} now waits for {stage.trigger}; was due {_at(previous.due_at)}"
    else:
        detail = f"{label} moved from {_at(previous.due_at)} to {_at(stage.due_at)}"
    return ClockChange(event="deadline_moved", obligation_id=obligation.id, detail=detail)


def _cancelled(clock: ObligationClock, reason: str) -> ObligationClock:
    stages = [
        s if s.status is ClockStatus.DONE else s.model_copy(update={"status": "cancelled"})
        for s in clock.stages
    ]
    return clock.model_copy(
        update={"in_force": False, "cancelled_reason": reason, "stages": stages}
    )


def _armed(clock: ObligationClock) -> str:
    parts = []
    for stage in clock.stages:
        if stage.due_at is not None:
            parts.append(f"{stage.stage} due {_at(stage.due_at)}")
        elif stage.status is ClockStatus.WAITING_TRIGGER:
            parts.append(f"{stage.stage} waits for {stage.trigger}")
        else:
            parts.append(f"{stage.stage} has no fixed deadline")
    return f"{clock.name} (owed by {clock.owed_by}): {'; '.join(parts)}"


def _at(instant: datetime | None) -> str:
    return instant.isoformat() if instant else "-"


# --- what the workflow publishes and names ----------------------------------------------------


def regimes(clocks: list[ObligationClock]) -> list[str]:
    return sorted(c.id for c in clocks if c.in_force)


def next_deadline(clocks: list[ObligationClock]) -> datetime | None:
    """The earliest due instant of a stage still owed; an overdue one counts, it is most urgent."""
    return min(
        (s.due_at for c in clocks if c.in_force for s in c.stages if s.status in OPEN and s.due_at),
        default=None,
    )


def breached(clocks: list[ObligationClock]) -> bool:
    return any(s.breached_at is not None for c in clocks for s in c.stages)


def armed(clocks: list[ObligationClock]) -> list[tuple[ObligationClock, StageClock]]:
    """Stages that need a running timer: a due instant and nobody has acted yet."""
    return [
        (c, s)
        for c in clocks
        if c.in_force
        for s in c.stages
        if s.status is ClockStatus.PENDING and s.due_at is not None
    ]


def offset_label(offset: timedelta) -> str:
    return f"T-{format_duration(offset)}"


def reminder_summary(clock: ObligationClock, stage: StageClock, offset: timedelta) -> str:
    """Timer names people read in the Temporal UI's event history."""
    return f"{clock.name} ({stage.stage}) due — {offset_label(offset)} reminder"


def due_summary(clock: ObligationClock, stage: StageClock) -> str:
    return f"{clock.name} ({stage.stage}) due — deadline"


def breach_key(workflow_id: str, obligation_id: str, stage: str) -> str:
    """Its own dedup key, so a breach alert never merges with the on-call page."""
    return f"{workflow_id}~breach-{obligation_id}-{stage}"


def jira_overview(clocks: list[ObligationClock], changes: list[ClockChange]) -> str:
    """The comment agents see when clocks are armed or move; questions are asked here too."""
    lines = ["Reporting clocks updated:"]
    lines += [f"- {change.detail}" for change in changes]
    questions = [
        (c.name, q)
        for c in clocks
        if c.in_force
        for q in c.needs_assessment
        if c.id in {change.obligation_id for change in changes}
    ]
    if questions:
        lines.append("Questions to answer (assessment needed):")
        lines += [f"- {name}: {question}" for name, question in questions]
    return "\n".join(lines)
