"""The incident report and the regulator drafts, rendered from views built by the real rules.

The views here are assembled from the obligation rules' own answer (`clocks_from` over
`obligations_for`), so the figures checked are the product's; the workflow-driven version of
these checks is tests/workflows/test_report_lifecycle.py.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from activities.obligations import ObligationRequest, assess
from incidents.clocks import ClockStatus, clocks_from
from incidents.documents import md_escape, render, render_html, render_markdown, safe_url
from incidents.facts import IncidentFacts
from incidents.lifecycle import IncidentState, IncidentView, Page, TimelineEntry
from incidents.notification_drafts import (
    AUTHORITY_RECIPIENTS,
    OTHER_RECIPIENTS,
    drafts_document,
    drafts_for,
    required_content,
)
from incidents.policy import load_policy
from incidents.regimes import load_catalogue
from incidents.report import IncidentReport, StartIncident
from incidents.report_export import Clock, ReportLinks, build_report, duration, stage_outcome

REPO = Path(__file__).resolve().parents[2]
POLICY = load_policy(REPO / "policies" / "clients" / "nordlicht-bank.yaml")
GDPR = "eu_gdpr_art33_authority"
AWARE = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # Friday before the EU DST change
LINKS = ReportLinks(
    temporal_ui="http://127.0.0.1:8233", namespace="default", jira_base_url="http://jira.test"
)
INJECTED = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def start(summary: str = "Customer list emailed to the wrong address") -> StartIncident:
    report = IncidentReport.model_validate(
        {
            "client": "nordlicht-bank",
            "summary": summary,
            "description": f"Agent sent a sheet of customers outside. {INJECTED}",
            "channel": "email",
            "reporter": {"name": "Team lead 7", "contact": "lead7@bpo.example"},
            "aware_at": AWARE.isoformat(),
            "category": "misdirected_disclosure",
            "external_ref": "CALL-77",
        }
    )
    return StartIncident(incident_id="nordlicht-bank-CALL-77", report=report, received_at=AWARE)


def view(*, done_on_time: bool = True, records: int | None = None) -> IncidentView:
    facts = IncidentFacts(
        aware_at=AWARE,
        jurisdictions=("DE",),
        data_categories=("personal",),
        records_affected=records,
        client="nordlicht-bank",
        incident_type="misdirected_disclosure",
    )
    report = assess(ObligationRequest(facts=facts, policy=POLICY))
    obligations, _ = clocks_from(report, [], AWARE)
    gdpr = next(c for c in obligations if c.id == GDPR)
    initial = gdpr.stage("initial")
    assert initial is not None and initial.due_at == AWARE + timedelta(hours=72)
    initial.status = ClockStatus.DONE
    initial.done_at = AWARE + (timedelta(hours=30) if done_on_time else timedelta(hours=80))
    initial.done_by = "client.dpo"
    initial.reference = "BfDI-2026-0042"
    ack = AWARE + timedelta(minutes=7, seconds=30)
    return IncidentView(
        incident_id="nordlicht-bank-CALL-77",
        workflow_id="incident-nordlicht-bank-CALL-77",
        client="nordlicht-bank",
        state=IncidentState.CLOSED,
        severity="SEV2",
        category="misdirected_disclosure",
        aware_at=AWARE,
        received_at=AWARE,
        jira_key="SEC-42",
        page_dedup_key="incident-nordlicht-bank-CALL-77",
        acknowledged_by="ana.oncall",
        acknowledged_at=ack,
        acknowledged_via="pagerduty",
        resolved_by="ana.oncall",
        resolved_at=AWARE + timedelta(hours=50),
        pages=[
            Page(
                dedup_key="incident-nordlicht-bank-CALL-77",
                level=1,
                targets=["bpo-soc-oncall"],
                paged_at=AWARE + timedelta(seconds=5),
                status="resolved",
            )
        ],
        facts=facts,
        obligations=obligations,
        timeline=[
            TimelineEntry(at=AWARE, event="reported", detail="Reported by email"),
            TimelineEntry(
                at=AWARE + timedelta(seconds=5), event="paged", detail="Level 1 paged at SEV2"
            ),
            TimelineEntry(
                at=ack, event="acknowledged", detail="On it via pagerduty", by="ana.oncall"
            ),
            TimelineEntry(
                at=AWARE + timedelta(hours=50),
                event="resolved",
                detail=f"Recipient confirmed deletion {INJECTED}",
                by="ana.oncall",
            ),
        ],
    )


NOW = AWARE + timedelta(days=5)


def report_text(fmt: str, **kwargs: object) -> str:
    document = build_report(
        view(**kwargs),  # type: ignore[arg-type]
        now=NOW,
        links=LINKS,
        policy=POLICY,
        catalogue=load_catalogue(),
        start=start(),
    )
    return render(document, fmt).decode()  # type: ignore[arg-type]


def test_markdown_report_has_every_section_and_the_figures() -> None:
    text = report_text("md")
    for heading in (
        "## Summary",
        "## Classification and severity",
        "## Timeline",
        "## Paging and acknowledgement",
        "## Client notifications",
        "## Reporting obligations",
        "## Decisions",
        "## Links",
    ):
        assert heading in text, heading
    # Instants in UTC and in Berlin time (CET before the DST change, CEST after it).
    assert "2026-03-27 09:00:00 UTC" in text and "2026-03-27 10:00:00 CET (+01:00)" in text
    assert "2026-03-30 09:00:00 UTC" in text  # the GDPR deadline, 72 h after awareness
    assert "2026-03-30 11:00:00 CEST (+02:00)" in text
    assert "Time to acknowledge**: 7m 30s" in text
    assert "Time to resolve**: 2d 2h 00m" in text
    assert "met (1d 18h 00m before the deadline)" in text
    assert "client.dpo / BfDI\\-2026\\-0042" in text or "client.dpo / BfDI-2026-0042" in text
    assert "<http://jira.test/browse/SEC-42>" in text
    assert (
        "<http://127.0.0.1:8233/namespaces/default/workflows/incident-nordlicht-bank-CALL-77>"
        in text
    )
    assert "SEV2: the client policy's default severity (SEV2); the report gave none" in text
    assert "lead7@bpo.example" not in text  # reporter contact stays in the workflow
    # the contract's 2-hour notice to the client appears among client notifications
    client_part = text.split("## Client notifications")[1].split("## Reporting obligations")[0]
    assert "contract_nordlicht-bank_processor_to_controller".replace("_", "\\_") in text
    assert "Jonas Weber (Data Protection Officer)" in client_part


def test_a_late_stage_reads_missed() -> None:
    text = report_text("md", done_on_time=False)
    assert "missed: done 8h 00m late" in text


def test_markdown_escapes_markup() -> None:
    text = report_text("md")
    assert not re.search(r"(?<!\\)<(?!http)", text), "an unescaped tag opener"
    assert "\\<script\\>" in text
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"


def test_html_escapes_injected_markup_and_is_self_contained() -> None:
    text = report_text("html")
    assert "<script" not in text.lower()
    assert "<img" not in text.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    tags = re.findall(r"<[^>]*>", text)
    assert not [t for t in tags if re.search(r"\s(src|on\w+)=", t)]
    hrefs = [h for t in tags for h in re.findall(r'href="([^"]*)"', t)]
    assert hrefs and all(
        h.startswith(("http://jira.test/", "http://127.0.0.1:8233/")) for h in hrefs
    )
    assert "@page" in text and "@media print" in text
    for heading in ("Summary", "Timeline", "Reporting obligations", "Decisions", "Links"):
        assert f"<h2>{heading}" in text


def test_links_are_only_http() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url('http://x.test/" onmouseover="x') is None
    assert safe_url("https://jira.example/browse/SEC-1") == "https://jira.example/browse/SEC-1"
    links = ReportLinks(temporal_ui="javascript:alert(1)//", namespace="default")
    document = build_report(view(), now=NOW, links=links, policy=POLICY, start=start())
    assert "javascript:" not in render_html(document)
    assert "javascript:" not in render_markdown(document)


def test_pdf_text_reads_back() -> None:
    pdf = render(
        build_report(
            view(),
            now=NOW,
            links=LINKS,
            policy=POLICY,
            catalogue=load_catalogue(),
            start=start(),
        ),
        "pdf",
    )
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    assert "Incident report nordlicht-bank-CALL-77" in flat
    assert "Reporting obligations" in flat and "Timeline" in flat
    assert "2026-03-30 09:00:00 UTC" in flat
    assert "BfDI-2026-0042" in flat
    assert "ana.oncall" in flat


def test_pdf_survives_any_text() -> None:
    document = build_report(
        view(),
        now=NOW,
        links=LINKS,
        policy=POLICY,
        start=start(summary="Ünïcödé — 顧客 \u202e reversed \x07 bell " + "x" * 200),
    )
    assert render(document, "pdf").startswith(b"%PDF")


def test_stage_outcomes_and_durations() -> None:
    v = view()
    gdpr = next(c for c in v.obligations if c.id == GDPR)
    initial = gdpr.stage("initial")
    assert initial is not None
    assert stage_outcome(initial, NOW).startswith("met")
    pending = initial.model_copy(update={"status": ClockStatus.PENDING, "done_at": None})
    assert stage_outcome(pending, AWARE + timedelta(hours=1)) == "open: due in 2d 23h 00m"
    assert (
        stage_outcome(pending, AWARE + timedelta(hours=73)) == "missed: overdue by 1h 00m, not done"
    )
    assert duration(timedelta(seconds=59)) == "0m 59s"
    assert Clock("Asia/Manila").local(AWARE) == "2026-03-27 17:00:00 PST (+08:00)"


# --- drafts ---------------------------------------------------------------------------------


def test_every_catalogue_recipient_is_classified_and_has_content() -> None:
    catalogue = load_catalogue()
    recipients = {r for regime in catalogue.obligations for r in regime.recipient}
    assert recipients <= AUTHORITY_RECIPIENTS | OTHER_RECIPIENTS, recipients - (
        AUTHORITY_RECIPIENTS | OTHER_RECIPIENTS
    )
    content = required_content()
    assert {r.id for r in catalogue.obligations} <= set(content)
    assert all(content[r.id] for r in catalogue.obligations)


def test_gdpr_draft_fills_facts_and_asks_for_the_rest() -> None:
    v = view(records=None)
    drafts = drafts_for(v, catalogue=load_catalogue(), now=AWARE, policy=POLICY, start=start())
    ids = [d.obligation_id for d in drafts]
    assert GDPR in ids
    assert "eu_gdpr_art33_processor_to_controller" not in ids  # to the controller: no draft
    gdpr = next(d for d in drafts if d.obligation_id == GDPR)
    assert len(gdpr.items) == len(required_content()[GDPR])
    nature, records, contact, consequences, measures = gdpr.items
    assert "Summary: Customer list emailed to the wrong address" in nature.answers
    assert "Approximately how many people (data subjects) are affected?" in nature.questions
    assert "Categories of data: personal" in records.answers
    assert "Approximately how many personal data records are concerned?" in records.questions
    assert contact.answers == [
        "Contact point: Jonas Weber (Data Protection Officer), dpo@nordlicht-bank.example, "
        "+496955501010"
    ]
    assert consequences.answers == []
    assert consequences.questions == ["What are the likely consequences for the people affected?"]
    assert any("Recipient confirmed deletion" in a for a in measures.answers)
    # Nothing is invented: no count appears anywhere in the draft's answers.
    assert not any(re.search(r"People affected: \d", a) for i in gdpr.items for a in i.answers)

    text = render_markdown(drafts_document(v, drafts, now=AWARE, policy=POLICY))
    assert "QUESTION: Approximately how many people (data subjects) are affected?" in text
    assert "Questions to answer before sending" in text
    html = render_html(drafts_document(v, drafts, now=AWARE, policy=POLICY))
    assert "<script" not in html


def test_a_counted_incident_is_not_asked_its_count() -> None:
    v = view(records=40)
    drafts = drafts_for(v, catalogue=load_catalogue(), now=AWARE, policy=POLICY, start=start())
    gdpr = next(d for d in drafts if d.obligation_id == GDPR)
    assert "People affected: 40" in gdpr.items[0].answers
    assert not any("how many people" in q for q in gdpr.questions)


@pytest.mark.parametrize("fmt", ["md", "html", "pdf"])
def test_a_fresh_incident_without_facts_renders(fmt: str) -> None:
    bare = IncidentView(
        incident_id="demo-1",
        workflow_id="incident-demo-1",
        client="demo",
        state=IncidentState.REPORTED,
        severity="SEV3",
        category="unclassified",
        aware_at=AWARE,
        received_at=AWARE,
    )
    document = build_report(bare, now=AWARE, links=LINKS)
    assert render(document, fmt)  # type: ignore[arg-type]
    assert drafts_for(bare, catalogue=load_catalogue(), now=AWARE) == []


def test_client_notices_and_their_acknowledgement_are_evidence() -> None:
    notification = pytest.importorskip("incidents.notification")
    sent = AWARE + timedelta(minutes=3)
    record = notification.ClientNotification(
        recipients=["dpo@nordlicht-bank.example"],
        notices=[
            notification.SentNotice(
                kind="notification",
                to="dpo@nordlicht-bank.example",
                name="Jonas Weber",
                language="de",
                message_id="<n1@incident-desk>",
                sent_at=sent,
            )
        ],
        acknowledgement=notification.ClientAcknowledgement(
            contact="dpo@nordlicht-bank.example",
            channel="link",
            message_id="<n1@incident-desk>",
            at=sent + timedelta(minutes=20),
        ),
    )
    v = view().model_copy(update={"client_notification": record})
    text = render_markdown(build_report(v, now=NOW, links=LINKS, policy=POLICY))
    part = text.split("## Client notifications")[1].split("## Reporting obligations")[0]
    assert "\\<n1@incident-desk\\>" in part
    assert "2026-03-27 09:03:00 UTC" in part
    assert "**Client acknowledged**: by dpo@nordlicht-bank.example" in part
    assert "2026-03-27 09:23:00 UTC" in part
