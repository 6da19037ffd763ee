"""The weekly digest on the dev server: real incident workflows, real visibility queries, real
schedules, real SMTP (the aiosmtpd sandbox) and, for the digest's Jira issue, the real `jira`
library against the Jira sandbox over HTTP. Only the incident's Jira and pager calls are doubles;
the digest's own activities are the production ones.

Each test uses a client id of its own, so incidents other tests start on the shared dev server
never reach its visibility queries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from pydantic import SecretStr
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.digest import (
    DIGEST_PURPOSE,
    DigestActivities,
    DigestEmail,
    DigestJiraPost,
    DigestPeriod,
    DigestRecipient,
    GatheredDigest,
)
from activities.policy_files import PolicyFiles
from incident_desk.digest_schedules import (
    DigestTime,
    Weekday,
    ensure_digest_schedules,
    schedule_id,
)
from incidents.digest import DIGEST_LABEL, DIGEST_LABELS, build_digest
from incidents.lifecycle import FalseAlarm, IncidentState, IncidentView, Validation
from incidents.report import IncidentReport, Severity, StartIncident
from integrations.jira_sites import JiraSite, JiraSites
from integrations.smtp import Mailer, SmtpConfig, message_id_for
from sandbox.jira import create_app as jira_app
from sandbox.smtp import Faults, MessageStore, _Keep
from tests.support.servers import free_port, run_app
from tests.workflows.doubles import Outside
from workflows.digest import DigestRequest, DigestWorkflow
from workflows.incident import IncidentWorkflow

CONTACTS = [
    {"name": "Aoife Byrne", "email": "sec@client.example"},
    {"name": "Jonas Weber", "email": "dpo@client.example"},
]
DESCRIPTION = "Team lead reports the laptop of agent 4410 stolen overnight."
REPORTER_CONTACT = "ext 2200"


@dataclass
class Mailbox:
    store: MessageStore
    port: int

    def to(self, address: str) -> list[dict]:
        return self.store.list(to=address)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    store = MessageStore(tmp_path / "smtp.db")
    port = free_port()
    controller = Controller(_Keep(store, Faults()), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Mailbox(store, port)
    finally:
        controller.stop()


def write_policies(
    directory: Path, *clients: str, contacts: list | None = None, jira: dict | None = None
) -> Path:
    (directory / "clients").mkdir(parents=True, exist_ok=True)
    for client in clients:
        policy = {
            "id": client,
            "name": f"Client {client}",
            "timezone": "Europe/Dublin",
            "contacts": CONTACTS if contacts is None else contacts,
            **({"jira": jira} if jira else {}),
        }
        (directory / "clients" / f"{client}.yaml").write_text(yaml.safe_dump(policy))
    return directory


def new_client() -> str:
    return f"dg-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def digest_worker(
    client: Client,
    policies: Path,
    mailbox: Mailbox,
    outside: Outside,
    jira: JiraSites | None = None,
) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    mailer = Mailer(SmtpConfig(host="127.0.0.1", port=mailbox.port, sender="desk@bpo.example"))
    digest = DigestActivities(client, PolicyFiles(policies), mailer, jira=jira)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[IncidentWorkflow, DigestWorkflow],
        activities=[
            *outside.activities(),
            digest.gather_client_digest,
            digest.email_client_digest,
            digest.post_client_digest_to_jira,
        ],
    ):
        yield queue


async def start_incident(
    client: Client, queue: str, client_id: str, severity: Severity, **report: object
) -> WorkflowHandle:
    incident_id = f"{client_id}-{uuid.uuid4().hex[:6]}"
    body = {
        "client": client_id,
        "summary": "Agent's laptop stolen from a car",
        "description": DESCRIPTION,
        "channel": "walk_in",
        "reporter": {"name": "Team lead", "contact": REPORTER_CONTACT},
        "aware_at": datetime.now(UTC).isoformat(),
        "category": "lost_or_stolen_device",
        "severity": severity.value,
        **report,
    }
    return await client.start_workflow(
        IncidentWorkflow.run,
        StartIncident(
            incident_id=incident_id,
            report=IncidentReport.model_validate(body),
            received_at=datetime.now(UTC),
        ),
        id=f"incident-{incident_id}",
        task_queue=queue,
    )


async def until(check, what: str, within: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def triaging(handle: WorkflowHandle) -> bool:
    view = await handle.query(IncidentWorkflow.state)
    return any(e.event == "triage_waiting" for e in view.timeline)


async def escalated(handle: WorkflowHandle, *, clocks: bool = False) -> bool:
    view = await handle.query(IncidentWorkflow.state)
    return view.state == IncidentState.ESCALATED and (bool(view.obligations) or not clocks)


async def three_incidents(client: Client, queue: str, client_id: str) -> list[WorkflowHandle]:
    """One dismissed as a false alarm (closed), two validated and open, one of those under GDPR
    with its 72-hour clock."""
    dismissed = await start_incident(client, queue, client_id, Severity.SEV3)
    gdpr = await start_incident(
        client,
        queue,
        client_id,
        Severity.SEV1,
        jurisdictions=["DE"],
        data_categories=["personal"],
    )
    other = await start_incident(client, queue, client_id, Severity.SEV2)
    for handle in (dismissed, gdpr, other):
        await until(lambda h=handle: triaging(h), f"{handle.id} in triage")
    await dismissed.execute_update(
        IncidentWorkflow.mark_false_alarm, FalseAlarm(by="ana", reason="a drill, not an incident")
    )
    await dismissed.result()
    for handle in (gdpr, other):
        await handle.execute_update(IncidentWorkflow.validate, Validation(by="ana"))
        await until(lambda h=handle: escalated(h, clocks=h is gdpr), f"{handle.id} escalated")
    query = f"WorkflowType = 'IncidentWorkflow' AND IncidentClient = '{client_id}'"
    # Visibility trails the workflows by a moment.
    await until(lambda: _count(client, query, 3), "the incidents in visibility")
    await until(
        lambda: _count(client, f"{query} AND ExecutionStatus = 'Running'", 2),
        "the closed one out of the running list",
    )
    return [dismissed, gdpr, other]


async def _count(client: Client, query: str, expected: int) -> bool:
    return (await client.count_workflows(query)).count == expected


async def test_digest_reads_the_week_and_emails_every_contact(
    dev_env: WorkflowEnvironment, mailbox: Mailbox, tmp_path: Path
) -> None:
    client_id = new_client()
    policies = write_policies(tmp_path / "policies", client_id)
    client = dev_env.client
    async with digest_worker(client, policies, mailbox, Outside()) as queue:
        closed, gdpr, other = await three_incidents(client, queue, client_id)
        sent = await client.execute_workflow(
            DigestWorkflow.run,
            DigestRequest(client=client_id),
            id=f"digest-{client_id}-manual",
            task_queue=queue,
        )
    assert sent.incidents == 3
    assert sent.open_incidents == 2
    assert len(sent.message_ids) == 2 == len(set(sent.message_ids))
    # No reporting project in this client's policy: email only, and the run says so.
    assert sent.jira_key is None
    assert sent.jira_skipped and "jira.reporting_project" in sent.jira_skipped

    for contact in CONTACTS:
        (mail,) = mailbox.to(contact["email"])
        body = mail["body"]
        assert f"Weekly security incident digest: Client {client_id}" in mail["subject"]
        assert "Incidents reported:            3" in body
        assert "By severity:                   SEV1 1, SEV2 1, SEV3 1" in body
        assert "OPEN INCIDENTS (2)" in body
        open_section = body.split("OPEN INCIDENTS")[1].split("REPORTING DEADLINES")[0]
        for handle in (gdpr, other):
            assert handle.id.removeprefix("incident-") in open_section
        assert closed.id.removeprefix("incident-") not in open_section
        # The GDPR incident's 72-hour notice to the authority is the deadline coming up.
        deadlines = body.split("REPORTING DEADLINES")[1]
        assert gdpr.id.removeprefix("incident-") in deadlines
        assert "Europe/Dublin" in deadlines
        # The email leaves the BPO: nothing the reporter said or who they are.
        assert DESCRIPTION not in body and REPORTER_CONTACT not in body
        assert "Team lead" not in body

    # The digest's history holds figures and ids, never the report's text.
    history = await client.get_workflow_handle(f"digest-{client_id}-manual").fetch_history()
    assert DESCRIPTION not in history.to_json()


def _sandbox_issues(url: str) -> list[dict]:
    return httpx.get(f"{url}/sandbox/issues", timeout=10).json()


def _week_of_period_start() -> date:
    """The Monday of the week a digest run now starts in, on the client's (Dublin) calendar."""
    start = (datetime.now(UTC) - timedelta(days=7)).astimezone(ZoneInfo("Europe/Dublin")).date()
    return start - timedelta(days=start.weekday())


