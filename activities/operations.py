"""Telling the BPO's operations staff about the service itself (not about an incident): one email
per call. Used by the integration health workflow when an outage begins and ends.

The Message-ID comes from the health workflow and the outage, so a retried send is recognisable
as the same message, as client notices are (`integrations.smtp.message_id_for`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.smtp import Mailer, MailError, message_id_for


class OperationsEmail(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    subject: str = Field(max_length=200)
    body: str
    workflow_id: str
    purpose: str


class OperationsActivities:
    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    @activity.defn(name="email_operations")
    async def email_operations(self, email: OperationsEmail) -> str:
        message_id = message_id_for(email.workflow_id, email.purpose, email.to, self._mailer.sender)
        message = self._mailer.compose(
            to=email.to,
            to_name="Operations",
            subject=email.subject,
            body=email.body,
            message_id=message_id,
        )
        try:
            await self._mailer.send(message)
        except MailError as exc:
            raise ApplicationError(
                str(exc), type="MailError", non_retryable=not exc.retryable
            ) from exc
        return message_id
