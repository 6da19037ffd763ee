"""The catalogue of notification obligations: incidents/data/regimes.yaml, as validated models.

The YAML is this project's own data, derived row by row from the shared reference
(regulatory-regimes.yaml, compiled 2026-11-28) with the same obligation ids and each row's
sources kept. What the reference states in prose ("breach involves 500 or more individuals") is
written here as conditions the rules can test; what needs a person's judgement ("likely to result
in a risk") stays a question, asked rather than assumed.

Loading reads one packaged file and is cached, so a worker that calls `load_catalogue()` at
start-up never touches the disk again, including inside workflow code.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from incidents.calendars import HolidayCalendar, PeriodField, TimeZoneName
from incidents.facts import DataCategory, Sector, Trigger
from incidents.jurisdictions import EEA, EU, normalise_jurisdiction
from incidents.taxonomy import IncidentType


def _tag(value: str) -> str:
    return value if value in (EU, EEA) else normalise_jurisdiction(value)


Tag = Annotated[str, AfterValidator(_tag)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Status(StrEnum):
    IN_FORCE = "in_force"
    CONTRACTUAL = "contractual"
    ADOPTED_NOT_YET_APPLICABLE = "adopted_not_yet_applicable"
    PROPOSED = "proposed"


class Verification(StrEnum):
    VERIFIED = "verified"
    PARTIALLY_VERIFIED = "partially_verified"
    UNVERIFIED = "unverified"


class Party(StrEnum):
    """Who owes the notice, in the terms this project decides `owed_by` with.

    controller: the controller-side entity (controller, covered entity, registrant, financial
      entity...): the client when we are the processor, us when we are the controller.
    processor: the processor-side leg (processor, business associate, data intermediary,
      operator, entrusted party, third-party agent): us, and only when we are the processor.
    local_entity: any entity operating where the incident happened (CERT-In): us, by our sites.
    card_handler: whoever handled the card data (merchant or service provider): us.
    """

    CONTROLLER = "controller"
    PROCESSOR = "processor"
    LOCAL_ENTITY = "local_entity"
    CARD_HANDLER = "card_handler"


class TypeFlag(StrEnum):
    CERTIN_ANNEX_I = "certin_annex_i"
    ADVERSARIAL = "adversarial"


class Source(_Strict):
    title: str
    url: str


class Territory(_Strict):
    """Where the obligation reaches. `people`: affected people's jurisdictions. `establishment`:
    our sites, counted only when we are the party that owes it. `sites`: our sites, whoever owes
    it (the Philippine DPA covers processing in the Philippines)."""

    people: tuple[Tag, ...] = ()
    establishment: tuple[Tag, ...] = ()
    sites: tuple[Tag, ...] = ()


class Count(_Strict):
    at_least: int | None = Field(None, ge=0)
    more_than: int | None = Field(None, ge=0)
    below: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> Count:
        if sum(v is not None for v in (self.at_least, self.more_than, self.below)) != 1:
            raise ValueError("give exactly one of at_least, more_than, below")
        return self

    def holds(self, n: int) -> bool:
        if self.at_least is not None:
            return n >= self.at_least
        if self.more_than is not None:
            return n > self.more_than
        assert self.below is not None
        return n < self.below

    def text(self) -> str:
        if self.at_least is not None:
            return f"at least {self.at_least}"
        if self.more_than is not None:
            return f"more than {self.more_than}"
        return f"fewer than {self.below}"


class Residents(_Strict):
    """A count of residents of one jurisdiction; `US-*` means of any single US state."""

    jurisdiction: str
    count: Count


class Requires(_Strict):
    """Objective conditions: when one fails the obligation is not applicable, with the reason."""

    personal_data: bool = False
    data_categories_any: tuple[DataCategory, ...] = ()
    sectors_any: tuple[Sector, ...] = ()
    records: Count | None = None
    residents: Residents | None = None


class Answered(_Strict):
    """Facts that settle a question without asking: any one of them is enough."""

    data_categories_any: tuple[DataCategory, ...] = ()
    records: Count | None = None
    incident_types: tuple[IncidentType, ...] = ()
    incident_type_flag: TypeFlag | None = None
    people_in: tuple[Tag, ...] = ()
    recorded: tuple[Trigger, ...] = Field((), description="Events whose recording answers it")


class Question(_Strict):
    ask: str
    unless: Answered | None = None


class OuterLimit(_Strict):
    deadline: PeriodField
    from_: Trigger = Field(alias="from")


class StageRule(_Strict):
    stage: str
    deadline: PeriodField | None
    business_days: bool = False
    from_: Trigger = Field(alias="from")
    outer_limit: OuterLimit | None = None
    notes: str = ""


class Regime(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    jurisdiction: str
    instrument: str
    status: Status
    applies_from: date | None = None
    verification: Verification
    verification_notes: str = ""
    notifier: str
    party: Party
    recipient: tuple[str, ...]
    deadline_text: str
    territory: Territory | None = None
    requires: Requires = Requires()
    questions: tuple[Question, ...] = ()
    superseded_by: str | None = None
    timezone: TimeZoneName
    calendar: HolidayCalendar | None = None
    calendar_from_acquirer: bool = Field(
        False, description="Count business days in the client's card acquirer's zone and calendar"
    )
    stages: tuple[StageRule, ...] = Field(min_length=1)
    bpo_notes: str = ""
    sources: tuple[Source, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _calendar_for_business_days(self) -> Regime:
        if any(s.business_days for s in self.stages) and self.calendar is None:
            raise ValueError(
                "a business-day stage needs a calendar (use country: null for weekends only)"
            )
        return self


class CatalogueMeta(_Strict):
    derived_from: str
    compiled_on: date
    disclaimer: str
    business_day_due_time: time = Field(
        description="Local time at which every business-day deadline falls due"
    )


class Catalogue(_Strict):
    meta: CatalogueMeta
    obligations: tuple[Regime, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        ids = [r.id for r in self.obligations]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate obligation ids: {', '.join(dupes)}")
        dangling = sorted(
            r.superseded_by
            for r in self.obligations
            if r.superseded_by and r.superseded_by not in ids
        )
        if dangling:
            raise ValueError(f"superseded_by names unknown ids: {', '.join(dangling)}")
        return self

    def get(self, obligation_id: str) -> Regime:
        for regime in self.obligations:
            if regime.id == obligation_id:
                return regime
        raise KeyError(obligation_id)


def parse_catalogue(text: str) -> Catalogue:
    import yaml

    catalogue = Catalogue.model_validate(yaml.safe_load(text))
    for regime in catalogue.obligations:
        if regime.calendar is not None:
            try:
                regime.calendar.check_available()
            except ValueError as exc:
                raise ValueError(f"{regime.id}: calendar: {exc}") from exc
    return catalogue


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue, read and validated once per process."""
    from importlib.resources import files

    return parse_catalogue(files("incidents").joinpath("data/regimes.yaml").read_text("utf-8"))
