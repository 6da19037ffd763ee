"""DigestWorkflow: once a week, per client, the week's incidents in one email to the client's
security contacts (and the BPO's operations mailbox when one is configured), and as one issue in
the client's Jira reporting project when its policy names one (`jira.reporting_project`).

A Temporal Schedule starts it (`incident_desk.digest_schedules`), so there is no timer loop
here: the schedule keeps the calendar, catches up a run missed while the cluster was down, and
shows each run in the UI. The period ends when the run starts (the scheduled instant, give or
take the schedule's jitter) and reaches back `period` from there.

Email first, Jira second: the readers of the email are the client's security and compliance
staff, who may not work in Jira; the digest is part of what the contract says we report to them,
and the Message-ID of each send (kept in this history) is the evidence that we did. The Jira
issue is the same digest where the client's own teams track their work, one per week.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.digest import (
        DigestActivities,
        DigestEmail,
        DigestJiraPost,
        DigestPeriod,
        GatheredDigest,
    )
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT

WORKFLOW_TYPE = "DigestWorkflow"
WEEK = timedelta(days=7)
# Reading a client's week is many small queries; a big client may need more than one effect's.
GATHER_TIMEOUT = timedelta(minutes=5)
# A digest that cannot be sent within a day is stale: the run fails and shows in the UI.
SEND_DEADLINE = timedelta(days=1)
# Runs recorded before the digest went to Jira end after the emails (tests/histories).
JIRA_PATCH = "digest-jira"
NO_REPORTING_PROJECT = "not posted to Jira: the client's policy has no jira.reporting_project"


class DigestRequest(BaseModel):
    client: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    period: timedelta = WEEK


class DigestSent(BaseModel):
    client: str
    incidents: int
    open_incidents: int
    message_ids: list[str]
    jira_key: str | None = None
    jira_skipped: str | None = Field(None, description="Why no Jira issue was posted, if none")


@workflow.defn(name=WORKFLOW_TYPE)
class DigestWorkflow:
    @workflow.run
    async def run(self, request: DigestRequest) -> DigestSent:
        until = workflow.now()
        gathered: GatheredDigest = await workflow.execute_activity_method(
            DigestActivities.gather_client_digest,
            DigestPeriod(client=request.client, since=until - request.period, until=until),
            start_to_close_timeout=GATHER_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=f"Read {request.client}'s incidents of the past {request.period.days} days",
        )
        digest = gathered.digest
        workflow.set_current_details(
            f"{digest.metrics.incidents} incident(s) this period, "
            f"{len(digest.open_incidents)} open, {len(digest.upcoming)} deadline(s) coming; "
            f"sending to {len(gathered.recipients)} recipient(s)"
        )
        message_ids: list[str] = []
        # One after the other: a failure shows which recipient it was, and those before it
        # keep their message ids in the history.
        for number, recipient in enumerate(gathered.recipients, start=1):
            message_ids.append(
                await workflow.execute_activity_method(
                    DigestActivities.email_client_digest,
                    DigestEmail(
                        workflow_id=workflow.info().workflow_id,
                        recipient=recipient,
                        digest=digest,
                        sender=gathered.sender,
                    ),
                    start_to_close_timeout=EFFECT_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    schedule_to_close_timeout=SEND_DEADLINE,
                    retry_policy=EFFECT_RETRY,
                    summary=f"Email the digest to recipient {number} of {len(gathered.recipients)}",
                )
            )
        jira_key: str | None = None
        jira_skipped: str | None = None
        if workflow.patched(JIRA_PATCH):
            if gathered.jira_project is None:
                jira_skipped = NO_REPORTING_PROJECT
                workflow.logger.info("digest for %s %s", request.client, NO_REPORTING_PROJECT)
            else:
                jira_key = await workflow.execute_activity_method(
                    DigestActivities.post_client_digest_to_jira,
                    DigestJiraPost(client=request.client, digest=digest),
                    start_to_close_timeout=EFFECT_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    schedule_to_close_timeout=SEND_DEADLINE,
                    retry_policy=EFFECT_RETRY,
                    summary=f"Post the week's digest in Jira project {gathered.jira_project}",
                )
            workflow.set_current_details(
                f"{len(message_ids)} email(s) sent; "
                + (f"Jira issue {jira_key}" if jira_key else (jira_skipped or ""))
            )
        return DigestSent(
            client=request.client,
            incidents=digest.metrics.incidents,
            open_incidents=len(digest.open_incidents),
            message_ids=message_ids,
            jira_key=jira_key,
            jira_skipped=jira_skipped,
        )
