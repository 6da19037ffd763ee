"""What is known about an incident that decides who must be told and by when.

These are facts, not judgements: when the BPO became aware, whose data, which kinds, how many
people, in which sectors and countries, and when later events (a classification, a materiality
decision, a report submitted) happened. The obligation and severity rules read only this, so two
people entering the same facts get the same deadlines whatever they feel about the incident.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from incidents.jurisdictions import Country, Jurisdiction
from incidents.taxonomy import IncidentType


class Role(StrEnum):
    """Our role for the client's data: a BPO is usually the processor (HIPAA business associate,
    PDPA data intermediary, POPIA operator, APPI entrusted party) and the client the controller."""

    PROCESSOR = "processor"
    CONTROLLER = "controller"


class DataCategory(StrEnum):
    PERSONAL = "personal"
    SENSITIVE = "sensitive"
    HEALTH = "health"
    PAYMENT_CARD = "payment_card"
    CREDENTIALS = "credentials"
    FINANCIAL = "financial"
    GOVERNMENT_ID = "government_id"
    CHILDREN = "children"


class Sector(StrEnum):
    """Sectors of the controller (the client, or us when we are the controller)."""

    FINANCIAL = "financial"
    HEALTHCARE = "healthcare"
    NIS2_ESSENTIAL = "nis2_essential"
    NIS2_IMPORTANT = "nis2_important"
    TRUST_SERVICE = "trust_service"
    PUBLIC_COMPANY = "public_company"
    NYDFS_COVERED = "nydfs_covered"
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"


class Trigger(StrEnum):
    """Events a clock can run from: the reference's `trigger` values and its stage `from` values.

    Each is its own timestamped event; collapsing them into one "incident start" is the mistake
    the reference warns about.
    """

    AWARENESS = "awareness"
    DISCOVERY = "discovery"
    NOTICING = "noticing"
    DETERMINATION = "determination"
    CLASSIFICATION = "classification"
    ASSESSMENT_COMPLETE = "assessment_complete"
    PAYMENT = "payment"
    MATERIALITY_DETERMINATION = "materiality_determination"
    END_OF_CALENDAR_YEAR = "end_of_calendar_year"
    PREVIOUS_REPORT_SUBMITTED = "previous_report_submitted"
    NOTIFICATION_OF_INDIVIDUALS = "notification_of_individuals"
    REQUEST = "request"
    INFORMATION_BECOMES_AVAILABLE = "information_becomes_available"
    NEW_SUBSTANTIAL_INFORMATION = "new_substantial_information"
    INCIDENT_NOTIFICATION_SUBMITTED = "incident_notification_submitted"
    INITIAL_NOTIFICATION_SUBMITTED = "initial_notification_submitted"
    LATEST_INTERMEDIATE_REPORT_SUBMITTED = "latest_intermediate_report_submitted"
    INITIAL_COMMUNICATION_SUBMITTED = "initial_communication_submitted"
    OAIC_STATEMENT_PREPARED = "oaic_statement_prepared"


# Awareness is `aware_at` itself; the end of the calendar year follows from discovery.
DERIVED_TRIGGERS = frozenset({Trigger.AWARENESS, Trigger.END_OF_CALENDAR_YEAR})
# The rule: these start with awareness unless an event says otherwise.
DEFAULTS_TO_AWARENESS = frozenset({Trigger.DISCOVERY, Trigger.NOTICING})
EVENT_NAMES = frozenset(t.value for t in Trigger if t not in DERIVED_TRIGGERS)


class IncidentFacts(BaseModel):
    """The input of `incident-desk deadlines`, and what the workflow keeps up to date.

    `records_affected` counts affected people (data subjects); None means not yet counted, which
    the rules treat as an open question rather than as zero.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    aware_at: AwareDatetime
    role: Role | None = Field(
        None, description="Our role; defaults to the client policy's role, else processor"
    )
    jurisdictions: tuple[Jurisdiction, ...] = ()
    data_categories: tuple[DataCategory, ...] = ()
    sectors: tuple[Sector, ...] = ()
    sites: tuple[Country, ...] = ()
    records_affected: int | None = Field(None, ge=0)
    client: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    incident_type: IncidentType | None = None
    events: dict[Trigger, AwareDatetime] = Field(default_factory=dict)

    @field_validator("events", mode="before")
    @classmethod
    def _known_events(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        derived = sorted(str(k) for k in value if k in {t.value for t in DERIVED_TRIGGERS})
        unknown = sorted(str(k) for k in value if k not in EVENT_NAMES and k not in derived)
        problems = []
        if derived:
            problems.append(
                f"{', '.join(derived)} cannot be given as events: awareness is aware_at and the "
                "end of the calendar year follows from discovery"
            )
        if unknown:
            problems.append(
                f"unknown event {', '.join(repr(k) for k in unknown)}; "
                f"expected {', '.join(sorted(EVENT_NAMES))}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("jurisdictions", "data_categories", "sectors", "sites")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Order carries no meaning; a canonical form keeps results and hashes stable.
        return tuple(sorted(set(value)))

    def event(self, trigger: Trigger) -> datetime | None:
        """When a trigger happened, or None while it has not (yet) been recorded."""
        if trigger is Trigger.AWARENESS:
            return self.aware_at
        if trigger in self.events:
            return self.events[trigger]
        if trigger in DEFAULTS_TO_AWARENESS:
            return self.aware_at
        return None

    @property
    def personal_data(self) -> bool:
        """Every category is a kind of personal data; an empty list means none was involved."""
        return bool(self.data_categories)

    def categories(self) -> frozenset[DataCategory]:
        """The categories with what they imply: health data is special-category data."""
        cats = set(self.data_categories)
        if cats:
            cats.add(DataCategory.PERSONAL)
        if DataCategory.HEALTH in cats:
            cats.add(DataCategory.SENSITIVE)
        return frozenset(cats)
