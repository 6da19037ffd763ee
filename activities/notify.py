"""Emailing the client's security contacts: one activity, one email to one person.

The signed acknowledgement link is made here, where the secret is, so neither the secret nor
the token enters the workflow's history; the history keeps the message id, which is what the
acknowledgement names as evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.policy_files import ClientLookup, ClientOfWorkflow, PolicyFiles
from incidents.notification import NoticeContent, Recipient, SentNotice, render
from integrations import ack_links
from integrations.smtp import Mailer, MailError, message_id_for


class NoticeRequest(BaseModel):
    workflow_id: str
    purpose: str
    recipient: Recipient
    content: NoticeContent
    client: str | None = None  # None: the workflow's IncidentClient search attribute


class NotifyActivities:
    def __init__(
        self,
        mailer: Mailer,
        ack_secret: SecretStr | None,
        ack_base_url: str,
        *,
        policies: PolicyFiles | None = None,
        client_of: ClientLookup | None = None,
    ) -> None:
        self._mailer = mailer
        self._secret = ack_secret
        self._base_url = ack_base_url
        self._policies = policies
        self._client_of = ClientOfWorkflow(client_of)

    async def _sender(self, request: NoticeRequest) -> tuple[str | None, str] | None:
        """The client's own sender identity (policy `notice_sender`), else the configured one."""
        if self._policies is None:
            return None
        client = request.client or await self._client_of(request.workflow_id)
        policy = self._policies.get(client)
        if policy is None or policy.notice_sender is None:
            return None
        return policy.notice_sender.name, policy.notice_sender.address

    @activity.defn(name="send_client_notice")
    async def send_client_notice(self, request: NoticeRequest) -> SentNotice:
        """Without an ack secret the notice still goes out (telling the client matters more than
        the link) and asks for a reply instead."""
        to = request.recipient.email
        message_id = message_id_for(request.workflow_id, request.purpose, to, self._mailer.sender)
        url = None
        if self._secret is not None:
            claims = ack_links.AckClaims(
                workflow_id=request.workflow_id,
                contact=to,
                message_id=message_id,
                expires_at=request.content.link_expires_at,
            )
            url = ack_links.ack_url(self._base_url, ack_links.sign(self._secret, claims))
        subject, body = render(request.content, request.recipient, url)
        message = self._mailer.compose(
            to=to,
            to_name=request.recipient.name,
            subject=subject,
            body=body,
            message_id=message_id,
            sender=await self._sender(request),
        )
        try:
            await self._mailer.send(message)
        except MailError as exc:
            raise ApplicationError(
                str(exc), type="MailError", non_retryable=not exc.retryable
            ) from exc
        return SentNotice(
            kind=request.content.kind,
            to=to,
            name=request.recipient.name,
            language=request.recipient.language,
            message_id=message_id,
            sent_at=datetime.now(UTC),
        )
