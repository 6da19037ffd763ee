"""Standard operating procedures as data: one checklist per incident type (policies/sops/<type>.yaml).

An SOP tells the agent who takes the first report what to do with the incident in front of them:
the questions to ask the reporter, the containment steps they may take at once, the steps they
must never take, the evidence to attach, and which of those items are required before the
incident may move on. Agent-facing text is given per language (`en` always, `es` and `tl` for
the Bogotá and Manila floors); a missing translation falls back to English and the resolved
checklist says which items did, so nobody mistakes an English line for a finished translation.

A client policy may add to or override an SOP (`sop_overrides` keyed by incident type): an item
with the id of a base item replaces it in place, new ids are appended to their section, `remove`
drops base items, and the client's own hotlines are listed after the BPO's.

Like the client policies, every file is validated before use and a bad one is reported with its
path and the field at fault. Loading reads files; everything else here is pure.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incidents.facts import DataCategory
from incidents.report import Severity
from incidents.taxonomy import IncidentType
from incidents.yaml_files import load_model

if TYPE_CHECKING:  # policy.py imports this module for its `sop_overrides` field
    from incidents.policy import ClientPolicy

__all__ = [
    "AnswerFact",
    "AnswerRule",
    "Gate",
    "Hotline",
    "Language",
    "LocalText",
    "OverdueLimits",
    "ResolvedChecklist",
    "ResolvedItem",
    "Section",
    "Sop",
    "SopError",
    "SopItem",
    "SopOverride",
    "checklist_for",
    "load_sop",
    "load_sops",
    "merge",
    "resolve",
]

ITEM_ID = r"^[a-z0-9][a-z0-9_]*$"


class SopError(ValueError):
    """An SOP file or override that cannot be used, with the file and field named."""


class Language(StrEnum):
    EN = "en"
    ES = "es"
    TL = "tl"


class Section(StrEnum):
    """The parts of a checklist, in the order an agent works through them."""

    QUESTIONS = "questions"
    CONTAINMENT = "containment"
    FORBIDDEN = "forbidden"
    EVIDENCE = "evidence"


class Gate(StrEnum):
    """The lifecycle steps a required item can hold back, in lifecycle order.

    Containment is the default: declaring an incident contained says the first response is
    done, and the intake questions and containment steps are that first response. Validation is
    not a gate: the checklist is posted when the incident is classified, after validation, and
    a step must never wait on a list the agent has not been shown.
    """

    CONTAIN = "contain"
    RESOLVE = "resolve"
    CLOSE = "close"

    @property
    def order(self) -> int:
        return list(Gate).index(self)


class AnswerFact(StrEnum):
    """An answer read as the value of a fact: a count of people, or data categories."""

    RECORDS_AFFECTED = "records_affected"
    DATA_CATEGORIES = "data_categories"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerEffect(_Model):
    """What a yes (or a no) tells the classification."""

    data_categories: tuple[DataCategory, ...] = Field(
        (), description="Data categories the answer shows are involved (added to the facts)"
    )
    severity_at_least: Severity | None = Field(
        None, description="The severity the answer raises the incident to; never lowers it"
    )

    @model_validator(mode="after")
    def _says_something(self) -> AnswerEffect:
        if not self.data_categories and self.severity_at_least is None:
            raise ValueError("give data_categories or severity_at_least")
        return self


class AnswerRule(_Model):
    """A yes/no question whose answer changes the facts (`when_yes`, `when_no`)."""

    when_yes: AnswerEffect | None = None
    when_no: AnswerEffect | None = None

    @model_validator(mode="after")
    def _has_effect(self) -> AnswerRule:
        if self.when_yes is None and self.when_no is None:
            raise ValueError("give when_yes or when_no")
        return self


class OverdueLimits(_Model):
    """How long a required item may stay open after the checklist is posted: then the assignee
    is reminded in Jira, and later the team lead is paged (at low urgency)."""

    remind_after: timedelta = timedelta(hours=1)
    lead_after: timedelta = timedelta(hours=4)

    @model_validator(mode="after")
    def _ordered(self) -> OverdueLimits:
        if self.remind_after <= timedelta(0):
            raise ValueError("remind_after must be a positive duration")
        if self.lead_after <= self.remind_after:
            raise ValueError("lead_after must be later than remind_after")
        return self


class LocalText(_Model):
    """One agent-facing sentence per language; English is the one that must always be there."""

    en: str = Field(min_length=1, max_length=500)
    es: str | None = Field(None, min_length=1, max_length=500)
    tl: str | None = Field(None, min_length=1, max_length=500)

    def get(self, language: Language) -> str | None:
        return getattr(self, language.value)


class SopItem(_Model):
    id: str = Field(pattern=ITEM_ID, max_length=64)
    text: LocalText
    required: bool = Field(
        False, description="Must be done (or answered) before the incident may move on"
    )
    required_before: Gate | None = Field(
        None, description="The step a required item holds back (default: contain)"
    )
    fact: AnswerFact | AnswerRule | None = Field(
        None, description="The fact the answer sets (intake questions only)"
    )

    @model_validator(mode="after")
    def _gate_needs_required(self) -> SopItem:
        if self.required_before is not None and not self.required:
            raise ValueError("required_before: only a required item can hold a step back")
        return self

    @property
    def gate(self) -> Gate | None:
        return (self.required_before or Gate.CONTAIN) if self.required else None


class ForbiddenItem(_Model):
    """Something the agent must not do; it is read and heeded, never ticked off as work."""

    id: str = Field(pattern=ITEM_ID, max_length=64)
    text: LocalText


class Hotline(_Model):
    name: LocalText
    number: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    when: LocalText | None = Field(None, description="When to call it")


def _duplicate_ids(sections: dict[str, tuple[SopItem | ForbiddenItem, ...]]) -> list[str]:
    seen: set[str] = set()
    duplicates: list[str] = []
    for items in sections.values():
        for item in items:
            if item.id in seen:
                duplicates.append(item.id)
            seen.add(item.id)
    return duplicates


class _Sections(_Model):
    questions: tuple[SopItem, ...] = ()
    containment: tuple[SopItem, ...] = ()
    forbidden: tuple[ForbiddenItem, ...] = ()
    evidence: tuple[SopItem, ...] = ()
    hotlines: tuple[Hotline, ...] = ()

    def sections(self) -> dict[str, tuple[SopItem | ForbiddenItem, ...]]:
        return {s.value: getattr(self, s.value) for s in Section}

    @model_validator(mode="after")
    def _unique_ids(self) -> _Sections:
        duplicates = _duplicate_ids(self.sections())
        if duplicates:
            raise ValueError(f"item ids must be unique: {', '.join(sorted(set(duplicates)))}")
        answered = [i.id for i in (*self.containment, *self.evidence) if i.fact is not None]
        if answered:
            raise ValueError(f"fact: only intake questions have answers ({', '.join(answered)})")
        return self


class Sop(_Sections):
    """The BPO's checklist for one incident type."""

    incident_type: IncidentType
    title: LocalText
    overdue: OverdueLimits = Field(default_factory=OverdueLimits)

    @model_validator(mode="after")
    def _has_work(self) -> Sop:
        if not self.questions:
            raise ValueError("questions: at least one intake question is needed")
        return self


