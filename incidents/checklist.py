"""An incident's SOP checklist as it is worked: which items are done, by whom, with what answer.

The resolved checklist (incidents/sop.py) is what the agent is shown; this is its progress, kept
in the incident's view so the timeline, the gates, the metrics and the report all read the same
record. Pure: every instant comes in as an argument.

Ids are the SOP's item ids, the same in every language. On reclassification only an id both
checklists share keeps its answer: a BPO that wants an answer to survive a common
reclassification (phishing ↔ smishing) gives both SOPs' items the same id (docs/sops.md).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from incidents.clocks import FactsUpdate
from incidents.facts import DataCategory, IncidentFacts
from incidents.report import Severity
from incidents.sop import (
    ITEM_ID,
    AnswerFact,
    AnswerRule,
    Gate,
    Language,
    ResolvedChecklist,
    Section,
)
from incidents.taxonomy import IncidentType

__all__ = [
    "ChecklistItem",
    "ChecklistState",
    "ChecklistTick",
    "TickFormError",
    "TickedItem",
    "fact_update",
    "parse_done_comment",
    "read_answer",
]

YES = frozenset({"yes", "y", "true", "sí", "si", "oo", "opo"})
NO = frozenset({"no", "n", "false", "hindi"})
# The words that tick an item in a Jira comment, in the floors' languages.
DONE_WORDS = ("done", "hecho", "tapos")
_DONE_LINE = re.compile(
    rf"^\s*(?:{'|'.join(DONE_WORDS)})\s+([A-Za-z0-9_]+)\s*(?::\s*(.*?))?\s*$", re.IGNORECASE
)


class TickFormError(ValueError):
    """A comment that starts like a tick but cannot be read; the message says the form."""


class TickedItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: str = Field(pattern=ITEM_ID, max_length=64)
    answer: str | None = Field(None, min_length=1, max_length=500)


class ChecklistTick(BaseModel):
    """Items an agent reports done, from Jira (a `done <id>: <answer>` comment), the API or CLI."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    by: str = Field(min_length=1, max_length=200)
    channel: str = Field("api", pattern=r"^(api|cli|jira)$")
    items: tuple[TickedItem, ...] = Field(min_length=1, max_length=50)


class ChecklistItem(BaseModel):
    id: str
    section: Section
    text: str
    required: bool
    gate: Gate | None = None
    fact: AnswerFact | AnswerRule | None = None
    done_by: str | None = None
    done_at: datetime | None = None
    answer: str | None = None
    channel: str | None = None

    @property
    def done(self) -> bool:
        return self.done_at is not None

    @property
    def tickable(self) -> bool:
        """Forbidden actions are read and heeded, never ticked off."""
        return self.section is not Section.FORBIDDEN


