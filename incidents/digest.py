"""The weekly digest a client's security contacts get: the week in figures, what is still open,
and which reporting deadlines come next.

Built from the same records as `incident-desk metrics` and the incident report (each workflow's
`IncidentView`), so a figure in the email can be traced to the incidents behind it. Pure: the
period and the views come in as arguments. It names incidents by id, ticket, type and severity
only: no reporter, no free text, because the email and the Jira issue in the client's reporting
project leave the BPO, and the digest itself sits in the digest workflow's history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from incidents.clocks import OPEN
from incidents.lifecycle import IncidentState, IncidentView
from incidents.metrics import Durations, Metrics, compute, type_of

# Deadlines further out than this are left to next week's digest.
UPCOMING_HORIZON = timedelta(days=14)
CLOSED_STATES = frozenset({IncidentState.CLOSED, IncidentState.FALSE_ALARM})


class DigestIncident(BaseModel):
    incident_id: str
    jira_key: str | None = None
    severity: str
    incident_type: str
    state: str
    received_at: datetime
    next_deadline: datetime | None = None
    deadline_breached: bool = False


class UpcomingDeadline(BaseModel):
    incident_id: str
    jira_key: str | None = None
    obligation: str
    stage: str
    due_at: datetime
    overdue: bool = Field(description="Past due at the end of the period and still not done")


class ClientDigest(BaseModel):
    client: str
    client_name: str
    timezone: str = "UTC"
    since: datetime
    until: datetime
    metrics: Metrics
    open_incidents: list[DigestIncident]
    upcoming: list[UpcomingDeadline]
    unreadable: list[str] = Field(
        default_factory=list, description="Workflows whose state could not be read: not counted"
    )


def _without_samples(metrics: Metrics) -> Metrics:
    """The raw samples feed charts only; the digest's history need not carry them."""
    update = {
        name: Durations(**getattr(metrics, name).model_dump(exclude={"samples_s"}))
        for name in ("time_to_page", "time_to_ack", "time_to_resolve")
    }
    return metrics.model_copy(update=update)


def build_digest(
    *,
    client: str,
    client_name: str,
    timezone: str,
    since: datetime,
    until: datetime,
    period_views: list[IncidentView],
    open_views: list[IncidentView],
    unreadable: list[str] | None = None,
) -> ClientDigest:
    """`period_views`: incidents received in [since, until); `open_views`: every incident of the
    client still running at `until`, however old (an open incident from last month matters more
    this week than a closed one)."""
    still_open = [v for v in open_views if v.state not in CLOSED_STATES]
    upcoming: list[UpcomingDeadline] = []
    for view in still_open:
        for obligation in view.obligations:
            for stage in obligation.stages:
                if stage.status not in OPEN or stage.due_at is None:
                    continue
                if stage.due_at > until + UPCOMING_HORIZON:
                    continue
                upcoming.append(
                    UpcomingDeadline(
                        incident_id=view.incident_id,
                        jira_key=view.jira_key,
                        obligation=obligation.name,
                        stage=stage.stage,
                        due_at=stage.due_at,
                        overdue=stage.due_at <= until,
                    )
                )
    return ClientDigest(
        client=client,
        client_name=client_name,
        timezone=timezone,
        since=since,
        until=until,
        metrics=_without_samples(compute(period_views, now=until, since=since, client=client)),
        open_incidents=[
            DigestIncident(
                incident_id=v.incident_id,
                jira_key=v.jira_key,
                severity=str(v.severity),
                incident_type=type_of(v),
                state=str(v.state),
                received_at=v.received_at,
                next_deadline=v.next_deadline,
                deadline_breached=v.deadline_breached,
            )
            for v in sorted(still_open, key=lambda v: (str(v.severity), v.received_at))
        ],
        upcoming=sorted(upcoming, key=lambda u: u.due_at),
        unreadable=sorted(unreadable or []),
    )


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _pct(value: float | None) -> str:
    return "no stage settled" if value is None else f"{value:.1f}% met"