class SopOverride(_Sections):
    """A client's additions and replacements for one type's SOP (`sop_overrides.<type>`)."""

    remove: tuple[str, ...] = Field((), description="Ids of base items this client does not use")


class ResolvedItem(_Model):
    id: str
    section: Section
    text: str
    required: bool
    gate: Gate | None = Field(None, description="The step it holds back, when required")
    fact: AnswerFact | AnswerRule | None = None
    language: Language = Field(description="The language `text` is in")
    source: str = Field(description="'sop' or 'client:<id>'")


class ResolvedHotline(_Model):
    name: str
    number: str
    when: str | None
    source: str


class ResolvedChecklist(_Model):
    """An SOP in one language, with a client's overrides applied: what an agent is shown."""

    incident_type: IncidentType
    title: str
    language: Language
    client: str | None
    items: tuple[ResolvedItem, ...]
    hotlines: tuple[ResolvedHotline, ...]
    fallbacks: tuple[str, ...] = Field(
        description="Where the requested language was missing and English was used instead"
    )
    overdue: OverdueLimits = Field(default_factory=OverdueLimits)

    def section(self, section: Section) -> tuple[ResolvedItem, ...]:
        return tuple(i for i in self.items if i.section == section)

    @property
    def required_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.required)


def load_sop(path: Path) -> Sop:
    sop = load_model(path, Sop, SopError)
    if sop.incident_type.value != path.stem:
        raise SopError(
            f"{path}: incident_type: '{sop.incident_type.value}' must match the file name "
            f"'{path.stem}'"
        )
    return sop


def load_sops(directory: Path) -> dict[IncidentType, Sop]:
    """Every SOP under `directory` (policies/sops), one per incident type, none missing.

    All problems are gathered into one error so that `sop check` names every bad file at once.
    """
    problems: list[str] = []
    sops: dict[IncidentType, Sop] = {}
    known = {t.value for t in IncidentType}
    for path in sorted(directory.glob("*.yaml")):
        if path.stem not in known:
            problems.append(
                f"{path}: not an incident type (file names are the types: {', '.join(sorted(known))})"
            )
            continue
        try:
            sop = load_sop(path)
        except SopError as exc:
            problems.append(str(exc))
        else:
            sops[sop.incident_type] = sop
    bad_files = {p.split(":", 1)[0] for p in problems}
    missing = [
        t.value
        for t in IncidentType
        if t not in sops and str(directory / f"{t.value}.yaml") not in bad_files
    ]
    if missing:
        problems.append(
            f"{directory}: incident_type: no SOP for {', '.join(missing)} "
            f"(expected {', '.join(f'{m}.yaml' for m in missing)})"
        )
    if problems:
        raise SopError("\n".join(problems))
    return sops


