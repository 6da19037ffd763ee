"""Drafts of the notices an authority must receive, filled from facts and never invented.

Each applicable obligation addressed to an authority gets a draft listing the content its regime
requires (incidents/data/required_content.yaml, from the shared reference). An item is answered
only from what the workflow recorded (facts, the report's summary, the client's contacts, the
resolution note); anything else becomes a question for a person. A draft that reads complete
but guessed the number of people affected is worse than one that asks.

Items are matched to facts by the words the reference uses ("number of data subjects",
"categories", "contact point"...): an item no rule recognises is asked as it stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import cache

from pydantic import BaseModel, Field

from incidents.clocks import ClockStatus, ObligationClock
from incidents.documents import Block, Bullets, Document, Fields, Section, Text
from incidents.lifecycle import IncidentView
from incidents.policy import ClientPolicy
from incidents.regimes import Catalogue
from incidents.report import StartIncident
from incidents.report_export import Clock

# Every recipient the catalogue names is one or the other (a test keeps it so).
AUTHORITY_RECIPIENTS = frozenset(
    {
        "supervisory_authority",
        "competent_authority",
        "csirt_or_competent_authority",
        "cert_in",
        "cisa",
        "data_protection_board",
        "hhs_ocr",
        "nydfs_superintendent",
        "nydfs_if_dfs_covered_entity",
        "state_attorney_general",
        "ny_department_of_state",
        "ny_state_police",
        "sec_public_filing",
    }
)
OTHER_RECIPIENTS = frozenset(
    {
        "individuals",
        "controller",
        "covered_entity",
        "media",
        "acquirer",
        "card_brand",
        "other_organisations_that_can_mitigate",
    }
)


class DraftItem(BaseModel):
    requirement: str
    answers: list[str] = Field(default_factory=list, description="What the record says")
    questions: list[str] = Field(default_factory=list, description="What a person must answer")


class Draft(BaseModel):
    obligation_id: str
    name: str
    instrument: str
    jurisdiction: str
    recipients: list[str]
    owed_by: str
    deadlines: list[str]
    items: list[DraftItem]
    assessment_questions: list[str] = Field(
        default_factory=list, description="The rule's own open questions (does it apply?)"
    )

    @property
    def questions(self) -> list[str]:
        return [q for item in self.items for q in item.questions] + self.assessment_questions


@cache
def required_content() -> dict[str, tuple[str, ...]]:
    """Packaged data, read once per process."""
    from importlib.resources import files

    import yaml

    text = files("incidents").joinpath("data/required_content.yaml").read_text("utf-8")
    return {key: tuple(items) for key, items in (yaml.safe_load(text) or {}).items()}


class _Record:
    """What a draft may be filled from, with the phrases both fillers and tests rely on."""

    def __init__(
        self,
        view: IncidentView,
        obligation: ObligationClock,
        policy: ClientPolicy | None,
        start: StartIncident | None,
        clock: Clock,
        now: datetime,
    ) -> None:
        self.view, self.obligation, self.policy, self.start = view, obligation, policy, start
        self.clock, self.now = clock, now


Filler = Callable[[_Record], tuple[list[str], list[str]]]


def _nature(r: _Record) -> tuple[list[str], list[str]]:
    facts = r.view.facts
    kind = (facts.incident_type if facts and facts.incident_type else None) or (
        r.view.category if r.view.category != "unclassified" else None
    )
    answers, questions = [], []
    if r.start is not None:
        answers.append(f"Summary: {r.start.report.summary}")
    if kind:
        answers.append(f"Type of incident: {kind}")
    else:
        questions.append(
            "What type of incident is it (e.g. phishing, lost device, misdirected data)?"
        )
    if r.start is None:
        questions.append("Describe what happened, in plain language.")
    return answers, questions


def _people(r: _Record) -> tuple[list[str], list[str]]:
    facts = r.view.facts
    if facts is not None and facts.records_affected is not None:
        return [f"People affected: {facts.records_affected}"], []
    return [], ["Approximately how many people (data subjects) are affected?"]


def _records(r: _Record) -> tuple[list[str], list[str]]:
    # The facts count people, not records: a count of records is never inferred from it.
    return [], ["Approximately how many personal data records are concerned?"]


def _categories(r: _Record) -> tuple[list[str], list[str]]:
    facts = r.view.facts
    if facts is not None and facts.data_categories:
        return [f"Categories of data: {', '.join(facts.data_categories)}"], []
    return [], ["Which categories of personal data are involved?"]


def _contact(r: _Record) -> tuple[list[str], list[str]]:
    if r.obligation.owed_by == "client" and r.policy is not None:
        dpo = [
            c
            for c in r.policy.contacts
            if c.role and re.search(r"dpo|privacy|data protection", c.role, re.I)
        ]
        if dpo:
            return [
                f"Contact point: {c.name} ({c.role}), {c.email}"
                + (f", {c.phone}" if c.phone else "")
                for c in dpo
            ], []
    owner = "the client's" if r.obligation.owed_by == "client" else "our"
    return [], [f"Who is {owner} contact point (DPO or other: name, email, phone) for this notice?"]


def _consequences(r: _Record) -> tuple[list[str], list[str]]:
    return [], ["What are the likely consequences for the people affected?"]


def _measures(r: _Record) -> tuple[list[str], list[str]]:
    resolved = [e for e in r.view.timeline if e.event == "resolved"]
    if resolved:
        e = resolved[-1]
        return [f"Resolution recorded by {e.by} at {r.clock.utc(e.at)}: {e.detail}"], [
            "Which further measures are proposed, including mitigation for the people affected?"
        ]
    return [], ["What measures have been taken or are proposed, including mitigation?"]


def _dates(r: _Record) -> tuple[list[str], list[str]]:
    facts = r.view.facts
    aware = facts.aware_at if facts else r.view.aware_at
    answers = [f"Became aware: {r.clock.utc(aware)}"]
    if facts is not None:
        for name, at in sorted(facts.events.items()):
            answers.append(f"{name}: {r.clock.utc(at)}")
    return answers, ["When did the incident itself start, and has it ended (date or period)?"]


def _delay(r: _Record) -> tuple[list[str], list[str]]:
    due = [s.due_at for s in r.obligation.stages if s.due_at and s.status != ClockStatus.DONE]
    if any(d <= r.now for d in due):
        return [], ["The deadline has passed: what are the reasons for the delay?"]
    return ["Not late yet: no reasons needed if sent before the deadline."], []


def _where(r: _Record) -> tuple[list[str], list[str]]:
    facts = r.view.facts
    if facts is not None and facts.jurisdictions:
        return [f"Jurisdictions of the people affected: {', '.join(facts.jurisdictions)}"], []
    return [], ["Where do the people affected live (countries or states)?"]


_RULES: tuple[tuple[re.Pattern[str], Filler], ...] = (
    (re.compile(r"nature|descri|what happened|summary", re.I), _nature),
    (re.compile(r"number of (data subjects|people|individuals|persons|principals)|people and records|number of affected|individuals affected|how many", re.I), _people),
    (re.compile(r"records", re.I), _records),
    (re.compile(r"categor|types? of (unsecured )?(phi|data|personal|information)", re.I), _categories),
    (re.compile(r"contact|dpo", re.I), _contact),
    (re.compile(r"consequence|harm", re.I), _consequences),
    (re.compile(r"measure|mitigat|remed|steps", re.I), _measures),
    (re.compile(r"\bdate|\btime of|when ", re.I), _dates),
    (re.compile(r"delay", re.I), _delay),
    (re.compile(r"jurisdiction|location|residents|states? affected|cross-border", re.I), _where),
)  # fmt: skip


def _item(requirement: str, record: _Record) -> DraftItem:
    answers: list[str] = []
    questions: list[str] = []
    for pattern, filler in _RULES:
        if pattern.search(requirement):
            found, asked = filler(record)
            answers += [a for a in found if a not in answers]
            questions += [q for q in asked if q not in questions]
    if not answers and not questions:
        questions.append(f"Provide: {requirement}")
    return DraftItem(requirement=requirement, answers=answers, questions=questions)


def is_for_authority(recipients: tuple[str, ...]) -> bool:
    return bool(AUTHORITY_RECIPIENTS & set(recipients))


def drafts_for(
    view: IncidentView,
    *,
    catalogue: Catalogue,
    now: datetime,
    policy: ClientPolicy | None = None,
    start: StartIncident | None = None,
) -> list[Draft]:
    """A draft per in-force obligation addressed to an authority, in the workflow's order."""
    clock = Clock(policy.timezone if policy else "UTC")
    content = required_content()
    drafts = []
    for obligation in view.obligations:
        if not obligation.in_force:
            continue
        try:
            regime = catalogue.get(obligation.id)
        except KeyError:
            continue
        if not is_for_authority(regime.recipient):
            continue
        record = _Record(view, obligation, policy, start, clock, now)
        requirements = content.get(obligation.id) or (
            "The content the regulator's form or guidance requires",
        )
        deadlines = [
            f"{s.stage}: due {clock.utc(s.due_at)} ({clock.local(s.due_at)})"
            if s.due_at
            else f"{s.stage}: {s.status} (runs from {s.trigger})"
            for s in obligation.stages
        ]
        drafts.append(
            Draft(
                obligation_id=obligation.id,
                name=obligation.name,
                instrument=obligation.instrument,
                jurisdiction=obligation.jurisdiction,
                recipients=list(regime.recipient),
                owed_by=obligation.owed_by,
                deadlines=deadlines,
                items=[_item(r, record) for r in requirements],
                assessment_questions=list(obligation.needs_assessment),
            )
        )
    return drafts


