"""Who must be told, by whom, and by when: the catalogue applied to one incident's facts.

Every catalogue row ends up in exactly one of two lists. `obligations` holds those that apply,
each with its stages and due instants, and with the questions a person must still answer
(`needs_assessment`): a threshold like "likely to result in a risk" is never silently assumed
either way. `not_applicable` holds the rest, each with the fact that excluded it, so a reviewer
can see that a regime was considered rather than forgotten.

A stage is `due` once its trigger's instant is known, `pending_trigger` before (a classification,
a materiality decision or a submitted report not yet recorded), and `no_fixed_deadline` where the
law sets only a standard such as "without undue delay".

Pure: time comes in through the facts, the catalogue and the policy are arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer

from incidents.calendars import (
    HolidayCalendar,
    HolidayTables,
    Period,
    PeriodField,
    build_holiday_table,
    due_instant,
    end_of_calendar_year,
)
from incidents.facts import DataCategory, IncidentFacts, Role, Sector, Trigger
from incidents.jurisdictions import country_of, tags
from incidents.policy import ClientPolicy
from incidents.regimes import (
    Answered,
    Catalogue,
    Party,
    Regime,
    Residents,
    Source,
    StageRule,
    Status,
    Territory,
    TypeFlag,
    load_catalogue,
)
from incidents.taxonomy import TAXONOMY, IncidentType

# An instant written with its offset ("+00:00"), which is what the CLI contract promises.
Instant = Annotated[
    AwareDatetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")
]


class OwedBy(StrEnum):
    US = "us"
    CLIENT = "client"


class StageStatus(StrEnum):
    DUE = "due"
    PENDING_TRIGGER = "pending_trigger"
    NO_FIXED_DEADLINE = "no_fixed_deadline"


class StageDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str
    due_at: Instant | None
    status: StageStatus
    trigger: Trigger
    deadline: PeriodField | None
    business_days: bool = False
    due_local: Instant | None = None
    not_later_than: Instant | None = None
    notes: str = ""


class Obligation(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    owed_by: OwedBy
    recipient: tuple[str, ...]
    stages: tuple[StageDeadline, ...]
    needs_assessment: tuple[str, ...] = ()
    jurisdiction: str
    instrument: str
    legal_status: str
    verification: str
    deadline_text: str
    sources: tuple[Source, ...]

    def first_due(self) -> datetime | None:
        return min((s.due_at for s in self.stages if s.due_at is not None), default=None)


class NotApplicable(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    reason: str


class NextDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    obligation_id: str
    stage: str
    owed_by: OwedBy
    due_at: Instant


class ObligationReport(BaseModel):
    """The answer for one incident; what `incident-desk deadlines` prints."""

    model_config = ConfigDict(frozen=True)

    obligations: tuple[Obligation, ...]
    not_applicable: tuple[NotApplicable, ...]

    def due_stages(self) -> Iterator[tuple[Obligation, StageDeadline]]:
        """Every stage with a due instant, earliest first: the timers a workflow arms."""
        pairs = [(o, s) for o in self.obligations for s in o.stages if s.due_at is not None]
        yield from sorted(pairs, key=lambda p: (p[1].due_at, p[0].id, p[1].stage))

    def next_deadline(self, after: datetime | None = None) -> NextDeadline | None:
        """The earliest due instant (after `after`, when given): the NextDeadline attribute."""
        for obligation, stage in self.due_stages():
            assert stage.due_at is not None
            if after is None or stage.due_at > after:
                return NextDeadline(
                    obligation_id=obligation.id,
                    stage=stage.stage,
                    owed_by=obligation.owed_by,
                    due_at=stage.due_at,
                )
        return None

    def ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.obligations)


@dataclass(frozen=True)
class _Situation:
    facts: IncidentFacts
    role: Role
    people: frozenset[str]
    sites: frozenset[str]
    categories: frozenset[DataCategory]
    sectors: frozenset[Sector]
    policy: ClientPolicy | None
    holidays: HolidayTables | None


class _Excluded(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def effective_facts(facts: IncidentFacts, policy: ClientPolicy | None) -> IncidentFacts:
    """The incident's facts with the client policy's defaults filled in.

    The policy describes the client (sectors, our role) and its usual footprint (customers'
    jurisdictions, our sites); the incident's own facts win where it gives them, because one
    incident may touch only part of that footprint.
    """
    if policy is None:
        if facts.client is not None:
            raise ValueError(f"facts name client {facts.client!r} but no policy was given")
        return facts
    if facts.client not in (None, policy.id):
        raise ValueError(f"facts name client {facts.client!r} but the policy is {policy.id!r}")
    return facts.model_copy(
        update={
            "client": policy.id,
            "role": facts.role or policy.role,
            "jurisdictions": facts.jurisdictions or tuple(sorted(set(policy.jurisdictions))),
            "sites": facts.sites or tuple(sorted(set(policy.sites))),
            "sectors": tuple(sorted(set(facts.sectors) | set(policy.sectors))),
        }
    )


def obligations_for(
    facts: IncidentFacts,
    policy: ClientPolicy | None = None,
    catalogue: Catalogue | None = None,
    holidays: HolidayTables | None = None,
) -> ObligationReport:
    """Every catalogue row (and the client's contract) judged against the facts.

    Workflow code passes the catalogue and the holiday tables it got from an activity
    (`load_catalogue()`, `holiday_tables_for(...)`): both are then part of its history, so a
    replay computes the same deadlines even after a catalogue or `holidays` upgrade. Outside
    workflows both may be left out and are loaded here.
    """
    catalogue = catalogue or load_catalogue()
    merged = effective_facts(facts, policy)
    situation = _Situation(
        facts=merged,
        role=merged.role or Role.PROCESSOR,
        people=tags(merged.jurisdictions),
        sites=tags(merged.sites),
        categories=merged.categories(),
        sectors=frozenset(merged.sectors),
        policy=policy,
        holidays=holidays,
    )
    due_time = catalogue.meta.business_day_due_time
    applicable: list[Obligation] = []
    excluded: list[NotApplicable] = []
    for regime in catalogue.obligations:
        try:
            applicable.append(_judge(regime, situation, due_time))
        except _Excluded as exc:
            excluded.append(NotApplicable(id=regime.id, reason=exc.reason))
    if policy is not None:
        try:
            applicable.append(_contract(policy, situation, due_time))
        except _Excluded as exc:
            excluded.append(NotApplicable(id=_contract_id(policy), reason=exc.reason))
    far = datetime.max.replace(tzinfo=UTC)
    applicable.sort(key=lambda o: (o.first_due() or far, o.id))
    excluded.sort(key=lambda n: n.id)
    return ObligationReport(obligations=tuple(applicable), not_applicable=tuple(excluded))


# --- one row ---------------------------------------------------------------------------------


def _judge(regime: Regime, s: _Situation, due_time: time) -> Obligation:
    tz = ZoneInfo(regime.timezone)
    calendar = regime.calendar
    if regime.calendar_from_acquirer and s.policy and s.policy.card_acquirer:
        tz = ZoneInfo(s.policy.card_acquirer.timezone)
        calendar = HolidayCalendar(country=s.policy.card_acquirer.country)

    _check_status(regime, s, tz)
    owed_by = _owed_by(regime.party, s.role)
    if regime.territory is not None:
        _check_territory(regime.territory, s, owed_by)
    questions = _check_requirements(regime, s)
    questions += [q.ask for q in regime.questions if not _answered(q.unless, s)]
    stages = tuple(_stage(rule, s, tz, calendar, due_time) for rule in regime.stages)
    return Obligation(
        id=regime.id,
        name=regime.name,
        owed_by=owed_by,
        recipient=regime.recipient or ("internal",),
        stages=stages,
        needs_assessment=tuple(questions),
        jurisdiction=regime.jurisdiction,
        instrument=regime.instrument,
        legal_status=regime.status.value,
        verification=regime.verification.value,
        deadline_text=regime.deadline_text,
        sources=regime.sources,
    )


def _check_status(regime: Regime, s: _Situation, tz: ZoneInfo) -> None:
    if regime.status is Status.PROPOSED:
        raise _Excluded(
            "proposed rule, not in force when the reference was compiled: nothing is owed "
            "until a final rule takes effect"
        )
    aware_day = s.facts.aware_at.astimezone(tz).date()
    if regime.applies_from is not None and aware_day < regime.applies_from:
        raise _Excluded(
            f"applies from {regime.applies_from.isoformat()}; awareness on "
            f"{aware_day.isoformat()} is earlier"
        )


def _owed_by(party: Party, role: Role) -> OwedBy:
    if party is Party.PROCESSOR:
        if role is Role.CONTROLLER:
            raise _Excluded("the processor's notice to its controller: we are the controller here")
        return OwedBy.US
    if party is Party.CONTROLLER:
        return OwedBy.US if role is Role.CONTROLLER else OwedBy.CLIENT
    return OwedBy.US


def _check_territory(territory: Territory, s: _Situation, owed_by: OwedBy) -> None:
    if s.people & set(territory.people) or s.sites & set(territory.sites):
        return
    if owed_by is OwedBy.US and s.sites & set(territory.establishment):
        return
    parts = []
    if territory.people:
        parts.append(f"no affected people in {', '.join(territory.people)}")
    site_tags = set(territory.sites) | set(territory.establishment)
    if territory.sites or (territory.establishment and owed_by is OwedBy.US):
        parts.append(f"no site of ours in {', '.join(sorted(site_tags))}")
    elif s.sites & site_tags:
        parts.append("our site there does not count: the client owes this one")
    raise _Excluded("; ".join(parts))


def _check_requirements(regime: Regime, s: _Situation) -> list[str]:
    req = regime.requires
    if req.personal_data and not s.categories:
        raise _Excluded("no personal data involved")
    if req.data_categories_any and not s.categories & set(req.data_categories_any):
        raise _Excluded(f"no {' or '.join(req.data_categories_any)} data involved")
    if req.sectors_any and not s.sectors & set(req.sectors_any):
        raise _Excluded(f"the controller is not in sector {' or '.join(req.sectors_any)}")
    questions: list[str] = []
    records = s.facts.records_affected
    if req.records is not None:
        if records is None:
            questions.append(
                f"How many individuals are affected? This applies to {req.records.text()}."
            )
        elif not req.records.holds(records):
            raise _Excluded(f"{records} individuals affected; applies to {req.records.text()}")
    if req.residents is not None:
        questions += _residents(req.residents, s)
    return questions


def _residents(rule: Residents, s: _Situation) -> list[str]:
    label = "a single US state" if rule.jurisdiction == "US-*" else rule.jurisdiction
    records = s.facts.records_affected
    needed = f"{rule.count.text()} residents of {label}"
    if records is not None and not rule.count.holds(records):
        raise _Excluded(f"{records} individuals affected in all; applies to {needed}")
    if _sole_jurisdiction(rule.jurisdiction, s.facts.jurisdictions):
        if records is None:
            return [f"How many individuals are affected? This applies to {needed}."]
        return []
    return [f"Are {needed} affected?"]


def _sole_jurisdiction(wanted: str, given: tuple[str, ...]) -> bool:
    """Whether everyone affected lives in the wanted subdivision, so the total count is its count."""
    subdivisions = [j for j in given if "-" in j]
    others = [j for j in given if "-" not in j]
    if len(subdivisions) != 1 or any(o != country_of(subdivisions[0]) for o in others):
        return False
    if wanted.endswith("-*"):
        return country_of(subdivisions[0]) == country_of(wanted)
    return subdivisions[0] == wanted


def _answered(unless: Answered | None, s: _Situation) -> bool:
    if unless is None:
        return False
    kind = s.facts.incident_type
    records = s.facts.records_affected
    return bool(
        s.categories & set(unless.data_categories_any)
        or (unless.records is not None and records is not None and unless.records.holds(records))
        or (kind is not None and kind in unless.incident_types)
        or (kind is not None and unless.incident_type_flag is not None and _flag(kind, unless))
        or s.people & set(unless.people_in)
        or any(s.facts.event(t) is not None for t in unless.recorded)
    )


def _flag(kind: IncidentType, unless: Answered) -> bool:
    info = TAXONOMY[kind]
    if unless.incident_type_flag is TypeFlag.CERTIN_ANNEX_I:
        return info.certin_annex_i
    return info.adversarial


def _trigger_instant(trigger: Trigger, facts: IncidentFacts, tz: ZoneInfo) -> datetime | None:
    if trigger is Trigger.END_OF_CALENDAR_YEAR:
        discovered = facts.event(Trigger.DISCOVERY)
        return None if discovered is None else end_of_calendar_year(discovered, tz)
    return facts.event(trigger)


def _stage(
    rule: StageRule,
    s: _Situation,
    tz: ZoneInfo,
    calendar: HolidayCalendar | None,
    due_time: time,
) -> StageDeadline:
    base = {
        "stage": rule.stage,
        "trigger": rule.from_,
        "deadline": rule.deadline,
        "business_days": rule.business_days,
        "notes": rule.notes,
    }
    if rule.deadline is None:
        return StageDeadline(status=StageStatus.NO_FIXED_DEADLINE, due_at=None, **base)

    def clock(start: datetime, period: Period, business_days: bool) -> datetime:
        return due_instant(
            start,
            period,
            tz=tz,
            business_days=business_days,
            calendar=calendar,
            due_time=due_time,
            tables=s.holidays,
        )

    cap = None
    if rule.outer_limit is not None:
        cap_start = _trigger_instant(rule.outer_limit.from_, s.facts, tz)
        if cap_start is not None:
            cap = clock(cap_start, rule.outer_limit.deadline, False)
    start = _trigger_instant(rule.from_, s.facts, tz)
    if start is None:
        return StageDeadline(
            status=StageStatus.PENDING_TRIGGER, due_at=None, not_later_than=cap, **base
        )
    due = clock(start, rule.deadline, rule.business_days)
    # The outer limit binds only a trigger that comes before it (DORA: classified as major
    # after 24 hours still leaves 4 hours from that classification).
    if cap is not None and start <= cap:
        due = min(due, cap)
    return StageDeadline(status=StageStatus.DUE, due_at=due, due_local=due.astimezone(tz), **base)


# --- the client's contract -------------------------------------------------------------------


def _contract_id(policy: ClientPolicy) -> str:
    return f"contract_{policy.id}_processor_to_controller"


def _contract(policy: ClientPolicy, s: _Situation, due_time: time) -> Obligation:
    terms = policy.contract
    if terms is None:
        raise _Excluded(f"client policy {policy.id!r} sets no contractual notification deadline")
    if s.role is Role.CONTROLLER:
        raise _Excluded("the contract's processor-to-controller notice: we are the controller here")
    rule = StageRule(
        stage="notification",
        deadline=terms.notify_within,
        business_days=terms.business_days,
        **{"from": terms.from_},
        notes="Contractual SLA: it must leave the client time for its own fastest clock.",
    )
    stage = _stage(rule, s, ZoneInfo(policy.timezone), terms.calendar, due_time)
    return Obligation(
        id=_contract_id(policy),
        name=f"Contractual incident notice to {policy.name}",
        owed_by=OwedBy.US,
        recipient=("controller",),
        stages=(stage,),
        jurisdiction="contract",
        instrument=terms.clause,
        legal_status="contractual",
        verification="client policy",
        deadline_text=f"within {terms.notify_within}"
        + (" (business days)" if terms.business_days else "")
        + f" of {terms.from_.value}",
        sources=(
            Source(
                title=f"{policy.name}: {terms.clause}", url=f"policies/clients/{policy.id}.yaml"
            ),
        ),
    )


# --- holiday tables for workflow code ----------------------------------------------------------


def calendars_in_use(
    catalogue: Catalogue, policy: ClientPolicy | None = None
) -> frozenset[HolidayCalendar]:
    found = {r.calendar for r in catalogue.obligations if r.calendar is not None}
    if policy is not None:
        if policy.contract is not None and policy.contract.calendar is not None:
            found.add(policy.contract.calendar)
        if policy.card_acquirer is not None:
            found.add(HolidayCalendar(country=policy.card_acquirer.country))
    return frozenset(found)


def holiday_tables_for(
    facts: IncidentFacts,
    policy: ClientPolicy | None = None,
    catalogue: Catalogue | None = None,
    years_ahead: int = 2,
) -> HolidayTables:
    """Every holiday table the incident's business-day clocks can need, from the year before
    awareness to `years_ahead` after it. Reads the `holidays` package: call it from an activity,
    never from workflow code."""
    first = facts.aware_at.year - 1
    last = facts.aware_at.year + years_ahead
    calendars = sorted(
        calendars_in_use(catalogue or load_catalogue(), policy), key=lambda c: c.label()
    )
    return HolidayTables(tables=tuple(build_holiday_table(c, first, last) for c in calendars))
