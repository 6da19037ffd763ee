"""The digest's content from hand-built incident views: what is open, what is due, in which zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents.clocks import ClockStatus, ObligationClock, StageClock
from incidents.digest import (
    UPCOMING_HORIZON,
    build_digest,
    digest_issue_label,
    digest_week,
    render_digest,
    render_digest_jira,
)
from incidents.lifecycle import IncidentState, IncidentView
from incidents.report import Severity

UNTIL = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=7)


def view(
    ref: str, state: IncidentState, severity: Severity, received: datetime, **more
) -> IncidentView:
    return IncidentView(
        incident_id=f"acme-{ref}",
        workflow_id=f"incident-acme-{ref}",
        client="acme",
        state=state,
        severity=severity,
        category="phishing",
        aware_at=received,
        received_at=received,
        **more,
    )


def stage(name: str, status: ClockStatus, due: datetime | None) -> StageClock:
    return StageClock(stage=name, status=status, trigger="awareness", due_at=due)


def gdpr(*stages: StageClock) -> ObligationClock:
    return ObligationClock(
        id="eu_gdpr_art33_authority",
        name="GDPR Art. 33 notice to the authority",
        owed_by="controller",
        jurisdiction="EU",
        instrument="GDPR",
        stages=list(stages),
    )


def test_open_incidents_and_deadlines_within_the_horizon_only() -> None:
    old_open = view(
        "OLD",
        IncidentState.ESCALATED,
        Severity.SEV2,
        SINCE - timedelta(days=20),
        jira_key="SEC-1",
        obligations=[
            gdpr(
                stage("initial", ClockStatus.BREACHED, UNTIL - timedelta(hours=5)),
                stage("final", ClockStatus.PENDING, UNTIL + UPCOMING_HORIZON + timedelta(hours=1)),
            )
        ],
    )
    new_open = view(
        "NEW",
        IncidentState.CONTAINED,
        Severity.SEV1,
        UNTIL - timedelta(days=1),
        obligations=[
            gdpr(
                stage("initial", ClockStatus.PENDING, UNTIL + timedelta(hours=30)),
                stage("done", ClockStatus.DONE, UNTIL + timedelta(hours=2)),
            )
        ],
    )
    closed = view("SHUT", IncidentState.CLOSED, Severity.SEV3, UNTIL - timedelta(days=2))
    digest = build_digest(
        client="acme",
        client_name="Acme Bank",
        timezone="Asia/Manila",
        since=SINCE,
        until=UNTIL,
        period_views=[new_open, closed],
        open_views=[old_open, new_open, closed],
        unreadable=["incident-acme-LOST"],
    )
    assert digest.metrics.incidents == 2
    assert [i.incident_id for i in digest.open_incidents] == ["acme-NEW", "acme-OLD"]  # SEV1 first
    assert [(u.incident_id, u.stage, u.overdue) for u in digest.upcoming] == [
        ("acme-OLD", "initial", True),
        ("acme-NEW", "initial", False),
    ]
    assert digest.metrics.time_to_page.samples_s == []

    subject, body = render_digest(digest)
    assert subject == "Weekly security incident digest: Acme Bank, 2026-11-23 to 2026-11-30"
    # 08:00 UTC is 16:00 in Manila (UTC+8, no daylight saving).
    assert "2026-11-30 08:00 UTC (Mon 30 Nov 16:00 Asia/Manila)" in body
    assert "OVERDUE, due 2026-11-30 03:00 UTC" in body
    assert "acme-SHUT" not in body.split("OPEN INCIDENTS")[1].split("REPORTING")[0]
    assert "NOT COUNTED: 1 incident(s)" in body and "incident-acme-LOST" in body

    summary, wiki = render_digest_jira(digest)
    # SINCE is Mon 23 Nov 08:00 UTC, 16:00 in Manila: the week of Monday 23 November.
    assert summary == "Security incident digest — Acme Bank — week of 2026-11-23"
    assert "|Incidents reported|2|" in wiki
    assert "|acme-NEW|none yet|SEV1|" in wiki and "|acme-OLD|SEC-1|SEV2|" in wiki
    assert "|*OVERDUE* 2026-11-30 03:00 UTC (Mon 30 Nov 11:00 Asia/Manila)|" in wiki
    assert "acme-SHUT" not in wiki.split("h2. Open incidents")[1]
    assert "Not counted: 1 incident(s)" in wiki and "incident-acme-LOST" in wiki


def test_the_digest_week_is_the_clients_calendar_week_of_the_period_start() -> None:
    def week_of(since: datetime, zone: str) -> str:
        digest = build_digest(
            client="acme",
            client_name="Acme",
            timezone=zone,
            since=since,
            until=since + timedelta(days=7),
            period_views=[],
            open_views=[],
        )
        return f"{digest_week(digest):%Y-%m-%d} {digest_issue_label(digest)}"

    # Sunday 29 Nov 20:00 UTC is already Monday 30 Nov 04:00 in Manila, but Sunday in Dublin.
    sunday_evening = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
    assert week_of(sunday_evening, "Asia/Manila") == (
        "2026-11-30 incident-desk-digest-acme-2026-11-30"
    )
    assert week_of(sunday_evening, "Europe/Dublin").startswith("2026-11-23 ")
    # A re-run later in the week keys the same issue as the Monday run.
    assert week_of(SINCE + timedelta(days=3, hours=5), "UTC") == week_of(SINCE, "UTC")


def test_a_quiet_week_says_so() -> None:
    digest = build_digest(
        client="acme",
        client_name="Acme Bank",
        timezone="UTC",
        since=SINCE,
        until=UNTIL,
        period_views=[],
        open_views=[],
    )
    _, body = render_digest(digest)
    assert "Incidents reported:            0" in body
    assert body.count("  None.") == 2
    assert "no stage settled" in body