class ChecklistState(BaseModel):
    """The checklist in force for the incident's current type, and how far it has got."""

    incident_type: IncidentType
    title: str
    language: Language
    client: str | None = None
    items: list[ChecklistItem]
    posted_at: datetime
    first_posted_at: datetime = Field(description="When the first checklist was posted")
    completed_at: datetime | None = Field(None, description="When the last required item was done")
    remind_after: timedelta
    lead_after: timedelta
    reminded_at: datetime | None = None
    lead_paged_at: datetime | None = None
    replaced: list[IncidentType] = Field(
        default_factory=list, description="Types whose checklists this one replaced, oldest first"
    )
    fallbacks: list[str] = Field(default_factory=list)

    @classmethod
    def posted(cls, checklist: ResolvedChecklist, now: datetime) -> ChecklistState:
        return cls(
            incident_type=checklist.incident_type,
            title=checklist.title,
            language=checklist.language,
            client=checklist.client,
            items=[
                ChecklistItem(
                    id=i.id,
                    section=i.section,
                    text=i.text,
                    required=i.required,
                    gate=i.gate,
                    fact=i.fact,
                )
                for i in checklist.items
            ],
            posted_at=now,
            first_posted_at=now,
            remind_after=checklist.overdue.remind_after,
            lead_after=checklist.overdue.lead_after,
            fallbacks=list(checklist.fallbacks),
        )

    def swapped(
        self, checklist: ResolvedChecklist, now: datetime
    ) -> tuple[ChecklistState, list[str]]:
        """The new type's checklist carrying the answers to items both share, and their ids.

        The overdue clock starts again: the new items were only shown now.
        """
        new = ChecklistState.posted(checklist, now)
        done = {i.id: i for i in self.items if i.done}
        kept: list[str] = []
        for item in new.items:
            old = done.get(item.id)
            if old is not None and item.tickable:
                item.done_by, item.done_at = old.done_by, old.done_at
                item.answer, item.channel = old.answer, old.channel
                kept.append(item.id)
        new.first_posted_at = self.first_posted_at
        new.replaced = [*self.replaced, self.incident_type]
        if new.complete:
            new.completed_at = now
        return new, kept

    def item(self, item_id: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    @property
    def required(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.required]

    @property
    def open_required(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.required and not i.done]

    @property
    def complete(self) -> bool:
        return not self.open_required

    def missing(self, gate: Gate) -> list[ChecklistItem]:
        """Required items still open that hold back `gate`.

        Each item holds back the step it names and no other: containment is a step an
        incident may skip (resolved at once), and an item meant to hold back resolution or
        closing says so (`required_before: resolve`). Items left open past their step stay
        overdue: the reminders and the team lead's page keep chasing them.
        """
        return [i for i in self.open_required if i.gate is gate]

    def check_gate(self, gate: Gate) -> None:
        """ValueError naming what is missing, for the validator of the step."""
        missing = self.missing(gate)
        if not missing:
            return
        shown = "; ".join(f"{i.id} ({i.text})" for i in missing)
        raise ValueError(
            f"the {self.incident_type.value} checklist has required items still open before "
            f"{gate.value}: {shown}. Tick each in Jira with a comment 'done <id>: <answer>', "
            "or with the API or `incident-desk checklist tick`, then try again"
        )

    def check_tick(self, tick: ChecklistTick) -> None:
        """ValueError when the tick cannot be taken: an unknown or forbidden item, an answer a
        fact needs but cannot read, or nothing new."""
        problems: list[str] = []
        new = False
        for ticked in tick.items:
            item = self.item(ticked.id)
            if item is None:
                known = ", ".join(i.id for i in self.items if i.tickable)
                problems.append(
                    f"'{ticked.id}' is not on the {self.incident_type.value} checklist "
                    f"(its items: {known})"
                )
                continue
            if not item.tickable:
                problems.append(f"'{item.id}' is something never to do; it is not ticked off")
                continue
            if item.fact is not None:
                if ticked.answer is None:
                    problems.append(f"'{item.id}' needs the reporter's answer: done {item.id}: …")
                    continue
                try:
                    read_answer(item.fact, ticked.answer)
                except ValueError as exc:
                    problems.append(f"'{item.id}': {exc}")
                    continue
            if not item.done or (ticked.answer is not None and ticked.answer != item.answer):
                new = True
        if problems:
            raise ValueError("; ".join(problems))
        if not new:
            ids = ", ".join(t.id for t in tick.items)
            raise ValueError(f"already done with the same answer: {ids}")

    def apply(self, tick: ChecklistTick, now: datetime) -> list[ChecklistItem]:
        """Mark the items done (a later answer corrects an earlier one); the items changed."""
        changed: list[ChecklistItem] = []
        for ticked in tick.items:
            item = self.item(ticked.id)
            assert item is not None
            if item.done and (ticked.answer is None or ticked.answer == item.answer):
                continue
            item.done_by, item.done_at, item.channel = tick.by, now, tick.channel
            if ticked.answer is not None:
                item.answer = ticked.answer
            changed.append(item)
        if self.completed_at is None and self.complete:
            self.completed_at = now
        return changed


def read_answer(fact: AnswerFact | AnswerRule, answer: str) -> object:
    """The value an answer gives its fact, or ValueError saying what answer is expected."""
    text = answer.strip()
    if isinstance(fact, AnswerRule):
        word = text.split()[0].strip(".,;!").casefold() if text else ""
        if word in YES:
            return True
        if word in NO:
            return False
        raise ValueError(f"answer yes or no (sí/no, oo/hindi), not '{text}'")
    if fact is AnswerFact.RECORDS_AFFECTED:
        number = text.replace(",", "").replace("_", "").replace(" ", "")
        if not number.isdigit():
            raise ValueError(f"answer with the number of people affected, not '{text}'")
        return int(number)
    names = [re.sub(r"[\s-]+", "_", part.strip().casefold()) for part in re.split(r"[,;/]", text)]
    known = {c.value for c in DataCategory}
    wrong = [n for n in names if n and n not in known]
    if wrong or not any(names):
        raise ValueError(f"answer with data categories ({', '.join(sorted(known))}), not '{text}'")
    return tuple(DataCategory(n) for n in names if n)


def _severity_rank(severity: str) -> int:
    return int(severity.removeprefix("SEV"))


def fact_update(
    item: ChecklistItem, by: str, facts: IncidentFacts | None, severity: str
) -> FactsUpdate | None:
    """The facts update an answered item amounts to, or None when it changes nothing.

    Data categories are added to what is known (a "yes, my password" does not make the
    customer data the caller mentioned earlier disappear); a severity is only ever raised.
    """
    if item.fact is None or item.answer is None:
        return None
    value = read_answer(item.fact, item.answer)
    reason = f"checklist: {item.id} answered '{item.answer}'"
    known = tuple(facts.data_categories) if facts is not None else ()
    changes: dict[str, object] = {}
    if isinstance(item.fact, AnswerRule):
        effect = item.fact.when_yes if value else item.fact.when_no
        if effect is None:
            return None
        added = tuple(c for c in effect.data_categories if c not in known)
        if added:
            changes["data_categories"] = (*known, *added)
        wanted = effect.severity_at_least
        if wanted is not None and _severity_rank(wanted) < _severity_rank(severity):
            changes["severity"] = Severity(wanted)
    elif item.fact is AnswerFact.RECORDS_AFFECTED:
        if facts is None or facts.records_affected != value:
            changes["records_affected"] = value
    else:
        assert isinstance(value, tuple)
        added = tuple(c for c in value if c not in known)
        if added:
            changes["data_categories"] = (*known, *added)
    if not changes:
        return None
    return FactsUpdate.model_validate({"by": by, "reason": reason, **changes})


def parse_done_comment(body: str) -> list[TickedItem] | None:
    """The items a Jira comment ticks (`done <id>` or `done <id>: <answer>`, one per line), or
    None when the comment is ordinary talk. A comment that starts like a tick but has a line
    that is not one is refused, so a typo is explained rather than lost in the timeline."""
    lines = [line for line in body.strip().splitlines() if line.strip()]
    if not lines or not lines[0].strip().casefold().startswith(tuple(w + " " for w in DONE_WORDS)):
        return None
    ticked: list[TickedItem] = []
    for line in lines:
        found = _DONE_LINE.match(line)
        if found is None:
            raise TickFormError(
                f"'{line.strip()[:80]}' is not a tick; write one per line: "
                "done <item-id>  or  done <item-id>: <answer>"
            )
        item_id, answer = found.group(1).casefold(), found.group(2) or None
        try:
            ticked.append(TickedItem(id=item_id, answer=answer))
        except ValueError as exc:
            raise TickFormError(f"'{line.strip()[:80]}': {exc}") from None
    return ticked
