"""False alarms end CLOSED: the rate is counted from the dismissal, in the metrics table and in
the weekly digest alike. Figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incident_desk.metrics_cli import render_table
from incidents.digest import build_digest, render_digest
from incidents.lifecycle import IncidentState, IncidentView
from incidents.metrics import compute
from incidents.report import Severity

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def view(n: int, state: IncidentState, dismissed_by: str | None = None) -> IncidentView:
    return IncidentView(
        incident_id=f"demo-{n}",
        workflow_id=f"incident-demo-{n}",
        client="demo",
        state=state,
        severity=Severity.SEV3,
        category="phishing",
        aware_at=T0,
        received_at=T0 + timedelta(hours=n),
        false_alarm_by=dismissed_by,
        false_alarm_reason="the bank's real newsletter" if dismissed_by else None,
    )


# 8 reports: 3 dismissed and closed, 1 closed after a real incident, 4 still open.
VIEWS = [
    view(1, IncidentState.CLOSED, "ana"),
    view(2, IncidentState.CLOSED, "bob"),
    view(3, IncidentState.CLOSED, "ana"),
    view(4, IncidentState.CLOSED),
    view(5, IncidentState.ESCALATED),
    view(6, IncidentState.TRIAGE),
    view(7, IncidentState.REVIEW),
    view(8, IncidentState.CONTAINED),
]


def test_closed_false_alarms_are_counted_from_the_dismissal() -> None:
    m = compute(VIEWS, now=T0 + timedelta(days=1), since=T0)
    assert (m.incidents, m.false_alarms, m.false_alarm_pct) == (8, 3, 37.5)  # 3 / 8
    assert m.by_state == {"CLOSED": 4, "CONTAINED": 1, "ESCALATED": 1, "REVIEW": 1, "TRIAGE": 1}
    assert "3 (37.5%)" in render_table(m)


def test_digest_shows_the_false_alarm_rate() -> None:
    digest = build_digest(
        client="demo",
        client_name="Demo Ltd",
        timezone="UTC",
        since=T0,
        until=T0 + timedelta(days=7),
        period_views=VIEWS,
        open_views=VIEWS,
    )
    _, body = render_digest(digest)
    assert "False alarms:                  3 (37.5% of reports)" in body
    assert [i.incident_id for i in digest.open_incidents] == [f"demo-{n}" for n in (5, 6, 7, 8)]
