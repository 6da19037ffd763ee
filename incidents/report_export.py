"""The incident report: everything the workflow knows about one incident, for an auditor.

Built only from what the workflow recorded (its state, the report it was started with, the
client's policy and the catalogue), so a report says what happened, never what someone
remembers. Instants appear twice, in UTC and in the client's time zone, because reviewers and
the client's staff read the same report; whether each reporting stage was met is computed from
its due and done instants as of `now`, which the caller passes in (pure: no clock reads).

The reporter's contact details are left out: the report travels further than the workflow
history (mail, audit folders), and the name with the channel identifies the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from incidents.checklist_report import checklist_section
from incidents.clocks import ClockStatus, ObligationClock, StageClock
from incidents.documents import Block, Bullets, Document, Fields, Links, Section, Table, Text
from incidents.lifecycle import IncidentView
from incidents.policy import ClientPolicy
from incidents.regimes import Catalogue
from incidents.report import StartIncident

CLIENT_RECIPIENTS = frozenset({"controller", "covered_entity"})


@dataclass(frozen=True)
class ReportLinks:
    """Where a reader can look further: the Jira ticket and the workflow in the Temporal UI."""

    temporal_ui: str
    namespace: str
    jira_base_url: str | None = None

    def workflow(self, workflow_id: str) -> str:
        base = self.temporal_ui.rstrip("/")
        return f"{base}/namespaces/{quote(self.namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"

    def ticket(self, key: str) -> str | None:
        if not self.jira_base_url:
            return None
        return f"{self.jira_base_url.rstrip('/')}/browse/{quote(key, safe='')}"


class Clock:
    """Formats instants in UTC and in the client's zone, and durations, one way everywhere."""

    def __init__(self, timezone: str) -> None:
        self.name = timezone
        self.zone = ZoneInfo(timezone)

    def utc(self, instant: datetime | None) -> str:
        if instant is None:
            return "-"
        return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def local(self, instant: datetime | None) -> str:
        if instant is None:
            return "-"
        local = instant.astimezone(self.zone)
        offset = local.strftime("%z")
        return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname()} ({offset[:3]}:{offset[3:]})"

    def both(self, instant: datetime | None) -> str:
        if instant is None:
            return "-"
        return f"{self.utc(instant)}\n{self.local(instant)}"


