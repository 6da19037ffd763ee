"""Test doubles for the incident activities, registered under the production activity names.

They stand in for Jira and the pager only; the workflow under test is the real one. Each call is
recorded so tests can assert what the workflow asked the outside world to do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.checklists import ChecklistActivities, ChecklistRequest
from activities.jira import CommentRequest, TicketRequest, TransitionRequest
from activities.jira_review import ReviewSubtaskRequest
from activities.jira_writeback import TicketSyncRequest
from activities.notify import NoticeRequest
from activities.obligations import ObligationRequest, assess
from activities.paging import PageRequest
from incidents.lifecycle import CloseIncident
from incidents.notification import SentNotice
from incidents.obligations import ObligationReport
from incidents.policy import ClientPolicy
from incidents.sop import ResolvedChecklist
from integrations.smtp import message_id_for
from workflows.incident import IncidentWorkflow

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"

# Closes a resolved incident (its review done) in tests about something else.
CLOSE = CloseIncident(
    by="review.lead", summary="Reviewed with the team", waive_open_stages="not under test here"
)


@dataclass
class Outside:
    """What the workflow did to the outside world, in order."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    jira_down: bool = False
    subtasks_off: bool = False  # the Jira refuses sub-tasks (the review falls back to a comment)
    mail_down: bool = False
    policy: ClientPolicy | None = None
    # Keys whose trigger_page waits for `release` first: an acknowledgement can then arrive
    # while that page is in flight.
    hold_pages: frozenset[str] = frozenset()
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def names(self, *, writeback: bool = False) -> list[str]:
        """The effects in order; Jira write-backs (coalesced, timing-dependent) on request."""
        return [name for name, _ in self.calls if writeback or name != "sync_jira_ticket"]

    def of(self, name: str) -> list[Any]:
        return [arg for n, arg in self.calls if n == name]

    def activities(self) -> Sequence[Any]:
        @activity.defn(name="load_client_policy")
        async def load_client_policy(client: str) -> ClientPolicy:
            self.calls.append(("load_client_policy", client))
            return self.policy or ClientPolicy(id=client, name=f"{client} test client")

        sops = ChecklistActivities(POLICIES_DIR)

        @activity.defn(name="load_sop_checklist")
        async def load_sop_checklist(request: ChecklistRequest) -> ResolvedChecklist:
            # The real SOPs (policies/sops): only Jira and the pager are doubled.
            self.calls.append(("load_sop_checklist", request))
            return await sops.load_sop_checklist(request)

        @activity.defn(name="assess_obligations")
        async def assess_obligations(request: ObligationRequest) -> ObligationReport:
            # The real rules: the clocks under test are the product's, only I/O is doubled.
            self.calls.append(("assess_obligations", request))
            return assess(request)

        @activity.defn(name="create_jira_ticket")
        async def create_jira_ticket(request: TicketRequest) -> str:
            self.calls.append(("create_jira_ticket", request))
            if self.jira_down:
                raise ApplicationError("Jira answered 503", type="JiraRequestError")
            return "SEC-1"

        @activity.defn(name="comment_jira_ticket")
        async def comment_jira_ticket(request: CommentRequest) -> str:
            self.calls.append(("comment_jira_ticket", request))
            return "10000"

        @activity.defn(name="transition_jira_ticket")
        async def transition_jira_ticket(request: TransitionRequest) -> None:
            self.calls.append(("transition_jira_ticket", request))

        @activity.defn(name="create_review_subtask")
        async def create_review_subtask(request: ReviewSubtaskRequest) -> str:
            self.calls.append(("create_review_subtask", request))
            if self.subtasks_off:
                raise ApplicationError(
                    "Jira 400: The issue type selected is invalid.",
                    type="JiraRequestError",
                    non_retryable=True,
                )
            return "SEC-2"

        @activity.defn(name="sync_jira_ticket")
        async def sync_jira_ticket(request: TicketSyncRequest) -> list[str]:
            self.calls.append(("sync_jira_ticket", request))
            return []

        @activity.defn(name="trigger_page")
        async def trigger_page(request: PageRequest) -> str:
            if request.dedup_key in self.hold_pages:
                self.held.set()
                await self.release.wait()
            self.calls.append(("trigger_page", request))
            return request.dedup_key

        @activity.defn(name="acknowledge_page")
        async def acknowledge_page(dedup_key: str) -> None:
            self.calls.append(("acknowledge_page", dedup_key))

        @activity.defn(name="resolve_page")
        async def resolve_page(dedup_key: str) -> None:
            self.calls.append(("resolve_page", dedup_key))

        @activity.defn(name="send_client_notice")
        async def send_client_notice(request: NoticeRequest) -> SentNotice:
            self.calls.append(("send_client_notice", request))
            if self.mail_down:
                raise ApplicationError("SMTP 554", type="MailError", non_retryable=True)
            to = request.recipient.email
            return SentNotice(
                kind=request.content.kind,
                to=to,
                name=request.recipient.name,
                language=request.recipient.language,
                message_id=message_id_for(request.workflow_id, request.purpose, to, "t@test"),
                sent_at=activity.info().current_attempt_scheduled_time,
            )

        return [
            send_client_notice,
            load_client_policy,
            load_sop_checklist,
            assess_obligations,
            create_jira_ticket,
            comment_jira_ticket,
            transition_jira_ticket,
            create_review_subtask,
            sync_jira_ticket,
            trigger_page,
            acknowledge_page,
            resolve_page,
        ]


def new_worker(client: Client, outside: Outside) -> Worker:
    """A worker on its own task queue, so tests never pick up each other's workflows."""
    return Worker(
        client,
        task_queue=f"test-{uuid.uuid4()}",
        workflows=[IncidentWorkflow],
        activities=outside.activities(),
    )
