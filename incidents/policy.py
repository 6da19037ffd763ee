"""Client policies: each client's SOP as data (policies/clients/<id>.yaml).

A policy is loaded and validated before any incident uses it; a bad file is reported with its
path and the field at fault, and never half-applied. It says what the contract and the client's
own procedures add to the law: our role, where the client's customers and our sites are, how
fast we must tell the client, whom to call at each severity and how often to update them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from incidents.assessment_terms import AssessmentTerms
from incidents.calendars import HolidayCalendar, PeriodField, TimeZoneName
from incidents.client_routing import JiraRouting, NoticeSender
from incidents.comments import ClientJiraUsers
from incidents.facts import DataCategory, Role, Sector, Trigger
from incidents.jurisdictions import Country, Jurisdiction
from incidents.pager_routes import PagerRouting
from incidents.report import Severity
from incidents.sop import SopOverride
from incidents.stages import ReviewTerms, TriageTerms
from incidents.taxonomy import IncidentType
from incidents.yaml_files import load_model


class PolicyError(ValueError):
    """A policy file that cannot be used, with the file and field named in the message."""


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


PositiveDuration = Annotated[timedelta, AfterValidator(_positive)]

PAGER_SEVERITIES = frozenset({"critical", "error", "warning", "info"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PagerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity_map: dict[Severity, str] = Field(
        default_factory=lambda: {
            Severity.SEV1: "critical",
            Severity.SEV2: "error",
            Severity.SEV3: "warning",
            Severity.SEV4: "info",
        },
        description="Our severity to the pager's",
    )

    @field_validator("severity_map")
    @classmethod
    def _complete(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        # The workflow looks every severity up; a gap would surface only mid-incident.
        missing = [s.value for s in Severity if s not in value]
        if missing:
            raise ValueError(f"no pager severity for {', '.join(missing)}")
        wrong = sorted({v for v in value.values() if v not in PAGER_SEVERITIES})
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)}: pager severities are {', '.join(sorted(PAGER_SEVERITIES))}"
            )
        return value


class SecurityContact(_Section):
    """Someone at the client to notify; the language is the one to write to them in."""

    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=100, description="e.g. CISO, DPO, security desk")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47")


class ClientAckTerms(_Section):
    """How long the client has to acknowledge our notice before we chase it, and whom we chase.

    Each wait starts when the previous step was taken: a reminder to the same contacts, then
    the alternates, then the BPO's account manager (paged), who owns the client relationship.
    """

    remind_after: PositiveDuration = timedelta(hours=4)
    alternates_after: PositiveDuration = timedelta(hours=4)
    escalate_after: PositiveDuration = timedelta(hours=4)
    alternate_contacts: tuple[SecurityContact, ...] = ()
    account_manager: str = Field(
        "bpo-account-manager", min_length=1, description="Pager target told when nobody answers"
    )
    link_valid_for: PositiveDuration = Field(
        timedelta(days=14), description="How long an acknowledgement link works"
    )


class EscalationLevel(_Section):
    """One rung of the chain: page these targets, and move on if nobody acknowledges in time."""

    targets: tuple[str, ...] = Field(
        min_length=1, description="Pager escalation targets: schedules, users or teams"
    )
    ack_timeout: PositiveDuration


class ContractTerms(_Section):
    """The processor→controller notice the client's DPA/BAA/MSA fixes on top of the law."""

    clause: str = Field(min_length=1, description="Where the contract says it")
    notify_within: PeriodField
    business_days: bool = False
    from_: Trigger = Field(Trigger.AWARENESS, alias="from")
    calendar: HolidayCalendar | None = Field(
        None, description="Public holidays for a business-day deadline"
    )

    @model_validator(mode="after")
    def _calendar_for_business_days(self) -> ContractTerms:
        if self.business_days and self.calendar is None:
            raise ValueError("business_days needs a calendar (country, optional subdivision)")
        return self


class CardAcquirer(_Section):
    """Card-brand business days count on the acquirer's calendar (reference: Visa)."""

    name: str | None = None
    country: Country
    timezone: TimeZoneName


