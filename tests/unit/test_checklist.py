"""The checklist's pure parts: SOP fields for gating, facts and overdue limits; ticks written in
Jira; answers read as facts; the floor's language; the metrics and report figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidents.checklist import (
    ChecklistState,
    ChecklistTick,
    TickedItem,
    TickFormError,
    fact_update,
    parse_done_comment,
)
from incidents.checklist_metrics import checklist_figures
from incidents.checklist_render import language_for, render_checklist
from incidents.checklist_report import checklist_section
from incidents.facts import IncidentFacts
from incidents.lifecycle import IncidentState, IncidentView
from incidents.metrics import compute, durations
from incidents.sop import Gate, Language, SopError, checklist_for, load_sop, load_sops
from incidents.taxonomy import IncidentType

ROOT = Path(__file__).resolve().parents[2]
SOPS = load_sops(ROOT / "policies" / "sops")
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "phishing.yaml"
    path.write_text(
        "incident_type: phishing\ntitle: {en: Phishing}\nquestions:\n" + body, encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "  - {id: a, text: {en: Ask A}, required_before: resolve}\n",
            "questions.0: required_before: only a required item can hold a step back",
        ),
        (
            "  - {id: a, text: {en: Ask A}, required: true, required_before: validate}\n",
            "questions.0.required_before: Input should be 'contain', 'resolve' or 'close'",
        ),
        ("  - {id: a, text: {en: Ask A}, fact: {when_yes: {}}}\n", "give data_categories"),
        ("  - {id: a, text: {en: Ask A}, fact: shoe_size}\n", "questions.0.fact"),
        (
            "  - {id: a, text: {en: Ask A}}\ncontainment:\n"
            "  - {id: b, text: {en: B}, fact: records_affected}\n",
            "fact: only intake questions have answers (b)",
        ),
        (
            "  - {id: a, text: {en: Ask A}}\noverdue: {remind_after: PT2H, lead_after: PT1H}\n",
            "lead_after must be later than remind_after",
        ),
    ],
)
def test_bad_checklist_fields_name_file_and_field(tmp_path: Path, body: str, problem: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(SopError) as error:
        load_sop(path)
    assert str(error.value).startswith(str(path))
    assert problem in str(error.value)


def test_every_type_has_required_items_and_a_default_gate() -> None:
    for incident_type in IncidentType:
        checklist = checklist_for(SOPS, incident_type)
        assert checklist.required_ids, incident_type
        assert all(i.gate is not None for i in checklist.items if i.required)
    malware = {i.id: i.gate for i in checklist_for(SOPS, IncidentType.MALWARE).items}
    assert malware["which_device"] is Gate.CONTAIN and malware["alert_screenshot"] is Gate.RESOLVE


def test_done_comments() -> None:
    assert parse_done_comment("Called the reporter back, all fine") is None
    assert parse_done_comment("assess gdpr: yes — reason") is None
    ticks = parse_done_comment(
        "done link_clicked: yes, twice\nDONE keep_message\nhecho Sender: a@b"
    )
    assert ticks == [
        TickedItem(id="link_clicked", answer="yes, twice"),
        TickedItem(id="keep_message"),
        TickedItem(id="sender", answer="a@b"),
    ]
    with pytest.raises(TickFormError, match="one per line"):
        parse_done_comment("done keep_message\nand I also called the lead")


def test_answers_become_facts_only_when_they_change_something() -> None:
    state = ChecklistState.posted(checklist_for(SOPS, IncidentType.PHISHING), T0)
    facts = IncidentFacts(aware_at=T0, data_categories=("personal",))
    tick = ChecklistTick(by="ana", items=(TickedItem(id="credentials_entered", answer="Sí"),))
    state.apply(tick, T0)
    update = fact_update(state.item("credentials_entered"), "ana", facts, "SEV3")
    assert update is not None
    assert update.data_categories == ("personal", "credentials") and update.severity == "SEV2"
    # Already SEV1 with credentials known: nothing to change, and severity is never lowered.
    known = facts.model_copy(update={"data_categories": ("credentials",)})
    assert fact_update(state.item("credentials_entered"), "ana", known, "SEV1") is None
    with pytest.raises(ValueError, match="answer yes or no"):
        state.check_tick(
            ChecklistTick(by="ana", items=(TickedItem(id="credentials_entered", answer="?"),))
        )
    leak = ChecklistState.posted(checklist_for(SOPS, IncidentType.DATA_LEAKAGE), T0)
    leak.apply(
        ChecklistTick(
            by="ana",
            items=(
                TickedItem(id="how_many_records", answer="1,200"),
                TickedItem(id="what_data", answer="health, payment card"),
            ),
        ),
        T0,
    )
    count = fact_update(leak.item("how_many_records"), "ana", facts, "SEV3")
    assert count is not None and count.records_affected == 1200
    kinds = fact_update(leak.item("what_data"), "ana", facts, "SEV3")
    assert kinds is not None and kinds.data_categories == ("personal", "health", "payment_card")


def test_floor_language_and_english_fallback_is_shown() -> None:
    assert language_for(["US", "PH"]) is Language.EN
    assert language_for(["PH", "IN"]) is Language.TL
    assert language_for(["CO"]) is Language.ES
    state = ChecklistState.posted(checklist_for(SOPS, IncidentType.PHISHING, None, Language.ES), T0)
    text = render_checklist(state)
    assert "Pregunte a quien reporta" in text and "obligatorio antes de la contención" in text


def _view(incident_type: IncidentType, done: bool, minutes: int = 0) -> IncidentView:
    state = ChecklistState.posted(checklist_for(SOPS, incident_type), T0)
    if done:
        items = tuple(
            TickedItem(id=i.id, answer="no" if i.fact is not None else None) for i in state.required
        )
        state.apply(ChecklistTick(by="ana", items=items), T0 + timedelta(minutes=minutes))
    return IncidentView(
        incident_id=f"i-{incident_type.value}-{minutes}",
        workflow_id="wf",
        client="demo",
        state=IncidentState.ESCALATED,
        severity="SEV3",
        category=incident_type.value,
        aware_at=T0,
        received_at=T0,
        checklist=state,
    )


def test_metrics_and_report_show_completion_and_time_per_type() -> None:
    views = [
        _view(IncidentType.PHISHING, True, 20),
        _view(IncidentType.PHISHING, True, 40),
        _view(IncidentType.PHISHING, False),
        _view(IncidentType.SMISHING, False),
    ]
    figures = checklist_figures(views, durations)
    phishing = figures["phishing"]
    assert (phishing.posted, phishing.completed) == (3, 2)
    assert phishing.completion_pct == round(100 * 10 / 15, 1)
    assert phishing.time_to_complete.count == 2 and phishing.time_to_complete.median_s == 1800
    assert figures["smishing"].completion_pct == 0
    metrics = compute(views, now=T0 + timedelta(days=1), since=T0)
    assert metrics.checklists["phishing"].completed == 2
    assert "checklists" in metrics.summary()

    section = checklist_section(views[0], lambda at: at.isoformat() if at else "-")
    intro, table = section.blocks
    assert "5 of 5 required items done" in intro.text
    assert ["link_clicked", "questions", "yes", "contain"] == table.rows[0][:4]