async def test_digest_lands_once_in_the_reporting_project_of_the_clients_site(
    dev_env: WorkflowEnvironment, mailbox: Mailbox, tmp_path: Path
) -> None:
    """Two Jira sandboxes over HTTP: the BPO's default site, and the client's own Data Center
    site whose incident project is OPS and whose reporting project is RPT (the only project that
    sandbox accepts, so a digest sent anywhere else fails with Jira's 400)."""
    client_id = new_client()
    policies = write_policies(
        tmp_path / "policies",
        client_id,
        jira={"site": "client-dc", "reporting_project": "RPT"},
    )
    client_site = jira_app(
        tmp_path / "client.db", token="client-pat", project_key="RPT", flavour="datacenter"
    )
    client = dev_env.client
    with run_app(jira_app(tmp_path / "home.db")) as home, run_app(client_site) as site:
        sites = JiraSites(
            {
                "default": JiraSite(url=home, user="sandbox", token=SecretStr("sandbox")),
                "client-dc": JiraSite(
                    url=site, auth="datacenter", token=SecretStr("client-pat"), project="OPS"
                ),
            }
        )
        # The property write that follows the create fails past the gateway's own brief
        # retries, so the activity fails once with its issue created; Temporal's retry must
        # find that issue by its label instead of creating a second.
        async with httpx.AsyncClient(base_url=site, timeout=5) as sandbox:
            (
                await sandbox.post(
                    "/sandbox/faults",
                    json={
                        "status": 503,
                        "count": 3,
                        "path": "/rest/api/2/issue/RPT-1/properties",
                        "method": "PUT",
                    },
                )
            ).raise_for_status()
            async with digest_worker(client, policies, mailbox, Outside(), jira=sites) as queue:
                closed, gdpr, other = await three_incidents(client, queue, client_id)
                first, again = [
                    await client.execute_workflow(
                        DigestWorkflow.run,
                        DigestRequest(client=client_id),
                        id=f"digest-{client_id}-{run}",
                        task_queue=queue,
                    )
                    for run in ("scheduled", "rerun")
                ]
            assert (await sandbox.get("/sandbox/faults")).json() == []
        home_issues = _sandbox_issues(home)
        (issue,) = _sandbox_issues(site)

    assert first.jira_key == again.jira_key == issue["key"] == "RPT-1"
    assert first.jira_skipped is None
    assert home_issues == []
    week = _week_of_period_start()
    assert issue["summary"] == (
        f"Security incident digest — Client {client_id} — week of {week:%Y-%m-%d}"
    )
    assert set(issue["labels"]) == {
        *DIGEST_LABELS,
        f"{DIGEST_LABEL}-{client_id}-{week:%Y-%m-%d}",
    }
    assert issue["properties"]["incident-desk-digest"]["digest"] == f"{client_id}/{week:%Y-%m-%d}"
    body = issue["description"]
    assert "|Incidents reported|3|" in body
    assert "|By severity|SEV1 1, SEV2 1, SEV3 1|" in body
    assert "h2. Open incidents (2)" in body
    open_section = body.split("h2. Open incidents")[1].split("h2. Reporting deadlines")[0]
    for handle in (gdpr, other):
        assert f"|{handle.id.removeprefix('incident-')}|" in open_section
    assert closed.id.removeprefix("incident-") not in open_section
    assert gdpr.id.removeprefix("incident-") in body.split("h2. Reporting deadlines")[1]
    # The issue sits in the client's Jira: nothing the reporter said or who they are.
    assert DESCRIPTION not in body and REPORTER_CONTACT not in body and "Team lead" not in body
    # Both runs still emailed every contact.
    assert len(mailbox.to(CONTACTS[0]["email"])) == 2