class FloorCondition(_Section):
    """Every condition given must hold; each list matches when any of its items does."""

    incident_types: tuple[IncidentType, ...] = ()
    data_categories_any: tuple[DataCategory, ...] = ()
    jurisdictions_any: tuple[Jurisdiction, ...] = ()
    records_at_least: int | None = Field(None, ge=0)
    ongoing: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> FloorCondition:
        if not self.model_fields_set:
            raise ValueError("give at least one condition")
        return self


# Temporal Cloud's rules for a namespace name (docs.temporal.io/cloud/namespaces: 2-39
# characters, a lowercase letter first, a letter or digit last, else lowercase letters, digits
# and hyphens), optionally followed by Cloud's `.<account>` suffix, which makes the namespace id
# its SDK connects with. A self-hosted cluster accepts more, but a name within these rules works
# on both, so moving a client between the two needs no rename.
_NAMESPACE = re.compile(r"^[a-z][a-z0-9-]{0,37}[a-z0-9](\.[a-z0-9]+)?$")
_SYSTEM_NAMESPACES = frozenset({"temporal-system"})


def _namespace(value: str) -> str:
    if value in _SYSTEM_NAMESPACES:
        raise ValueError(f"'{value}' is Temporal's own namespace; name the client's namespace")
    if not _NAMESPACE.match(value):
        raise ValueError(
            f"'{value}' is not a Temporal namespace name: 2-39 lowercase letters, digits and "
            "hyphens, starting with a letter and ending with a letter or digit "
            "(optionally `.<account>` for Temporal Cloud)"
        )
    return value


TemporalNamespace = Annotated[str, AfterValidator(_namespace)]


class TemporalPlacement(_Section):
    """Where the client's incidents run. A namespace of its own is a harder wall between
    clients (docs/multi-client.md); absent, the deployment's TEMPORAL_NAMESPACE."""

    namespace: TemporalNamespace | None = None


class SeverityFloor(_Section):
    when: FloorCondition
    at_least: Severity
    reason: str = Field(min_length=1)


def _default_status_updates() -> dict[Severity, timedelta]:
    """Incident Desk's own cadence, not from any standard or contract: hourly for SEV1, every
    4 hours for SEV2, daily for SEV3; SEV4 has none unless a policy sets one."""
    return {
        Severity.SEV1: timedelta(hours=1),
        Severity.SEV2: timedelta(hours=4),
        Severity.SEV3: timedelta(days=1),
    }


def _default_reminders() -> tuple[timedelta, ...]:
    return (timedelta(hours=24), timedelta(hours=4), timedelta(hours=1))


class ClientPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: TimeZoneName = "UTC"
    default_severity: Severity = Severity.SEV3
    pager: PagerPolicy = Field(default_factory=PagerPolicy)
    pagers: PagerRouting = Field(
        default_factory=PagerRouting,
        description="Which pager each escalation target is paged on (default PagerDuty)",
    )

    role: Role = Field(Role.PROCESSOR, description="Our role for this client's data")
    jurisdictions: tuple[Jurisdiction, ...] = Field(
        (), description="Where the client's customers live; used when an incident names none"
    )
    sectors: tuple[Sector, ...] = Field((), description="The client's regulated sectors")
    sites: tuple[Country, ...] = Field(
        (),
        description="Countries of our sites serving this client; used when an incident names none",
    )
    contract: ContractTerms | None = None
    contacts: tuple[SecurityContact, ...] = ()
    client_ack: ClientAckTerms = Field(
        default_factory=ClientAckTerms,
        description="Waiting for the client to acknowledge our notice, and whom to chase next",
    )
    escalation: dict[Severity, tuple[EscalationLevel, ...]] = Field(
        default_factory=dict, description="Escalation chain per severity, first level first"
    )
    escalation_repeats: int = Field(
        1,
        ge=0,
        le=10,
        description="Times the whole chain is paged again after its last level goes unanswered",
    )
    no_responder_target: str = Field(
        "bpo-operations-manager",
        min_length=1,
        description="Who gets the 'no responder' alert once the chain and its repeats are spent",
    )
    compliance_target: str = Field(
        "bpo-compliance",
        min_length=1,
        description="Who is paged when a reporting deadline passes with its stage not done",
    )
    status_updates: dict[Severity, PositiveDuration] = Field(
        default_factory=_default_status_updates,
        description="How often stakeholders hear from the incident owner while it is open "
        "(acknowledged, not yet resolved); the owner is reminded when an interval passes "
        "without an update. Severities left out keep the defaults",
    )
    reminders: tuple[PositiveDuration, ...] = Field(
        default_factory=_default_reminders, description="Reminders before each deadline"
    )
    assessment: AssessmentTerms = Field(
        default_factory=AssessmentTerms,
        description="Open questions of an obligation: its stages meanwhile, and reminders",
    )
    severity_floors: tuple[SeverityFloor, ...] = ()
    triage: TriageTerms = Field(
        default_factory=TriageTerms,
        description="Triage SLA per severity, the team lead paged when it passes, and the "
        "channels whose reports are validated on arrival",
    )
    review: ReviewTerms = Field(
        default_factory=ReviewTerms,
        description="When the post-incident review is due after resolution, and its reminders",
    )
    card_acquirer: CardAcquirer | None = None
    sop_overrides: dict[IncidentType, SopOverride] = Field(
        default_factory=dict,
        description="The client's additions to the BPO's SOP checklists (policies/sops), per type",
    )
    jira: JiraRouting = Field(
        default_factory=JiraRouting,
        description="The client's Jira site (an id; URLs and credentials are configuration), "
        "project, issue type, status names and custom fields",
    )
    notice_sender: NoticeSender | None = Field(
        None, description="From address and name of the client's notices; default SMTP_FROM"
    )
    jira_users: ClientJiraUsers = Field(
        default_factory=ClientJiraUsers,
        description="The client's people in Jira: a comment by one of them acknowledges",
    )
    temporal: TemporalPlacement = Field(
        default_factory=TemporalPlacement,
        description="The client's own Temporal namespace, if it must be kept apart from others",
    )

    @field_validator("escalation")
    @classmethod
    def _levels(
        cls, value: dict[Severity, tuple[EscalationLevel, ...]]
    ) -> dict[Severity, tuple[EscalationLevel, ...]]:
        empty = [s.value for s, levels in value.items() if not levels]
        if empty:
            raise ValueError(f"no escalation levels for {', '.join(empty)}")
        return value

    @field_validator("status_updates")
    @classmethod
    def _status_defaults(cls, value: dict[Severity, timedelta]) -> dict[Severity, timedelta]:
        # Given partially, the rest keep the defaults, as the triage SLA does.
        return _default_status_updates() | value

    @field_validator("reminders")
    @classmethod
    def _longest_first(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        return tuple(sorted(set(value), reverse=True))

    def escalation_for(self, severity: Severity) -> tuple[EscalationLevel, ...]:
        """The chain to page for a severity; empty means the pager's own default routing."""
        return self.escalation.get(severity, ())

    def status_update_interval(self, severity: Severity) -> timedelta | None:
        return self.status_updates.get(severity)


def load_policy(path: Path) -> ClientPolicy:
    policy = load_model(path, ClientPolicy, PolicyError)
    if policy.id != path.stem:
        raise PolicyError(f"{path}: id: '{policy.id}' must match the file name '{path.stem}'")
    if policy.contract is not None and policy.contract.calendar is not None:
        try:
            policy.contract.calendar.check_available()
        except ValueError as exc:
            raise PolicyError(f"{path}: contract.calendar: {exc}") from exc
    return policy


def load_policies(directory: Path) -> dict[str, ClientPolicy]:
    """All client policies under `directory/clients`, keyed by id."""
    clients = directory / "clients"
    return {p.id: p for p in (load_policy(f) for f in sorted(clients.glob("*.yaml")))}
