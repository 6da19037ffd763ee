"""Client policy `assessment:`, apart from incidents/assessments.py so the policy model can
hold it without importing the clocks (which import the policy)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


class UntilAnswered(StrEnum):
    PRESUME_APPLIES = "presume_applies"
    HOLD = "hold"


class AssessmentTerms(BaseModel):
    """Client policy `assessment:`: what stages do while a question is open, and how often
    the question is asked again.

    A daily reminder by default: agents hand over once a shift, and a question left over a
    handover is the one that gets forgotten. Deadlines closer than that have their own reminders
    (the stage's under `presume_applies`; under `hold` the question is also asked again at the
    policy's reminder offsets before the deadline it gates).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    until_answered: UntilAnswered = UntilAnswered.PRESUME_APPLIES
    remind_every: Annotated[timedelta, AfterValidator(_positive)] = timedelta(hours=24)
