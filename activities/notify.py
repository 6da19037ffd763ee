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

from incidents.notification import NoticeContent, Recipient, SentNotice, render
from integrations import ack_links
from integrations.smtp import Mailer, MailError, message_id_for


class NoticeRequest(BaseModel):
    workflow_id: str
    purpose: str
    recipient: Recipient
    content: NoticeContent


class NotifyActivities:
    def __init__(self, mailer: Mailer, ack_secret: SecretStr | None, ack_base_url: str) -> None:
        self._mailer = mailer
        self._secret = ack_secret
        self._base_url = ack_base_url

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
            to=to, to_name=request.recipient.name, subject=subject, body=body, message_id=message_id
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
