"""Which Jira statuses stand for which incident action, and what each move asks the workflow.

Statuses are matched, not transitions: a real workflow may reach "Done" through a transition
called "Resolve" or "Close". Each action's statuses are a setting (comma-separated, compared
case-insensitively as Jira does); the defaults match the sandbox's workflow:

    To Do → Validated | False Alarm → In Progress → Contained → Resolved → Done (or Closed)

A comment left with the transition (Jira's transition screen) is the action's note; a false
alarm needs one, because its reason is the only record of why nobody was paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from incident_desk.settings import Settings
from incidents.lifecycle import (
    Action,
    CloseIncident,
    Containment,
    FalseAlarm,
    IncidentState,
    IncidentView,
    Validation,
)
from workflows.incident import IncidentWorkflow

Verb = Literal["validate", "false_alarm", "acknowledge", "contain", "resolve", "close"]
ORDER: tuple[Verb, ...] = ("validate", "false_alarm", "acknowledge", "contain", "resolve", "close")
_SETTING: dict[Verb, str] = {
    "validate": "jira_validate_statuses",
    "false_alarm": "jira_false_alarm_statuses",
    "acknowledge": "jira_ack_statuses",
    "contain": "jira_contain_statuses",
    "resolve": "jira_resolve_statuses",
    "close": "jira_close_statuses",
}
UPDATES: dict[Verb, Any] = {
    "validate": IncidentWorkflow.validate,
    "false_alarm": IncidentWorkflow.mark_false_alarm,
    "acknowledge": IncidentWorkflow.acknowledge,
    "contain": IncidentWorkflow.contain,
    "resolve": IncidentWorkflow.resolve,
    "close": IncidentWorkflow.close,
}
# What the webhook answers (WebhookOutcome.outcome) when the action was taken.
OUTCOMES: dict[Verb, str] = {
    "validate": "validated",
    "false_alarm": "dismissed",
    "acknowledge": "acknowledged",
    "contain": "contained",
    "resolve": "resolved",
    "close": "closed",
}
WORDS: dict[Verb, str] = {
    "validate": "validate the report",
    "false_alarm": "mark the report a false alarm",
    "acknowledge": "acknowledge the incident",
    "contain": "record containment",
    "resolve": "resolve the incident",
    "close": "close the incident",
}


class NeedsReason(ValueError):
    """The move cannot become an action as it is (a false alarm without its reason)."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


@dataclass(frozen=True)
class TransitionMap:
    statuses: dict[Verb, tuple[str, ...]]

    @classmethod
    def from_settings(cls, settings: Settings) -> TransitionMap:
        return cls({verb: _split(getattr(settings, _SETTING[verb])) for verb in ORDER})

    def verb_for(self, status: str) -> Verb | None:
        wanted = status.strip().casefold()
        for verb in ORDER:
            if wanted in {s.casefold() for s in self.statuses[verb]}:
                return verb
        return None

    def status_for(self, verb: Verb) -> str:
        names = self.statuses[verb]
        return names[0] if names else verb

    def overlaps(self) -> list[str]:
        """Statuses mapped to more than one action (only the first action counts)."""
        seen: dict[str, Verb] = {}
        clashes = []
        for verb in ORDER:
            for name in self.statuses[verb]:
                first = seen.setdefault(name.casefold(), verb)
                if first != verb:
                    clashes.append(f"'{name}' ({first} and {verb})")
        return clashes


def action_for(verb: Verb, who: str, moved: str, comment: str | None, key: str) -> BaseModel:
    """The update's argument for a move; `moved` describes the move, `comment` is the text left
    with the transition, if any."""
    note = comment or moved
    if verb == "validate":
        return Validation(by=who, note=note, channel="jira")
    if verb == "false_alarm":
        if not comment or len(comment.strip()) < 3:
            raise NeedsReason(
                "a false alarm needs its reason: add a comment on the transition saying why "
                "this is not an incident"
            )
        return FalseAlarm(by=who, reason=comment.strip()[:4000], channel="jira")
    if verb == "contain":
        return Containment(by=who, note=note[:4000], channel="jira")
    if verb == "close":
        summary = comment or f"Post-incident review recorded in Jira ({key})"
        return CloseIncident(by=who, summary=summary[:8000], channel="jira")
    return Action(by=who, note=note[:4000], channel="jira")


def already(view: IncidentView, verb: Verb) -> bool:
    """Whether the incident already is what the ticket's new status says (no comment then)."""
    if verb == "validate":
        return view.validated_by is not None
    if verb == "false_alarm":
        return view.false_alarm_by is not None
    if verb == "acknowledge":
        return view.acknowledged_by is not None and view.resolved_by is None
    if verb == "contain":
        return view.contained_by is not None
    if verb == "resolve":
        return view.resolved_by is not None
    return view.closed_by is not None or view.state is IncidentState.CLOSED


def hint(view: IncidentView | None, verb: Verb, statuses: TransitionMap) -> str:
    """What the agent should do next, in the ticket's own status names."""
    if view is None:
        return "The ticket's status no longer matches the incident; move it back."
    go = statuses.status_for
    if view.state is IncidentState.TRIAGE and verb not in ("validate", "false_alarm"):
        return (
            f'Move the ticket to "{go("validate")}" to validate the report, or to '
            f'"{go("false_alarm")}" with a comment saying why it is not an incident.'
        )
    if verb in ("resolve", "contain") and view.acknowledged_by is None:
        return (
            f'Move the ticket to "{go("acknowledge")}" to acknowledge the incident, then to '
            f'"{go(verb)}".'
        )
    if verb == "close" and view.resolved_by is None:
        return f'Move the ticket to "{go("resolve")}" first; the review follows, then close it.'
    if verb == "close":
        return (
            "Mark the open reporting stages done with their references (or close through "
            "Incident Desk with a reason to waive them), then move the ticket again."
        )
    return "The ticket's status no longer matches the incident; move it back."