def duration(value: timedelta) -> str:
    """'2d 3h 05m', '41m 10s': exact enough for an SLA, short enough for a table cell."""
    seconds = int(abs(value.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h {minutes:02d}m"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    else:
        text = f"{minutes}m {secs:02d}s"
    return f"-{text}" if value < timedelta(0) else text


def stage_outcome(stage: StageClock, now: datetime) -> str:
    """Whether a stage was met, as of `now`: the question an auditor asks of every clock."""
    if stage.status is ClockStatus.CANCELLED:
        return "not applicable (obligation cancelled)"
    if stage.status is ClockStatus.DONE:
        if stage.due_at is None:
            return "done (no fixed deadline)"
        if stage.done_at is not None and stage.done_at <= stage.due_at:
            return f"met ({duration(stage.due_at - stage.done_at)} before the deadline)"
        late = (stage.done_at - stage.due_at) if stage.done_at else timedelta(0)
        return f"missed: done {duration(late)} late"
    if stage.status is ClockStatus.WAITING_TRIGGER:
        return f"not started: waits for {stage.trigger}"
    if stage.status is ClockStatus.NO_FIXED_DEADLINE:
        return "open: no fixed deadline"
    if stage.due_at is not None and (stage.due_at <= now or stage.status is ClockStatus.BREACHED):
        return f"missed: overdue by {duration(now - stage.due_at)}, not done"
    if stage.due_at is not None:
        return f"open: due in {duration(stage.due_at - now)}"
    return "open"


def _recipients(catalogue: Catalogue | None, clock: ObligationClock) -> tuple[str, ...]:
    if clock.id.startswith("contract_"):
        return ("controller",)
    if catalogue is None:
        return ()
    try:
        return catalogue.get(clock.id).recipient
    except KeyError:
        return ()


def build_report(
    view: IncidentView,
    *,
    now: datetime,
    links: ReportLinks,
    policy: ClientPolicy | None = None,
    catalogue: Catalogue | None = None,
    start: StartIncident | None = None,
) -> Document:
    """The report as a document; render it with `incidents.documents.render`."""
    clock = Clock(policy.timezone if policy else "UTC")
    client = f"{policy.name} ({view.client})" if policy else view.client
    title = f"Incident report {view.incident_id}"
    subtitle = (
        f"{client} - {view.state} - {view.severity} - generated {clock.utc(now)} "
        f"({clock.local(now)}, the client's time zone {clock.name})"
    )
    sections = [
        _summary(view, clock, client, start, now),
        _classification(view, clock, policy, start),
        _timeline(view, clock),
        _paging(view, clock),
        checklist_section(view, clock.both),
        _client_notifications(view, clock, policy, catalogue, now),
        _obligations(view, clock, catalogue, now),
        _decisions(view, clock),
        _links(view, links),
    ]
    footer = (
        f"Built from the state of workflow {view.workflow_id} at {clock.utc(now)}. Instants are "
        f"shown in UTC and in the client's time zone ({clock.name}). Regulatory obligations come "
        "from reference data compiled from public sources: not legal advice; verify against the "
        "official text."
    )
    return Document(
        title=title,
        subtitle=subtitle,
        sections=sections,
        footer=footer,
        meta={"incident-id": view.incident_id, "generated": now.astimezone(UTC).isoformat()},
    )


def _summary(
    view: IncidentView, clock: Clock, client: str, start: StartIncident | None, now: datetime
) -> Section:
    rows: list[tuple[str, str]] = [("Incident", view.incident_id)]
    if start is not None:
        rows.append(("Summary", start.report.summary))
    rows += [
        ("Client", client),
        ("Client time zone", clock.name),
        ("State", str(view.state)),
        ("Severity", str(view.severity)),
        ("Category", view.category),
    ]
    if start is not None:
        report = start.report
        rows += [
            ("Channel", str(report.channel)),
            ("Reported by", f"{report.reporter.name} (contact details kept in the workflow)"),
        ]
        if report.external_ref:
            rows.append(("External reference", report.external_ref))
    rows += [
        ("Aware at", clock.both(view.aware_at)),
        ("Received at", clock.both(view.received_at)),
        ("Jira ticket", view.jira_key or "not created"),
    ]
    if view.triaged_at is not None:
        verdict = (
            f"validated by {view.validated_by}"
            if view.validated_by
            else f"false alarm per {view.false_alarm_by}: {view.false_alarm_reason}"
        )
        rows.append(("Triaged", f"{verdict}\n{clock.both(view.triaged_at)}"))
        rows.append(("Time to triage", duration(view.triaged_at - view.received_at)))
    if view.acknowledged_at is not None:
        rows.append(
            (
                "Acknowledged",
                f"by {view.acknowledged_by} via {view.acknowledged_via or 'unknown channel'}\n"
                f"{clock.both(view.acknowledged_at)}",
            )
        )
        rows.append(("Time to acknowledge", duration(view.acknowledged_at - view.received_at)))
    else:
        rows.append(("Acknowledged", "not yet"))
    if view.contained_at is not None:
        rows.append(
            (
                "Contained",
                f"by {view.contained_by}: {view.containment_note}\n{clock.both(view.contained_at)}",
            )
        )
        rows.append(("Time to contain", duration(view.contained_at - view.received_at)))
    if view.resolved_at is not None:
        rows.append(("Resolved", f"by {view.resolved_by}\n{clock.both(view.resolved_at)}"))
        rows.append(("Time to resolve", duration(view.resolved_at - view.received_at)))
    else:
        rows.append(("Resolved", "not yet"))
    if view.closed_at is not None:
        review = view.review
        answers = (
            f"root cause: {review.root_cause}; went well: {review.went_well or '-'}; "
            f"to improve: {review.to_improve or '-'}; training: {review.training_needs or '-'}"
            if review
            else view.review_summary or "-"
        )
        rows.append(
            (
                "Post-incident review",
                f"{answers}\nclosed by {view.closed_by}, {clock.both(view.closed_at)}",
            )
        )
        if view.open_stages_waived:
            rows.append(("Open reporting stages waived", view.open_stages_waived))
    elif view.review_due_at is not None:
        rows.append(("Post-incident review", f"due {clock.both(view.review_due_at)}"))
    rows += [
        ("Next reporting deadline", clock.both(view.next_deadline)),
        ("A reporting deadline was missed", "yes" if view.deadline_breached else "no"),
        ("Escalation ran out of responders", "yes" if view.no_responder else "no"),
    ]
    blocks: list[Block] = [Fields(rows)]
    if start is not None:
        blocks += [Text("Description as reported:"), Text(start.report.description)]
    return Section("Summary", blocks)


def _classification(
    view: IncidentView, clock: Clock, policy: ClientPolicy | None, start: StartIncident | None
) -> Section:
    if start is not None and start.report.severity is not None:
        source = f"{view.severity}: given by the reporter when the incident was filed"
    elif start is not None and policy is not None:
        source = (
            f"{view.severity}: the client policy's default severity "
            f"({policy.default_severity}); the report gave none"
        )
    else:
        source = f"{view.severity}: how it was set is not recorded in the workflow's state"
    rows: list[tuple[str, str]] = [
        ("Category", view.category),
        ("Severity", source),
    ]
    facts = view.facts
    blocks: list[Block] = []
    if facts is None:
        blocks.append(Text("Not yet assessed: the incident has no recorded facts."))
    else:
        rows += [
            (
                "Incident type",
                str(facts.incident_type) if facts.incident_type else "not classified",
            ),
            ("Our role", str(facts.role) if facts.role else "from the client policy"),
            ("Data categories", ", ".join(facts.data_categories) or "none recorded"),
            (
                "People affected",
                str(facts.records_affected)
                if facts.records_affected is not None
                else "not yet counted (treated as 500-9,999 for severity)",
            ),
            ("Jurisdictions of the people", ", ".join(facts.jurisdictions) or "none recorded"),
            ("Client sectors", ", ".join(facts.sectors) or "none recorded"),
            ("Our sites", ", ".join(facts.sites) or "none recorded"),
            ("Aware at", clock.both(facts.aware_at)),
        ]
        rows += [(f"Event: {name}", clock.both(at)) for name, at in sorted(facts.events.items())]
    blocks.insert(0, Fields(rows))
    questions = [
        f"{c.name}: {q}" for c in view.obligations if c.in_force for q in c.needs_assessment
    ]
    if questions:
        blocks += [Text("Open questions that need a person's assessment:"), Bullets(questions)]
    return Section("Classification and severity", blocks)


def _timeline(view: IncidentView, clock: Clock) -> Section:
    rows = [
        [clock.both(e.at), e.event, e.detail, e.by or "-"]
        for e in sorted(view.timeline, key=lambda e: e.at)
    ]
    if not rows:
        return Section("Timeline", [Text("Nothing recorded yet.")])
    return Section(
        "Timeline",
        [Table([f"When (UTC / {clock.name})", "Event", "What happened", "By"], rows)],
    )


def _paging(view: IncidentView, clock: Clock) -> Section:
    blocks: list[Block] = []
    if view.pages:
        rows = [
            [
                clock.both(p.paged_at),
                "no-responder alert" if p.level == 0 else f"level {p.level}, round {p.round}",
                ", ".join(p.targets) or "pager default routing",
                p.dedup_key,
                p.status,
            ]
            for p in sorted(view.pages, key=lambda p: p.paged_at)
        ]
        blocks.append(Table(["Paged at", "Step", "Targets", "Dedup key", "Status"], rows))
    else:
        blocks.append(Text("No page recorded in the workflow's state."))
    acks = [e for e in view.timeline if e.event in ("acknowledged", "also_acknowledged")]
    if acks:
        blocks.append(
            Table(
                ["Acknowledged at", "By", "How"],
                [[clock.both(e.at), e.by or "-", e.detail] for e in acks],
            )
        )
    owner = (
        f"Owner: {view.acknowledged_by}, acknowledged via {view.acknowledged_via} "
        f"{duration(view.acknowledged_at - view.received_at)} after receipt."
        if view.acknowledged_at and view.acknowledged_by
        else "Nobody has acknowledged the incident yet."
    )
    blocks.append(Text(owner))
    if view.no_responder:
        blocks.append(Text("The escalation chain ran out unanswered; operations was alerted."))
    return Section("Paging and acknowledgement", blocks)


def _stage_rows(clock: Clock, obligation: ObligationClock, now: datetime) -> list[list[str]]:
    rows = []
    for s in obligation.stages:
        due = clock.both(s.due_at)
        if s.due_at is None and s.not_later_than is not None:
            due = f"not later than\n{clock.both(s.not_later_than)}"
        evidence = " / ".join(x for x in (s.done_by, s.reference) if x) or "-"
        rows.append(
            [s.stage, s.trigger, due, clock.both(s.done_at), evidence, stage_outcome(s, now)]
        )
    return rows


STAGE_HEADERS = ("Stage", "Runs from", "Due", "Done", "Done by / evidence", "Met?")


def _client_notifications(
    view: IncidentView,
    clock: Clock,
    policy: ClientPolicy | None,
    catalogue: Catalogue | None,
    now: datetime,
) -> Section:
    owed = [
        c
        for c in view.obligations
        if c.owed_by == "us" and CLIENT_RECIPIENTS & set(_recipients(catalogue, c))
    ]
    blocks: list[Block] = []
    if not owed:
        blocks.append(Text("No notification to the client is owed for the recorded facts."))
    for obligation in owed:
        rows = [[obligation.name, *row] for row in _stage_rows(clock, obligation, now)]
        blocks.append(Table(["Notice", *STAGE_HEADERS], rows))
    blocks += _notices_sent(view, clock)
    if policy is not None and policy.contacts:
        blocks.append(Text("The client's contacts for notices (from its policy):"))
        blocks.append(
            Bullets(
                [
                    f"{c.name}{f' ({c.role})' if c.role else ''}: {c.email}"
                    + (f", {c.phone}" if c.phone else "")
                    for c in policy.contacts
                ]
            )
        )
    return Section("Client notifications", blocks)


def _notices_sent(view: IncidentView, clock: Clock) -> list[Block]:
    """The notices mailed to the client's contacts and its acknowledgement: the evidence that
    the client was told. Read by attribute so the report works with views recorded before the
    workflow kept them."""
    record = getattr(view, "client_notification", None)
    if record is None:
        return []
    blocks: list[Block] = []
    notices = getattr(record, "notices", None) or []
    if notices:
        rows = [
            [
                clock.both(getattr(n, "sent_at", None)),
                str(getattr(n, "kind", "-")),
                f"{getattr(n, 'name', '')} <{getattr(n, 'to', '')}>",
                str(getattr(n, "message_id", "-")),
            ]
            for n in notices
        ]
        blocks.append(Table(["Sent at", "Notice", "To", "Message id"], rows))
    ack = getattr(record, "acknowledgement", None)
    if ack is not None:
        blocks.append(
            Fields(
                [
                    ("Client acknowledged", f"by {getattr(ack, 'contact', '-')}"),
                    ("At", clock.both(getattr(ack, "at", None))),
                    ("Via", str(getattr(ack, "channel", "-"))),
                    ("In reply to", str(getattr(ack, "message_id", None) or "-")),
                ]
            )
        )
    elif notices:
        blocks.append(Text("The client has not acknowledged the notice yet."))
    escalated = getattr(record, "escalated_to", None)
    if escalated:
        blocks.append(Text(f"Unacknowledged notice escalated to {escalated}."))
    return blocks


def _obligations(
    view: IncidentView, clock: Clock, catalogue: Catalogue | None, now: datetime
) -> Section:
    if not view.obligations:
        return Section(
            "Reporting obligations", [Text("No reporting obligation recorded for these facts.")]
        )
    blocks: list[Block] = []
    met = missed = total = 0
    for obligation in view.obligations:
        for s in obligation.stages:
            outcome = stage_outcome(s, now)
            if s.due_at is not None and s.status is not ClockStatus.CANCELLED:
                total += 1
                met += outcome.startswith("met")
                missed += outcome.startswith("missed")
    blocks.append(
        Text(
            f"{len(view.obligations)} obligations; {total} stages with a due instant: "
            f"{met} met, {missed} missed, {total - met - missed} still open."
        )
    )
    for obligation in view.obligations:
        recipients = ", ".join(_recipients(catalogue, obligation)) or "not recorded"
        rows: list[tuple[str, str]] = [
            ("Obligation", f"{obligation.name} ({obligation.id})"),
            ("Owed by", obligation.owed_by),
            ("To", recipients),
            ("Jurisdiction", obligation.jurisdiction),
            ("Instrument", obligation.instrument),
            (
                "In force",
                "yes" if obligation.in_force else f"no: {obligation.cancelled_reason or '-'}",
            ),
        ]
        if obligation.needs_assessment:
            rows.append(("Needs assessment", "\n".join(obligation.needs_assessment)))
        blocks += [Fields(rows), Table(list(STAGE_HEADERS), _stage_rows(clock, obligation, now))]
    return Section("Reporting obligations", blocks)


def _decisions(view: IncidentView, clock: Clock) -> Section:
    decided = sorted((e for e in view.timeline if e.by), key=lambda e: e.at)
    if not decided:
        return Section("Decisions", [Text("No decision by a person is recorded yet.")])
    rows = [[clock.both(e.at), e.by or "-", e.event, e.detail] for e in decided]
    return Section("Decisions", [Table(["When", "Who", "Decision", "Detail"], rows)])


def _links(view: IncidentView, links: ReportLinks) -> Section:
    items = [("Workflow in the Temporal UI", links.workflow(view.workflow_id))]
    if view.jira_key:
        ticket = links.ticket(view.jira_key)
        if ticket:
            items.insert(0, (f"Jira ticket {view.jira_key}", ticket))
    return Section("Links", [Links(items)])