def drafts_document(
    view: IncidentView, drafts: list[Draft], *, now: datetime, policy: ClientPolicy | None = None
) -> Document:
    clock = Clock(policy.timezone if policy else "UTC")
    sections: list[Section] = []
    if not drafts:
        sections.append(
            Section(
                "No notice to an authority",
                [Text("None of the incident's obligations in force is addressed to an authority.")],
            )
        )
    for draft in drafts:
        who = (
            "the client (controller): this draft is for the client to complete and file"
            if draft.owed_by == "client"
            else "us: complete, review and file"
        )
        blocks: list[Block] = [
            Fields(
                [
                    ("Obligation", f"{draft.name} ({draft.obligation_id})"),
                    ("Instrument", draft.instrument),
                    ("To", ", ".join(draft.recipients)),
                    ("Owed by", who),
                    ("Deadlines", "\n".join(draft.deadlines)),
                ]
            )
        ]
        for number, item in enumerate(draft.items, 1):
            lines = [*item.answers, *(f"QUESTION: {q}" for q in item.questions)]
            blocks.append(Fields([(f"{number}. {item.requirement}", "\n".join(lines))]))
        questions = draft.questions
        if questions:
            blocks += [Text("Questions to answer before sending:"), Bullets(questions)]
        sections.append(Section(f"Draft: {draft.name}", blocks))
    return Document(
        title=f"Notification drafts for incident {view.incident_id}",
        subtitle=(
            f"{len(drafts)} draft(s) - generated {clock.utc(now)} - filled only from the "
            "incident's record; every missing item is a question"
        ),
        sections=sections,
        footer=(
            "Drafts, not filings: review every item, answer every question, and check the "
            "regulator's current form. Content requirements are summarised from reference "
            "data compiled from public sources; not legal advice."
        ),
    )
