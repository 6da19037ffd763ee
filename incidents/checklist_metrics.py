"""SOP checklist figures per incident type, for the metrics and the incident report.

How completely agents follow the SOP, and how long the required items take from the moment the
checklist is shown: a type whose lists are left half done, or take hours, is where the training
(or the SOP) needs work. Pure, over the workflows' own views.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta

from pydantic import BaseModel, Field

from incidents.lifecycle import IncidentView


class Durations(BaseModel):
    count: int
    median_s: float | None = None
    p90_s: float | None = None


class ChecklistFigures(BaseModel):
    """One incident type's checklists: how many were posted and finished, and how fast."""

    posted: int = 0
    completed: int = Field(0, description="Every required item done")
    required_items: int = 0
    required_done: int = 0
    completion_pct: float | None = Field(None, description="Required items done, of all posted")
    time_to_complete: Durations = Field(default_factory=lambda: Durations(count=0))


def checklist_figures(
    views: Iterable[IncidentView],
    durations: Callable[[Iterable[timedelta]], object],
) -> dict[str, ChecklistFigures]:
    """Per type (the checklist in force, after any reclassification); `durations` is the
    metrics' own summariser, so the percentiles match the other time figures."""
    figures: dict[str, ChecklistFigures] = defaultdict(ChecklistFigures)
    times: dict[str, list[timedelta]] = defaultdict(list)
    for view in views:
        state = view.checklist
        if state is None:
            continue
        shown = figures[state.incident_type.value]
        shown.posted += 1
        shown.required_items += len(state.required)
        shown.required_done += sum(1 for i in state.required if i.done)
        if state.completed_at is not None:
            shown.completed += 1
            times[state.incident_type.value].append(state.completed_at - state.first_posted_at)
    for name, shown in figures.items():
        if shown.required_items:
            shown.completion_pct = round(100 * shown.required_done / shown.required_items, 1)
        summary = durations(times[name])
        shown.time_to_complete = Durations(
            count=getattr(summary, "count", 0),
            median_s=getattr(summary, "median_s", None),
            p90_s=getattr(summary, "p90_s", None),
        )
    return dict(sorted(figures.items()))