def merge(sop: Sop, override: SopOverride, source: str) -> tuple[Sop, dict[str, str]]:
    """The SOP with a client's override applied, and each changed or added item's source.

    `source` names the override in errors and in the result (e.g. 'client:harbour-pine').
    An override id that is already a base item in another section, or a `remove` of an id the
    SOP does not have, is refused: both are almost always a typo that would silently leave the
    BPO's item in force.
    """
    where = f"{source}: sop_overrides.{sop.incident_type.value}"
    base_section = {item.id: name for name, items in sop.sections().items() for item in items}
    problems: list[str] = []
    for index, item_id in enumerate(override.remove):
        if item_id not in base_section:
            problems.append(f"{where}.remove.{index}: no item '{item_id}' in the SOP")
    for name, items in override.sections().items():
        for index, item in enumerate(items):
            if item.id in base_section and base_section[item.id] != name:
                problems.append(
                    f"{where}.{name}.{index}.id: '{item.id}' is a {base_section[item.id]} item "
                    f"of the SOP; override it there"
                )
            if item.id in override.remove:
                problems.append(f"{where}.{name}.{index}.id: '{item.id}' is also in remove")
    if problems:
        raise SopError("; ".join(problems))

    sources: dict[str, str] = {}
    merged: dict[str, list[SopItem | ForbiddenItem]] = {}
    for name, base_items in sop.sections().items():
        extra = {i.id: i for i in override.sections()[name]}
        result: list[SopItem | ForbiddenItem] = []
        for item in base_items:
            if item.id in override.remove:
                continue
            if item.id in extra:
                result.append(extra.pop(item.id))
                sources[item.id] = source
            else:
                result.append(item)
        for item in extra.values():
            result.append(item)
            sources[item.id] = source
        merged[name] = result
    updated = sop.model_copy(
        update={**{k: tuple(v) for k, v in merged.items()}, "hotlines": sop.hotlines}
    )
    return updated, sources


def resolve(
    sop: Sop,
    language: Language = Language.EN,
    *,
    client: str | None = None,
    sources: dict[str, str] | None = None,
    client_hotlines: tuple[Hotline, ...] = (),
) -> ResolvedChecklist:
    """The checklist in `language`, English where a text is missing (recorded in `fallbacks`)."""
    sources = sources or {}
    fallbacks: list[str] = []

    def text(value: LocalText, where: str) -> tuple[str, Language]:
        found = value.get(language)
        if found is not None:
            return found, language
        fallbacks.append(where)
        return value.en, Language.EN

    title, _ = text(sop.title, "title")
    items: list[ResolvedItem] = []
    for section in Section:
        for item in getattr(sop, section.value):
            body, used = text(item.text, f"{section.value}.{item.id}")
            items.append(
                ResolvedItem(
                    id=item.id,
                    section=section,
                    text=body,
                    required=getattr(item, "required", False),
                    gate=getattr(item, "gate", None),
                    fact=getattr(item, "fact", None),
                    language=used,
                    source=sources.get(item.id, "sop"),
                )
            )
    hotlines: list[ResolvedHotline] = []
    client_source = f"client:{client}" if client else "client"
    for index, (hotline, origin) in enumerate(
        [(h, "sop") for h in sop.hotlines] + [(h, client_source) for h in client_hotlines]
    ):
        name, _ = text(hotline.name, f"hotlines.{index}.name")
        when = text(hotline.when, f"hotlines.{index}.when")[0] if hotline.when else None
        hotlines.append(ResolvedHotline(name=name, number=hotline.number, when=when, source=origin))
    return ResolvedChecklist(
        incident_type=sop.incident_type,
        title=title,
        language=language,
        client=client,
        items=tuple(items),
        hotlines=tuple(hotlines),
        fallbacks=tuple(fallbacks),
        overdue=sop.overdue,
    )


def checklist_for(
    sops: dict[IncidentType, Sop],
    incident_type: IncidentType,
    policy: ClientPolicy | None = None,
    language: Language = Language.EN,
) -> ResolvedChecklist:
    """What the agent sees for an incident of `incident_type` at `policy`'s client."""
    sop = sops[incident_type]
    if policy is None:
        return resolve(sop, language)
    source = f"client:{policy.id}"
    override = policy.sop_overrides.get(incident_type)
    if override is None:
        return resolve(sop, language, client=policy.id)
    merged, sources = merge(sop, override, source)
    return resolve(
        merged,
        language,
        client=policy.id,
        sources=sources,
        client_hotlines=override.hotlines,
    )
