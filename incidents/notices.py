"""What we tell people about an incident, built from classified fields.

Pages go to phones and third-party pager services, so they carry only the classification and
links: never the reporter's name or contact, nor the free-text summary and description, which
often hold the very personal data the incident is about. Jira is the client's own workspace and
gets the full report.
"""

from __future__ import annotations

from datetime import UTC, datetime

from incidents.clocks import ObligationClock, StageClock
from incidents.escalation import Step
from incidents.lifecycle import IncidentView
from incidents.report import IncidentReport


def page_summary(view: IncidentView) -> str:
    ticket = f" ({view.jira_key})" if view.jira_key else ""
    return (
        f"[{view.severity}] {view.category} incident for {view.client}{ticket}: "
        f"acknowledge in Incident Desk, id {view.incident_id}"
    )


def page_details(view: IncidentView) -> dict[str, str]:
    details = {
        "incident_id": view.incident_id,
        "workflow_id": view.workflow_id,
        "client": view.client,
        "severity": view.severity,
        "type": view.category,
        "aware_at": view.aware_at.isoformat(),
    }
    if view.jira_key:
        details["jira_key"] = view.jira_key
    return details


def step_page_summary(view: IncidentView, step: Step) -> str:
    """The chain position leads, so a level-2 responder knows level 1 already had its chance."""
    if not step.targets:
        return page_summary(view)
    return f"{step.label}: {page_summary(view)}"


def step_page_details(view: IncidentView, step: Step) -> dict[str, str]:
    details = page_details(view)
    if step.targets:
        details |= {
            "escalation_level": f"{step.level} of {step.levels}",
            "escalation_round": f"{step.round} of {step.rounds}",
            "targets": ", ".join(step.targets),
        }
    return details


def no_responder_summary(view: IncidentView, target: str, rounds: int) -> str:
    return (
        f"NO RESPONDER for {target}: nobody acknowledged after {rounds} round(s) of the "
        f"escalation chain. {page_summary(view)}"
    )


def no_responder_details(view: IncidentView, target: str, rounds: int) -> dict[str, str]:
    return page_details(view) | {"alert": "no_responder", "targets": target, "rounds": str(rounds)}


def breach_summary(view: IncidentView, clock: ObligationClock, stage: StageClock) -> str:
    """Names the rule and the incident, never the people in it: a page is read on lock screens."""
    return (
        f"[{view.severity}] Reporting deadline missed: {clock.name} ({stage.stage}) "
        f"for incident {view.incident_id} ({view.client})"
    )


def breach_details(
    view: IncidentView, clock: ObligationClock, stage: StageClock, target: str
) -> dict[str, str]:
    return page_details(view) | {
        "alert": "deadline_breached",
        "obligation": clock.id,
        "stage": stage.stage,
        "owed_by": clock.owed_by,
        "due_at": stage.due_at.isoformat() if stage.due_at else "-",
        "targets": target,
    }


def static_summary(
    incident_id: str, severity: str, category: str, client: str, jira_key: str | None = None
) -> str:
    """The one line that names an incident in the Temporal UI's list.

    Temporal fixes it when the workflow starts, so only an incident born in Jira can lead with
    its key; one filed through the API leads with its own id and shows the key in the current
    details once the ticket exists.
    """
    name = jira_key or incident_id
    return f"{name} · {severity} · {category.replace('_', ' ')} · {client}"


def current_details(view: IncidentView) -> str:
    """A short Markdown table for the Temporal UI's workflow page: what a person on shift needs
    to decide their next step, refreshed whenever the incident changes."""
    rows = [
        ("State", str(view.state)),
        ("Severity", str(view.severity)),
        ("Jira", view.jira_key or "not yet created"),
        ("Owner", view.acknowledged_by or "nobody yet"),
        ("Next deadline", _next_deadline(view)),
        ("Open pages", _open_pages(view)),
        ("Client acknowledgement", _client_ack(view)),
    ]
    lines = ["| | |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in rows)]
    return "\n".join(lines)


def _cell(value: str) -> str:
    # A pipe in a value would split the Markdown row.
    return value.replace("|", "/")


def _minute(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _next_deadline(view: IncidentView) -> str:
    breached = " (a deadline is breached)" if view.deadline_breached else ""
    if view.next_deadline is None:
        return f"none{breached}"
    return f"{_minute(view.next_deadline)}{breached}"


def _open_pages(view: IncidentView) -> str:
    if view.pages:
        open_pages = [p for p in view.pages if p.status != "resolved"]
    elif view.page_dedup_key and view.resolved_by is None:
        # Runs from before the escalation chain kept only the one key.
        return f"1: {view.page_dedup_key}"
    else:
        open_pages = []
    if not open_pages:
        return "none"
    keys = ", ".join(f"{p.dedup_key} ({p.status})" for p in open_pages)
    return f"{len(open_pages)}: {keys}"


def _client_ack(view: IncidentView) -> str:
    sent = view.client_notification
    if sent is None:
        return "not notified"
    if sent.acknowledgement is not None:
        ack = sent.acknowledgement
        return f"by {ack.contact} at {_minute(ack.at)}" if ack.at else f"by {ack.contact}"
    if not sent.notices:
        return "notice not sent"
    first = min(n.sent_at for n in sent.notices)
    return f"awaited since {_minute(first)} ({len(sent.notices)} notice(s) sent)"


def jira_description(report: IncidentReport, incident_id: str, received: str) -> str:
    return "\n".join(
        [
            report.description,
            "",
            "----",
            f"*Incident Desk id:* {incident_id}",
            f"*Client:* {report.client}",
            f"*Channel:* {report.channel}",
            f"*Reporter:* {report.reporter.name} ({report.reporter.contact})",
            f"*Aware at:* {report.aware_at.isoformat() if report.aware_at else received}",
            f"*Received at:* {received}",
            f"*External reference:* {report.external_ref or '-'}",
        ]
    )
