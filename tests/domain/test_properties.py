"""Properties that must hold for any facts, not just the cases someone thought of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.facts import DataCategory, IncidentFacts, Role, Sector, Trigger
from incidents.obligations import ObligationReport, obligations_for
from incidents.regimes import load_catalogue
from incidents.severity import SeverityAnswers, assess_severity

PLACES = ["DE", "FR", "IE", "GB", "US", "US-CA", "US-NY", "US-FL", "US-TX", "US-WA", "US-CO",
          "BR", "JP", "PH", "SG", "AU", "CA", "ZA", "IN", "EU"]  # fmt: skip
SITES = ["PH", "IN", "IE", "PT", "US", "ZA"]
EVENTS = [Trigger.DETERMINATION, Trigger.CLASSIFICATION, Trigger.MATERIALITY_DETERMINATION,
          Trigger.ASSESSMENT_COMPLETE, Trigger.PAYMENT, Trigger.NOTIFICATION_OF_INDIVIDUALS,
          Trigger.INCIDENT_NOTIFICATION_SUBMITTED, Trigger.INITIAL_COMMUNICATION_SUBMITTED]  # fmt: skip

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(
    lambda q: timezone(timedelta(minutes=15 * q))
)


@st.composite
def incident_facts(draw: st.DrawFn) -> IncidentFacts:
    aware = draw(instants)
    events = {
        t: aware + timedelta(hours=draw(st.integers(0, 24 * 40)))
        for t in draw(st.lists(st.sampled_from(EVENTS), unique=True, max_size=3))
    }
    return IncidentFacts(
        aware_at=aware,
        role=draw(st.sampled_from(Role)),
        jurisdictions=tuple(draw(st.lists(st.sampled_from(PLACES), unique=True, max_size=4))),
        data_categories=tuple(
            draw(st.lists(st.sampled_from(DataCategory), unique=True, max_size=3))
        ),
        sectors=tuple(draw(st.lists(st.sampled_from(Sector), unique=True, max_size=2))),
        sites=tuple(draw(st.lists(st.sampled_from(SITES), unique=True, max_size=2))),
        records_affected=draw(st.none() | st.integers(0, 20_000)),
        events=events,
    )


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _superseded_ok(before: ObligationReport, after: ObligationReport) -> None:
    superseded_by = {r.id: r.superseded_by for r in load_catalogue().obligations}
    for missing in before.ids() - after.ids():
        assert superseded_by.get(missing) in after.ids(), f"{missing} vanished"


@FAST
@given(incident_facts())
def test_no_due_instant_falls_before_its_trigger(facts: IncidentFacts) -> None:
    for obligation in obligations_for(facts).obligations:
        for stage in obligation.stages:
            if stage.due_at is None:
                continue
            start = facts.event(stage.trigger)
            if stage.trigger is Trigger.END_OF_CALENDAR_YEAR:
                start = facts.event(Trigger.DISCOVERY)
            assert start is not None
            assert stage.due_at > start, (obligation.id, stage.stage)


@FAST
@given(incident_facts(), st.integers(1, 20_000))
def test_more_records_never_remove_an_obligation(facts: IncidentFacts, extra: int) -> None:
    before = obligations_for(facts)
    more = facts.model_copy(update={"records_affected": (facts.records_affected or 0) + extra})
    if facts.records_affected is None:
        before = obligations_for(facts.model_copy(update={"records_affected": 0}))
    _superseded_ok(before, obligations_for(more))


@FAST
@given(incident_facts(), st.lists(st.sampled_from(DataCategory), min_size=1, max_size=3))
def test_more_sensitive_categories_never_remove_an_obligation(
    facts: IncidentFacts, added: list[DataCategory]
) -> None:
    richer = facts.model_copy(
        update={"data_categories": tuple(sorted(set(facts.data_categories) | set(added)))}
    )
    before, after = obligations_for(facts), obligations_for(richer)
    _superseded_ok(before, after)


@FAST
@given(incident_facts(), offsets)
def test_results_do_not_depend_on_the_offset_the_input_is_written_in(
    facts: IncidentFacts, offset: timezone
) -> None:
    rewritten = facts.model_copy(
        update={
            "aware_at": facts.aware_at.astimezone(offset),
            "events": {k: v.astimezone(offset) for k, v in facts.events.items()},
        }
    )
    assert obligations_for(rewritten) == obligations_for(facts)


@FAST
@given(incident_facts(), st.booleans(), st.integers(1, 20_000))
def test_severity_never_drops_when_more_people_are_affected(
    facts: IncidentFacts, ongoing: bool, extra: int
) -> None:
    counted = facts.model_copy(update={"records_affected": facts.records_affected or 0})
    more = counted.model_copy(update={"records_affected": counted.records_affected + extra})
    answers = SeverityAnswers(ongoing=ongoing)

    def severity(f: IncidentFacts) -> Any:
        return assess_severity(f, answers, obligations_for(f)).severity

    assert severity(more) <= severity(counted)  # "SEV1" < "SEV2": lower is more severe