def render_digest(digest: ClientDigest) -> tuple[str, str]:
    """Subject and plain-text body. Instants in UTC and the client's own time zone, since the
    reader checks them against their own regulator's clock."""
    zone = ZoneInfo(digest.timezone)

    def when(instant: datetime) -> str:
        local = instant.astimezone(zone)
        return f"{instant:%Y-%m-%d %H:%M} UTC ({local:%a %d %b %H:%M} {digest.timezone})"

    m = digest.metrics
    week = f"{digest.since:%Y-%m-%d} to {digest.until:%Y-%m-%d}"
    subject = f"Weekly security incident digest: {digest.client_name}, {week}"
    lines = [
        f"Security incidents handled for {digest.client_name} ({digest.client})",
        f"Period: {when(digest.since)} to {when(digest.until)}",
        "",
        "THE WEEK IN FIGURES",
        f"  Incidents reported:            {m.incidents}",
        f"  False alarms:                  {m.false_alarms}"
        + (f" ({m.false_alarm_pct:.1f}% of reports)" if m.false_alarm_pct is not None else ""),
        "  By severity:                   "
        + (", ".join(f"{k} {v}" for k, v in m.by_severity.items()) or "none"),
        "  By type:                       "
        + (", ".join(f"{k} {v}" for k, v in m.by_type.items()) or "none"),
        f"  Time to page (median / p90):   {_minutes(m.time_to_page.median_s)} / "
        f"{_minutes(m.time_to_page.p90_s)}",
        f"  Time to acknowledge (median):  {_minutes(m.time_to_ack.median_s)}",
        f"  Time to resolve (median):      {_minutes(m.time_to_resolve.median_s)}",
        f"  Client notification SLA:       {_pct(m.client_notification.met_pct)} "
        f"({m.client_notification.met} met, {m.client_notification.missed} missed)",
        f"  Regulatory stages:             {_pct(m.regulatory.met_pct)} "
        f"({m.regulatory.met} met, {m.regulatory.missed} missed)",
        "",
        f"OPEN INCIDENTS ({len(digest.open_incidents)})",
    ]
    if not digest.open_incidents:
        lines.append("  None.")
    for incident in digest.open_incidents:
        ticket = incident.jira_key or "no ticket yet"
        line = (
            f"  {incident.incident_id} [{ticket}] {incident.severity} {incident.incident_type}, "
            f"{incident.state}, reported {when(incident.received_at)}"
        )
        if incident.deadline_breached:
            line += ", A DEADLINE WAS MISSED"
        lines.append(line)
    lines += ["", f"REPORTING DEADLINES IN THE NEXT {UPCOMING_HORIZON.days} DAYS"]
    if not digest.upcoming:
        lines.append("  None.")
    for deadline in digest.upcoming:
        status = "OVERDUE, " if deadline.overdue else ""
        lines.append(
            f"  {status}due {when(deadline.due_at)}: {deadline.obligation} / {deadline.stage} "
            f"({deadline.incident_id}{', ' + deadline.jira_key if deadline.jira_key else ''})"
        )
    if m.breaches:
        lines += ["", "MISSED REGULATORY STAGES THIS WEEK"]
        lines += [
            f"  {b.incident_id}: {b.obligation} / {b.stage}, due {when(b.due_at)}"
            for b in m.breaches
        ]
    if digest.unreadable:
        lines += [
            "",
            f"NOT COUNTED: {len(digest.unreadable)} incident(s) whose state could not be read "
            f"when this digest was made: {', '.join(digest.unreadable)}",
        ]
    lines += [
        "",
        "Figures are medians over the incidents reported in the period; the full incident "
        "reports are available from your Incident Desk contact.",
    ]
    return subject, "\n".join(lines) + "\n"


# -- the same digest as a Jira issue in the client's reporting project ----------------------------

DIGEST_LABEL = "incident-desk-digest"
# `incident-desk` too, as on every issue Incident Desk creates: where the reporting project is also
# the incident project, the Jira webhook then knows the digest is not an agent logging a call.
DIGEST_LABELS = ("incident-desk", DIGEST_LABEL)


def digest_week(digest: ClientDigest) -> date:
    """The Monday of the week the period starts in, on the client's calendar: the issue's key.

    A run starts `period` after the period's start; a re-run later the same week (`incident-desk
    digest send`, a retried schedule) starts in the same week and so finds the same issue."""
    local = digest.since.astimezone(ZoneInfo(digest.timezone)).date()
    return local - timedelta(days=local.weekday())


def digest_issue_label(digest: ClientDigest) -> str:
    """One label per client and week: readable in Jira, and what a retry looks the issue up by."""
    return f"{DIGEST_LABEL}-{digest.client}-{digest_week(digest):%Y-%m-%d}"


