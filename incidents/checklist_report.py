"""The incident report's "SOP checklist" section: what the agent was asked to do, what they did,
who ticked each item and with what answer (incidents/report_export.py places it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from incidents.documents import Section, Table, Text
from incidents.lifecycle import IncidentView
from incidents.sop import Section as SopSection


def checklist_section(view: IncidentView, when: Callable[[datetime | None], str]) -> Section:
    state = view.checklist
    if state is None:
        return Section("SOP checklist", [Text("No SOP checklist was posted for this incident.")])
    required = state.required
    done = sum(1 for i in required if i.done)
    took = f"; complete at {when(state.completed_at)}" if state.completed_at is not None else ""
    replaced = (
        f" It replaced the checklist of {', '.join(t.value for t in state.replaced)} on "
        "reclassification."
        if state.replaced
        else ""
    )
    intro = Text(
        f"{state.title} ({state.incident_type.value}, in {state.language.value}), posted "
        f"{when(state.first_posted_at)}: {done} of {len(required)} required items done{took}."
        f"{replaced}"
    )
    rows = [
        [
            i.id,
            i.section.value,
            "yes" if i.required else "",
            i.gate.value if i.gate else "",
            when(i.done_at) if i.done else "open",
            i.done_by or "",
            i.answer or "",
        ]
        for i in state.items
        if i.section is not SopSection.FORBIDDEN
    ]
    table = Table(["Item", "Section", "Required", "Before", "Done", "By", "Answer"], rows)
    return Section("SOP checklist", [intro, table])