async def test_a_client_with_nobody_to_tell_fails_the_run_visibly(
    dev_env: WorkflowEnvironment, mailbox: Mailbox, tmp_path: Path
) -> None:
    client_id = new_client()
    policies = write_policies(tmp_path / "policies", client_id, contacts=[])
    async with digest_worker(dev_env.client, policies, mailbox, Outside()) as queue:
        with pytest.raises(WorkflowFailureError) as failure:
            await dev_env.client.execute_workflow(
                DigestWorkflow.run,
                DigestRequest(client=client_id),
                id=f"digest-{client_id}-nobody",
                task_queue=queue,
            )
    assert "has no contacts" in str(failure.value.cause.cause)


async def test_schedules_are_created_once_kept_and_updated_on_request(
    dev_env: WorkflowEnvironment, mailbox: Mailbox, tmp_path: Path
) -> None:
    first, second = new_client(), new_client()
    policies = write_policies(tmp_path / "policies", first, second)
    client = dev_env.client
    ids = {schedule_id(first), schedule_id(second)}
    async with digest_worker(client, policies, mailbox, Outside()) as queue:
        try:
            created = await ensure_digest_schedules(client, policies, queue)
            assert created == dict.fromkeys(ids, "created")
            # A worker restarting must not undo what an operator set.
            await ensure_digest_schedules(
                client, policies, queue, when=DigestTime(Weekday.wed, 17), update=True, only=first
            )
            again = await ensure_digest_schedules(client, policies, queue)
            assert again == dict.fromkeys(ids, "kept")

            described = await client.get_schedule_handle(schedule_id(first)).describe()
            spec = described.schedule.spec
            assert spec.time_zone_name == "Europe/Dublin"
            (calendar,) = spec.calendars
            assert [r.start for r in calendar.day_of_week] == [3]
            assert [r.start for r in calendar.hour] == [17]
            other = await client.get_schedule_handle(schedule_id(second)).describe()
            assert [r.start for r in other.schedule.spec.calendars[0].day_of_week] == [1]
            assert [r.start for r in other.schedule.spec.calendars[0].hour] == [8]

            with pytest.raises(KeyError, match="no client policy 'nope'"):
                await ensure_digest_schedules(client, policies, queue, only="nope")

            # Triggering the schedule runs the digest on the worker: the schedule is wired.
            await client.get_schedule_handle(schedule_id(first)).trigger()
            mails = await until(
                lambda: asyncio.to_thread(mailbox.to, CONTACTS[0]["email"]),
                "the scheduled digest's email",
            )
            assert f"Client {first}" in mails[0]["subject"]
            assert "Incidents reported:            0" in mails[0]["body"]
        finally:
            for sid in ids:
                await client.get_schedule_handle(sid).delete()


