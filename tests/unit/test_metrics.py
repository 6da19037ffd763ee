"""Metrics over a fixed set of incidents, against figures worked out by hand."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from incident_desk.metrics_cli import render_html, render_table, visibility_query
from incidents.clocks import ClockStatus, ObligationClock, StageClock
from incidents.lifecycle import IncidentState, IncidentView, TimelineEntry
from incidents.metrics import compute, percentile
from incidents.report import Severity

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
S, M, H, D = (timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1))


def stage(
    due: timedelta | None, done: timedelta | None, base: datetime, **kw: object
) -> StageClock:
    status = kw.pop("status", ClockStatus.DONE if done is not None else ClockStatus.PENDING)
    return StageClock(
        stage=str(kw.pop("name", "initial")),
        status=status,
        trigger="aware",
        due_at=base + due if due is not None else None,
        done_at=base + done if done is not None else None,
    )


def obligation(oid: str, *stages: StageClock) -> ObligationClock:
    return ObligationClock(
        id=oid, name=oid, owed_by="us", jurisdiction="EU", instrument="x", stages=list(stages)
    )


def view(
    n: int,
    client: str,
    category: str,
    severity: Severity,
    channel: str,
    received: datetime,
    paged: list[timedelta] = (),  # type: ignore[assignment]
    ack: timedelta | None = None,
    resolved: timedelta | None = None,
    state: IncidentState = IncidentState.ESCALATED,
    obligations: list[ObligationClock] = (),  # type: ignore[assignment]
) -> IncidentView:
    timeline = [TimelineEntry(at=received, event="reported", detail=f"Reported by {channel}")]
    timeline += [
        TimelineEntry(at=received + p, event="paged", detail="On-call paged") for p in paged
    ]
    return IncidentView(
        incident_id=f"{client}-{n}",
        workflow_id=f"incident-{client}-{n}",
        client=client,
        state=state,
        severity=severity,
        category=category,
        aware_at=received,
        received_at=received,
        acknowledged_at=received + ack if ack else None,
        resolved_at=received + resolved if resolved else None,
        obligations=list(obligations),
        timeline=timeline,
    )


def incidents() -> list[IncidentView]:
    a, b, c, d, e = T0, T0 + D, T0 + D + 3 * H, T0 + 2 * D, T0 + 2 * D + 5 * H
    return [
        view(
            1,
            "demo",
            "phishing",
            Severity.SEV2,
            "phone",
            a,
            [30 * S],
            5 * M,
            2 * H,
            IncidentState.RESOLVED,
            [
                obligation("contract_demo_processor_to_controller", stage(24 * H, 1 * H, a)),
                obligation("gdpr_art33", stage(72 * H, 80 * H, a)),  # done 8 h late
            ],
        ),
        view(
            2,
            "demo",
            "lost_device",
            Severity.SEV3,
            "email",
            b,
            [60 * S],
            10 * M,
            obligations=[
                obligation("contract_demo_processor_to_controller", stage(24 * H, None, b)),
                obligation("nis2", stage(30 * D, None, b)),  # not yet due on NOW: open
            ],
        ),
        view(
            3,
            "nordlicht-bank",
            "phishing",
            Severity.SEV1,
            "phone",
            c,
            [10 * S, 15 * M],
            2 * M,
            1 * H,
            IncidentState.RESOLVED,
            [
                obligation(
                    "contract_nordlicht-bank_processor_to_controller", stage(4 * H, 3 * H, c)
                ),
                obligation(
                    "dora",
                    stage(4 * H, None, c, status=ClockStatus.CANCELLED),
                    stage(None, None, c, name="final", status=ClockStatus.WAITING_TRIGGER),
                ),
            ],
        ),
        view(4, "acme", "other", Severity.SEV4, "chat", d, state=IncidentState.FALSE_ALARM),
        view(
            5,
            "demo",
            "phishing",
            Severity.SEV2,
            "monitoring",
            e,
            [20 * S],
            30 * M,
            4 * H,
            IncidentState.RESOLVED,
            [obligation("gdpr_art33", stage(72 * H, 48 * H, e))],
        ),
    ]


def test_percentile_is_nearest_rank() -> None:
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile(list(range(20, 0, -1)), 0.9) == 18
    assert percentile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_figures_match_hand_computed_values() -> None:
    m = compute(incidents(), now=NOW, since=T0 - D)

    assert m.incidents == 5
    assert m.by_type == {"phishing": 3, "lost_device": 1, "other": 1}
    assert m.by_severity == {"SEV1": 1, "SEV2": 2, "SEV3": 1, "SEV4": 1}
    assert m.by_client == {"demo": 3, "acme": 1, "nordlicht-bank": 1}
    assert m.by_channel == {"phone": 2, "chat": 1, "email": 1, "monitoring": 1}
    assert (m.false_alarms, m.false_alarm_pct) == (1, 20.0)
    assert m.per_day == {date(2026, 3, 2): 1, date(2026, 3, 3): 2, date(2026, 3, 4): 2}

    # first page only: 10, 20, 30, 60 s -> median (20+30)/2, p90 = 4th of 4
    assert (m.time_to_page.count, m.time_to_page.median_s, m.time_to_page.p90_s) == (4, 25, 60)
    # 120, 300, 600, 1800 s
    assert (m.time_to_ack.count, m.time_to_ack.median_s, m.time_to_ack.p90_s) == (4, 450, 1800)
    # 3600, 7200, 14400 s -> p90 = ceil(2.7) = 3rd
    assert (m.time_to_resolve.median_s, m.time_to_resolve.p90_s) == (7200, 14400)

    # contract notice: #1 met, #2 overdue and not done, #3 met
    n = m.client_notification
    assert (n.met, n.missed, n.open, n.met_pct) == (2, 1, 0, 66.7)
    # regulatory: #1 late, #2 not yet due, #3 cancelled and no-deadline stages left out, #5 met
    r = m.regulatory
    assert (r.met, r.missed, r.open, r.met_pct) == (1, 1, 1, 50.0)
    assert [(b.incident_id, b.obligation, b.done_at) for b in m.breaches] == [
        ("demo-1", "gdpr_art33", T0 + 80 * H)
    ]


def test_nothing_settled_is_not_reported_as_compliant() -> None:
    m = compute([], now=NOW, since=T0)
    assert m.incidents == 0 and m.false_alarm_pct is None
    assert m.client_notification.met_pct is None and m.time_to_page.median_s is None
    assert "Incidents" in render_table(m)


def test_renderings() -> None:
    m = compute(incidents(), now=NOW, since=T0 - D, client=None)
    table = render_table(m)
    assert "median 25.0s, p90 60.0s (n=4)" in table
    assert "66.7% met (2 met, 1 missed, 0 open)" in table
    data = json.loads(json.dumps(m.summary()))
    assert data["client_notification"]["met_pct"] == 66.7
    assert "samples_s" not in data["time_to_ack"]
    assert data["per_day"]["2026-03-03"] == 2

    page = render_html(m)
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http" not in page  # self-contained: nothing fetched when opened


def test_visibility_query_refuses_injection() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    assert visibility_query(since, "demo") == (
        "WorkflowType = 'IncidentWorkflow' AND StartTime > '2026-03-01T00:00:00Z' "
        "AND IncidentClient = 'demo'"
    )
    with pytest.raises(ValueError):
        visibility_query(since, "demo' OR 1=1")


def test_time_to_triage_and_to_containment() -> None:
    """Triage counts validations and dismissals alike; containment only where it was recorded."""
    views = [
        view(1, "acme", "phishing", Severity.SEV2, "phone", T0),
        view(2, "acme", "phishing", Severity.SEV2, "phone", T0),
        view(3, "acme", "phishing", Severity.SEV2, "phone", T0, state=IncidentState.FALSE_ALARM),
        view(4, "acme", "phishing", Severity.SEV2, "phone", T0),
    ]
    views[0].triaged_at, views[0].contained_at = T0 + 10 * M, T0 + 2 * H
    views[1].triaged_at, views[1].contained_at = T0 + 30 * M, T0 + 5 * H
    views[2].triaged_at = T0 + 20 * M
    m = compute(views, now=NOW, since=T0)
    assert m.time_to_triage.count == 3
    assert m.time_to_triage.median_s == (20 * M).total_seconds()
    assert m.time_to_triage.p90_s == (30 * M).total_seconds()
    assert m.time_to_contain.count == 2
    assert m.time_to_contain.median_s == (3.5 * H).total_seconds()
    summary = m.summary()
    assert "samples_s" not in summary["time_to_triage"]
    assert "Time to triage" in render_table(m) and "Time to contain" in render_table(m)
