"""The weekly digest's activities: read the week from Temporal, email one recipient, and post
the week's issue in the client's Jira reporting project.

Reading goes through visibility (the incidents' search attributes) and each incident's `state`
query, as `incident-desk metrics` does, so no second store of incident data can drift from the
workflows. Sending is one email to one person per call, with a Message-ID made from the digest
run and the recipient: a retried send is recognisably the same message. The Jira issue is keyed
by client and week (integrations/jira_digest.py), and its site and project are read from the
policy here, at send time, so no Jira URL or credential enters the workflow's history.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.namespaces import NamespaceClients
from activities.policy_files import PolicyFiles
from incidents.digest import (
    DIGEST_LABELS,
    ClientDigest,
    build_digest,
    digest_issue_label,
    digest_week,
    render_digest,
    render_digest_jira,
)
from incidents.lifecycle import IncidentView
from integrations.jira import SUMMARY_MAX, JiraRequestError
from integrations.jira_digest import DigestIssue, post_digest_issue
from integrations.jira_sites import JiraSites, JiraTarget, UnknownJiraSite
from integrations.smtp import Mailer, MailError, message_id_for
from workflows.incident import IncidentWorkflow

__all__ = [
    "DIGEST_PURPOSE",
    "DigestActivities",
    "DigestEmail",
    "DigestJiraPost",
    "DigestPeriod",
    "DigestRecipient",
    "GatheredDigest",
]

DIGEST_PURPOSE = "weekly-digest"
CONCURRENT_QUERIES = 16
QUERY_TIMEOUT = timedelta(seconds=10)
_INCIDENTS = "WorkflowType = 'IncidentWorkflow'"


class DigestPeriod(BaseModel):
    client: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    since: datetime
    until: datetime


class DigestRecipient(BaseModel):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class GatheredDigest(BaseModel):
    digest: ClientDigest
    recipients: list[DigestRecipient]
    sender: tuple[str | None, str] | None = None
    # The policy's `jira.reporting_project`; None: the digest is only emailed. Defaulted, so the
    # results recorded before the Jira digest existed still read.
    jira_project: str | None = None


class DigestEmail(BaseModel):
    workflow_id: str
    recipient: DigestRecipient
    digest: ClientDigest
    sender: tuple[str | None, str] | None = None


class DigestJiraPost(BaseModel):
    client: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    digest: ClientDigest


def _instant(value: datetime) -> str:
    """RFC 3339 with the fraction: cut to the second, `StartTime < until` would drop an incident
    that started in the same second the digest did."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DigestActivities:
    def __init__(
        self,
        client: Client | NamespaceClients,
        policies: PolicyFiles,
        mailer: Mailer,
        *,
        ops_email: str | None = None,
        jira: JiraSites | None = None,
    ) -> None:
        self._clients = NamespaceClients.of(client)
        self._policies = policies
        self._mailer = mailer
        self._ops_email = ops_email
        self._jira = jira

    async def _views(self, query: str) -> tuple[list[IncidentView], list[str]]:
        """The incidents the query selects, and the ids of those whose state could not be read
        (no worker for an old version, a key the codec lacks): named, never silently dropped.
        Asked in the digest workflow's namespace: a client's schedule runs in its namespace."""
        temporal = self._clients.current()
        gate = asyncio.Semaphore(CONCURRENT_QUERIES)
        views: list[IncidentView] = []
        failed: list[str] = []

        async def read(workflow_id: str, run_id: str | None) -> None:
            async with gate:
                handle = temporal.get_workflow_handle(workflow_id, run_id=run_id)
                try:
                    views.append(
                        await handle.query(IncidentWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
                    )
                except Exception:  # reported by id
                    failed.append(workflow_id)

        # A long incident is a chain of runs (continue-as-new) under one workflow id: read each
        # incident once, from its latest run.
        ids = list(dict.fromkeys([wf.id async for wf in temporal.list_workflows(query)]))
        tasks = [asyncio.create_task(read(workflow_id, None)) for workflow_id in ids]
        await asyncio.gather(*tasks)
        return sorted(views, key=lambda v: v.received_at), failed

    @activity.defn(name="gather_client_digest")
    async def gather_client_digest(self, period: DigestPeriod) -> GatheredDigest:
        policy = self._policies.get(period.client)
        if policy is None:
            raise ApplicationError(
                f"no readable policy for client '{period.client}' "
                f"(policies/clients/{period.client}.yaml)",
                type="UnknownClient",
                non_retryable=True,
            )
        mine = f"{_INCIDENTS} AND IncidentClient = '{policy.id}'"
        in_period, failed = await self._views(
            f"{mine} AND StartTime >= '{_instant(period.since)}' "
            f"AND StartTime < '{_instant(period.until)}'"
        )
        # Selected by the start of any run; kept if the report itself came in within the week.
        in_period = [v for v in in_period if period.since <= v.received_at < period.until]
        still_open, failed_open = await self._views(f"{mine} AND ExecutionStatus = 'Running'")
        recipients = [DigestRecipient(name=c.name, email=c.email) for c in policy.contacts]
        if self._ops_email:
            recipients.append(DigestRecipient(name="BPO operations", email=self._ops_email))
        if not recipients:
            raise ApplicationError(
                f"client '{policy.id}' has no contacts in its policy and no "
                "INCIDENT_DESK_OPS_EMAIL is configured: the digest has nobody to go to",
                type="NoDigestRecipients",
                non_retryable=True,
            )
        sender = policy.notice_sender
        return GatheredDigest(
            digest=build_digest(
                client=policy.id,
                client_name=policy.name,
                timezone=policy.timezone,
                since=period.since,
                until=period.until,
                period_views=in_period,
                open_views=still_open,
                unreadable=sorted(set(failed) | set(failed_open)),
            ),
            recipients=recipients,
            sender=(sender.name, sender.address) if sender is not None else None,
            jira_project=policy.jira.reporting_project,
        )

    @activity.defn(name="email_client_digest")
    async def email_client_digest(self, email: DigestEmail) -> str:
        to = email.recipient.email
        message_id = message_id_for(email.workflow_id, DIGEST_PURPOSE, to, self._mailer.sender)
        subject, body = render_digest(email.digest)
        message = self._mailer.compose(
            to=to,
            to_name=email.recipient.name,
            subject=subject,
            body=body,
            message_id=message_id,
            sender=email.sender,
        )
        try:
            await self._mailer.send(message)
        except MailError as exc:
            raise ApplicationError(
                str(exc), type="MailError", non_retryable=not exc.retryable
            ) from exc
        return message_id

    @activity.defn(name="post_client_digest_to_jira")
    async def post_client_digest_to_jira(self, post: DigestJiraPost) -> str:
        """The week's issue key in the client's reporting project, on the client's own site."""
        policy = self._policies.get(post.client)
        routing = policy.jira if policy is not None else None
        if routing is None or routing.reporting_project is None:
            # The policy changed between reading the week and posting it: only a policy fixes it.
            raise ApplicationError(
                f"client '{post.client}' has no jira.reporting_project in its policy "
                f"(policies/clients/{post.client}.yaml)",
                type="NoReportingProject",
                non_retryable=True,
            )
        if self._jira is None:
            raise ApplicationError(
                "this worker has no Jira sites configured", type="NoJira", non_retryable=True
            )
        try:
            gateway = self._jira.gateway(
                JiraTarget(
                    site=routing.site,
                    project=routing.reporting_project,
                    issue_type=routing.reporting_issue_type or routing.issue_type,
                )
            )
        except UnknownJiraSite as exc:
            raise ApplicationError(str(exc), type="UnknownJiraSite", non_retryable=True) from exc
        summary, description = render_digest_jira(post.digest)
        issue = DigestIssue(
            client=post.client,
            week_of=digest_week(post.digest),
            summary=summary[:SUMMARY_MAX],
            description=description,
            labels=list(DIGEST_LABELS),
            marker_label=digest_issue_label(post.digest),
        )
        try:
            return await asyncio.to_thread(post_digest_issue, gateway, issue)
        except JiraRequestError as exc:
            raise ApplicationError(
                str(exc), type="JiraRequestError", non_retryable=not exc.retryable
            ) from exc
