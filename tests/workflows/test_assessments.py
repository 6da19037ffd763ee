"""Questions an obligation leaves to a person (`needs_assessment`), on the real dev server with
virtual time: asked in Jira one comment per question, chased until answered, and the answer
either runs the stages (from the original trigger) or drops the obligation.

The report is validated on filing, so it is paged and its clocks armed at once. The report's facts
(personal data of people in Germany) give GDPR Art. 33's authority notice with its "likely to
result in a risk" question; nothing in the facts answers it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from incidents.assessment_terms import AssessmentTerms, UntilAnswered
from incidents.assessments import ObligationAssessment
from incidents.clocks import FactsUpdate
from incidents.lifecycle import IncidentView
from incidents.policy import ClientPolicy
from incidents.report import IncidentReport, ReportValidation, StartIncident
from tests.workflows.doubles import Outside, new_worker
from workflows.incident import IncidentWorkflow

GDPR = "eu_gdpr_art33_authority"
GDPR_NAME = "to the supervisory authority"
PRESUME = ClientPolicy(id="demo", name="assessment test client")
HOLD = PRESUME.model_copy(update={"assessment": AssessmentTerms(until_answered=UntilAnswered.HOLD)})
SLACK = timedelta(seconds=5)


def report(aware_at: datetime) -> IncidentReport:
    return IncidentReport.model_validate(
        {
            "client": "demo",
            "summary": "Customer list emailed to the wrong address",
            "description": "Agent 4410 sent a spreadsheet of 40 customers to an outside address.",
            "channel": "phone",
            "reporter": {"name": "Team lead", "contact": "ext 2200"},
            "aware_at": aware_at.isoformat(),
            "category": "misdirected_disclosure",
            "jurisdictions": ["DE"],
            "data_categories": ["personal"],
            "validation": ReportValidation(by="ana.agent", note="confirmed on the call"),
        }
    )


async def started(env: WorkflowEnvironment, outside: Outside):
    worker = new_worker(env.client, outside)
    now = datetime.now(UTC).replace(microsecond=0)
    incident_id = f"demo-{uuid.uuid4().hex[:8]}"
    with env.with_time_skipping_disabled():
        handle = await env.client.start_workflow(
            IncidentWorkflow.run,
            StartIncident(incident_id=incident_id, report=report(now), received_at=now),
            id=f"incident-{incident_id}",
            task_queue=worker.task_queue,
        )
    return worker, handle, now


async def wait_until(handle: WorkflowHandle, predicate, within: float = 20) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; timeline {view.timeline}")
        await asyncio.sleep(0.05)


def asked(view: IncidentView) -> bool:
    return any(e.event == "assessment_asked" for e in view.timeline)


def events(view: IncidentView, name: str):
    return [e for e in view.timeline if e.event == name]


def gdpr(view: IncidentView):
    return next(c for c in view.obligations if c.id == GDPR)


def answer(applies: bool, reason: str = "the sheet held names and emails") -> ObligationAssessment:
    return ObligationAssessment(obligation=GDPR, applies=applies, by="dpo.liaison", reason=reason)


async def refusal(handle: WorkflowHandle, assessment: ObligationAssessment) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(IncidentWorkflow.assess_obligation, assessment)
    return str(refused.value.cause)


async def test_held_obligation_is_asked_chased_and_armed_by_yes(
    dev_env: WorkflowEnvironment,
) -> None:
    outside = Outside(policy=HOLD)
    worker, handle, now = await started(dev_env, outside)
    async with worker:
        view = await wait_until(handle, asked)
        questions = [
            c.body
            for c in outside.of("comment_jira_ticket")
            if "Assessment needed" in c.body and f"[{GDPR}]" in c.body
        ]
        assert len(questions) == len(gdpr(view).needs_assessment) == 1
        assert GDPR in questions[0] and "likely to result in a risk" in questions[0]
        assert f"assess {GDPR}: yes" in questions[0] and f"assess {GDPR}: no" in questions[0]
        due = gdpr(view).stage("initial").due_at
        assert abs(due - (now + timedelta(hours=72))) < SLACK

        # Unanswered for 50 hours: chased daily (24h, 48h — the latter is also T-24h of the
        # deadline it gates, asked once), and the held stage neither reminds nor breaches.
        await dev_env.fast_forward(handle, timedelta(hours=50))
        view = await handle.query(IncidentWorkflow.state)
        chased = [e for e in events(view, "assessment_reminder") if GDPR_NAME in e.detail]
        assert [round((e.at - now) / timedelta(hours=1)) for e in chased] == [24, 48]
        assert not events(view, "deadline_reminder")

        view = await handle.execute_update(IncidentWorkflow.assess_obligation, answer(True))
        (applied,) = events(view, "assessment_applies")
        assert applied.by == "dpo.liaison" and "T-24h" in applied.detail
        assert gdpr(view).needs_assessment == []
        assert "already assessed by dpo.liaison" in await refusal(handle, answer(False))
        assert "no obligation 'nope'" in await refusal(
            handle, answer(True).model_copy(update={"obligation": "nope"})
        )

        await dev_env.fast_forward(handle, timedelta(hours=23))
        view = await handle.query(IncidentWorkflow.state)
    reminders = events(view, "deadline_reminder")
    assert [e.detail.split(":")[0] for e in reminders] == ["T-4h", "T-1h"]
    for entry, offset in zip(reminders, (4, 1), strict=True):
        assert abs(entry.at - (due - timedelta(hours=offset))) < SLACK
    (breach,) = events(view, "deadline_breached")
    assert abs(breach.at - due) < SLACK
    # Answered: the daily chase stopped.
    assert len([e for e in events(view, "assessment_reminder") if GDPR_NAME in e.detail]) == 2


async def test_late_yes_breaches_at_once(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=HOLD)
    worker, handle, _ = await started(dev_env, outside)
    async with worker:
        await wait_until(handle, asked)
        await dev_env.fast_forward(handle, timedelta(hours=73))
        view = await handle.query(IncidentWorkflow.state)
        assert not events(view, "deadline_breached")
        view = await handle.execute_update(IncidentWorkflow.assess_obligation, answer(True))
        (applied,) = events(view, "assessment_applies")
        assert "breach alert fires now" in applied.detail
        view = await wait_until(handle, lambda v: bool(events(v, "deadline_breached")))
    (breach,) = events(view, "deadline_breached")
    assert breach.at - applied.at < SLACK
    assert [r.dedup_key for r in outside.of("trigger_page") if "~breach-" in r.dedup_key] == [
        f"{handle.id}~breach-{GDPR}-initial"
    ]


async def test_no_drops_the_presumed_obligation_for_good(dev_env: WorkflowEnvironment) -> None:
    outside = Outside(policy=PRESUME)
    worker, handle, _ = await started(dev_env, outside)
    async with worker:
        view = await wait_until(handle, asked)
        # Presumed to apply while the question is open: its deadline is armed.
        assert view.next_deadline == gdpr(view).stage("initial").due_at

        view = await handle.execute_update(
            IncidentWorkflow.assess_obligation, answer(False, "names only, no risk (Art. 33(5))")
        )
        clock = gdpr(view)
        assert not clock.in_force and "names only, no risk" in (clock.cancelled_reason or "")
        assert clock.stage("initial").status == "cancelled"
        (dropped,) = events(view, "obligation_dropped")
        assert dropped.by == "dpo.liaison" and "Art. 33(5)" in dropped.detail
        assert view.next_deadline is None
        assert any("does not apply" in c.body for c in outside.of("comment_jira_ticket"))

        # New facts reassess; the person's "no" stands.
        view = await handle.execute_update(
            IncidentWorkflow.update_facts, FactsUpdate(by="ana", records_affected=40)
        )
        assert not gdpr(view).in_force and not events(view, "obligation_reinstated")
        assert "already assessed" in await refusal(handle, answer(True))

        await dev_env.fast_forward(handle, timedelta(hours=73))
        view = await handle.query(IncidentWorkflow.state)
    assert not events(view, "deadline_reminder") and not events(view, "deadline_breached")
    assert not [e for e in events(view, "assessment_reminder") if GDPR_NAME in e.detail]
    assert not [r for r in outside.of("trigger_page") if "~breach-" in r.dedup_key]