def _wiki(text: str) -> str:
    """Escape what would break a wiki-markup table or start a link or macro in a name we did not
    write (a client's display name)."""
    for char in "\\|[]{}":
        text = text.replace(char, "\\" + char)
    return text


def render_digest_jira(digest: ClientDigest) -> tuple[str, str]:
    """Summary and Jira wiki-markup description (REST v2 `description` is wiki markup): the same
    figures, lists and privacy rule as the email, as tables a Jira reader can sort by eye."""
    zone = ZoneInfo(digest.timezone)

    def when(instant: datetime) -> str:
        local = instant.astimezone(zone)
        return f"{instant:%Y-%m-%d %H:%M} UTC ({local:%a %d %b %H:%M} {digest.timezone})"

    m = digest.metrics
    summary = (
        f"Security incident digest — {digest.client_name} — week of {digest_week(digest):%Y-%m-%d}"
    )
    rows = [
        ("Incidents reported", str(m.incidents)),
        (
            "False alarms",
            f"{m.false_alarms}"
            + (f" ({m.false_alarm_pct:.1f}% of reports)" if m.false_alarm_pct is not None else ""),
        ),
        ("By severity", ", ".join(f"{k} {v}" for k, v in m.by_severity.items()) or "none"),
        ("By type", ", ".join(f"{k} {v}" for k, v in m.by_type.items()) or "none"),
        (
            "Time to page (median / p90)",
            f"{_minutes(m.time_to_page.median_s)} / {_minutes(m.time_to_page.p90_s)}",
        ),
        ("Time to acknowledge (median)", _minutes(m.time_to_ack.median_s)),
        ("Time to resolve (median)", _minutes(m.time_to_resolve.median_s)),
        (
            "Client notification SLA",
            f"{_pct(m.client_notification.met_pct)} ({m.client_notification.met} met, "
            f"{m.client_notification.missed} missed)",
        ),
        (
            "Regulatory stages",
            f"{_pct(m.regulatory.met_pct)} ({m.regulatory.met} met, {m.regulatory.missed} missed)",
        ),
    ]
    lines = [
        f"Security incidents handled for *{_wiki(digest.client_name)}* ({_wiki(digest.client)}), "
        f"{when(digest.since)} to {when(digest.until)}.",
        "",
        "h2. The week in figures",
        "||Figure||Value||",
        *(f"|{name}|{_wiki(value)}|" for name, value in rows),
        "",
        f"h2. Open incidents ({len(digest.open_incidents)})",
    ]
    if digest.open_incidents:
        lines.append("||Incident||Ticket||Severity||Type||State||Reported||Deadline missed||")
        for i in digest.open_incidents:
            lines.append(
                f"|{_wiki(i.incident_id)}|{i.jira_key or 'none yet'}|{i.severity}|"
                f"{_wiki(i.incident_type)}|{i.state}|{when(i.received_at)}|"
                f"{'*yes*' if i.deadline_breached else 'no'}|"
            )
    else:
        lines.append("None.")
    lines += ["", f"h2. Reporting deadlines in the next {UPCOMING_HORIZON.days} days"]
    if digest.upcoming:
        lines.append("||Due||Obligation||Stage||Incident||Ticket||")
        for d in digest.upcoming:
            due = f"*OVERDUE* {when(d.due_at)}" if d.overdue else when(d.due_at)
            lines.append(
                f"|{due}|{_wiki(d.obligation)}|{_wiki(d.stage)}|{_wiki(d.incident_id)}|"
                f"{d.jira_key or 'none yet'}|"
            )
    else:
        lines.append("None.")
    if m.breaches:
        lines += ["", "h2. Missed regulatory stages this week"]
        lines += [
            f"* {_wiki(b.incident_id)}: {_wiki(b.obligation)} / {_wiki(b.stage)}, "
            f"due {when(b.due_at)}"
            for b in m.breaches
        ]
    if digest.unreadable:
        lines += [
            "",
            f"{{color:red}}Not counted: {len(digest.unreadable)} incident(s) whose state could "
            f"not be read when this digest was made:{{color}} "
            f"{', '.join(_wiki(u) for u in digest.unreadable)}",
        ]
    lines += [
        "",
        "_Figures are medians over the incidents reported in the period. The same digest was "
        "emailed to the client's security contacts._",
    ]
    return summary, "\n".join(lines)
