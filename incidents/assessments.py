"""A person's answer to an obligation's open questions (`needs_assessment`), and how it is asked.

The catalogue leaves thresholds such as "likely to result in a risk" or "material" to a person.
The workflow asks each question in Jira and waits for one answer per obligation: it applies
(its stages run, from the original trigger) or it does not (it is dropped, with the reason kept).

Until the answer comes, a client policy says what the stages do (`assessment.until_answered`):
`presume_applies` (the default) keeps them running, so an unanswered question can never let a
deadline pass unseen, and a "no" withdraws them; `hold` keeps them stopped until a "yes", for
clients whose counsel would rather not be reminded of obligations that may not exist. A "yes"
under `hold` arms the stages at their original due instants, so a late answer can mean that
reminders were skipped or that the breach alert fires at once; the timeline says which.

Answers arrive from the API, the CLI, or a Jira comment in the form `assess <obligation>: yes —
<reason>` (or `no`), which `parse_comment` reads.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from incidents.assessment_terms import AssessmentTerms, UntilAnswered
from incidents.clocks import ClockStatus, ObligationClock, offset_label

__all__ = ["AssessmentTerms", "ObligationAssessment", "UntilAnswered"]

ASSESS_COMMAND = "assess"


class ObligationAssessment(BaseModel):
    """One answer for one obligation (`assess_obligation` update)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    obligation: str = Field(min_length=1, max_length=128)
    applies: bool = Field(description="True: the obligation applies; False: it is dropped")
    by: str = Field(min_length=1, max_length=200, description="Who decided")
    reason: str = Field(min_length=1, max_length=2000, description="Why; kept in the timeline")
    channel: Literal["api", "cli", "jira"] = "api"

    @property
    def verdict(self) -> str:
        return "applies" if self.applies else "does not apply"


# "assess eu_gdpr_art33_authority: no — encrypted laptop, key not taken". The separator before
# the reason may be an em or en dash, one or two hyphens, or a colon: people type all of them.
_COMMENT = re.compile(
    rf"^\s*{ASSESS_COMMAND}\s+(?P<obligation>[A-Za-z0-9._-]+)\s*:\s*(?P<answer>[A-Za-z]+)\b"
    r"\s*(?:[—–:]|-{1,2})?\s*(?P<reason>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# Only "assess <id>:" is taken as an attempt; "Assess the damage first" is talk.
_ATTEMPT = re.compile(rf"^\s*{ASSESS_COMMAND}\s+[A-Za-z0-9._-]+\s*:", re.IGNORECASE)
_YES = {"yes", "y", "applies"}
_NO = {"no", "n"}


class CommentFormError(ValueError):
    """A comment that starts like an answer but cannot be read as one; says how to write it."""


def parse_comment(body: str) -> tuple[str, bool, str] | None:
    """(obligation, applies, reason) of a Jira comment that answers an assessment; None when the
    comment is not an answer at all, CommentFormError when it tries to be one and fails."""
    if _ATTEMPT.match(body) is None:
        return None
    match = _COMMENT.match(body)
    if match is None:
        raise CommentFormError(f"write the answer as {answer_form('<obligation>')}")
    obligation, answer = match["obligation"], match["answer"].casefold()
    reason = match["reason"].strip()
    if answer not in _YES | _NO:
        raise CommentFormError(
            f"'{match['answer']}' is neither yes nor no; write {answer_form(obligation)}"
        )
    if not reason:
        raise CommentFormError(f"give the reason after the answer: {answer_form(obligation)}")
    return obligation, answer in _YES, reason


def answer_form(obligation: str) -> str:
    return f"'{ASSESS_COMMAND} {obligation}: yes — <reason>' or '... no — <reason>'"


def question_comment(
    obligation_id: str, name: str, instrument: str, question: str, number: int, of: int
) -> str:
    """The Jira comment that asks one question: the obligation, its law, the question, and the
    two answers (one answer settles every question of the obligation)."""
    count = f" (question {number} of {of})" if of > 1 else ""
    return (
        f"Assessment needed{count}: {name} [{obligation_id}], {instrument}.\n"
        f"Question: {question}\n"
        "Answer with a comment on this issue, one of:\n"
        f"  {ASSESS_COMMAND} {obligation_id}: yes — <why it applies>\n"
        f"  {ASSESS_COMMAND} {obligation_id}: no — <why it does not apply>\n"
        f"or `incident-desk assess <incident> {obligation_id} --applies|--does-not-apply "
        "--by <you> --reason <why>`."
    )


def first_due(clock: ObligationClock) -> datetime | None:
    """The earliest due instant among the stages still to run: what an answer gates."""
    return min(
        (s.due_at for s in clock.stages if s.status is ClockStatus.PENDING and s.due_at),
        default=None,
    )


def late_notes(clock: ObligationClock, now: datetime, reminders: list[timedelta]) -> list[str]:
    """What a late "yes" under `hold` means, stage by stage: reminders whose moment passed while
    the question was open are not sent, and a passed deadline is a breach at once."""
    notes = []
    for stage in clock.stages:
        if stage.status is not ClockStatus.PENDING or stage.due_at is None:
            continue
        due = stage.due_at.isoformat()
        if stage.due_at <= now:
            notes.append(
                f"{stage.stage} was due at {due}, before the answer: its breach alert fires now."
            )
            continue
        missed = [
            offset_label(o) for o in sorted(reminders, reverse=True) if stage.due_at - o < now
        ]
        if missed:
            notes.append(
                f"{stage.stage} is due at {due}; reminders {', '.join(missed)} fell before the "
                "answer and are not sent."
            )
    return notes


def dropped(clock: ObligationClock, reason: str) -> ObligationClock:
    """The obligation set aside by a person's "no": kept, cancelled with the reason, so the
    record shows it was considered. Done stages stay done (their evidence is a fact)."""
    stages = [
        s
        if s.status is ClockStatus.DONE
        else s.model_copy(update={"status": ClockStatus.CANCELLED})
        for s in clock.stages
    ]
    return clock.model_copy(
        update={
            "in_force": False,
            "cancelled_reason": reason,
            "stages": stages,
            "needs_assessment": [],
        }
    )