def recorded_digest(jira_project: str | None = None) -> GatheredDigest:
    """What the history recorder's gather double returns: a week with one open GDPR incident."""
    received = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    view = IncidentView(
        incident_id="demo-REC-1",
        workflow_id="incident-demo-REC-1",
        client="demo",
        state=IncidentState.ESCALATED,
        severity=Severity.SEV1,
        category="data_leakage",
        aware_at=received,
        received_at=received,
        jira_key="SEC-7",
    )
    return GatheredDigest(
        digest=build_digest(
            client="demo",
            client_name="Demo Client Ltd",
            timezone="Europe/Dublin",
            since=received - timedelta(days=3),
            until=received + timedelta(days=4),
            period_views=[view],
            open_views=[view],
        ),
        recipients=[DigestRecipient(**contact) for contact in CONTACTS],
        jira_project=jira_project,
    )


@asynccontextmanager
async def recording_worker(client: Client, jira_project: str | None = None) -> AsyncIterator[str]:
    """DigestWorkflow with its activities doubled: all a recorded history needs."""

    @activity.defn(name="gather_client_digest")
    async def gather(period: DigestPeriod) -> GatheredDigest:
        return recorded_digest(jira_project)

    @activity.defn(name="email_client_digest")
    async def email(mail: DigestEmail) -> str:
        return message_id_for(mail.workflow_id, DIGEST_PURPOSE, mail.recipient.email, "t@test")

    @activity.defn(name="post_client_digest_to_jira")
    async def post(post: DigestJiraPost) -> str:
        return f"{jira_project}-1"

    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[DigestWorkflow], activities=[gather, email, post]
    ):
        yield queue
