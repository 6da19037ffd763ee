"""Sending email over SMTP: the client notices and their reminders.

stdlib `smtplib` in a thread: one message per connection is all we send, so a connection pool
or an async client would buy nothing. With a real server (`SMTP_HOST`) the connection is
upgraded with STARTTLS before any credentials are sent, and refused if the server cannot; the
embedded sandbox speaks plain SMTP on loopback. Credentials never reach a log line or an error
message: errors carry the server's reply code and the host only.

Every message carries a Message-ID derived from the workflow, the purpose of the send and the
recipient, so a send retried after a lost reply is the same message to anyone looking (the
sandbox, the client's mail gateway, our evidence).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from incident_desk.settings import Settings

# RFC 5322 atext plus the dot: what may stand in a Message-ID's left part.
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


class MailError(RuntimeError):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout: float = 20.0

    def __repr__(self) -> str:  # the password stays out of reprs in tracebacks and logs
        return f"SmtpConfig(host={self.host!r}, port={self.port}, starttls={self.starttls})"


def smtp_config(settings: Settings) -> SmtpConfig:
    """The configured server, else the local sandbox (plain SMTP on loopback, no login)."""
    if settings.smtp_sandboxed:
        return SmtpConfig(
            host=settings.host, port=settings.smtp_sandbox_port, sender=settings.smtp_from
        )
    assert settings.smtp_host is not None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )


def message_id_for(workflow_id: str, purpose: str, recipient: str, sender: str) -> str:
    """Same workflow, purpose and recipient: same id, whichever attempt sends it."""
    who = hashlib.sha256(recipient.casefold().encode("utf-8")).hexdigest()[:12]
    left = _NOT_ATEXT.sub("-", f"{purpose}.{who}.{workflow_id}")
    domain = sender.rpartition("@")[2] or "incident-desk.invalid"
    return f"<{left}@{_NOT_ATEXT.sub('-', domain)}>"


class Mailer:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    @property
    def sender(self) -> str:
        return self._config.sender

    def compose(
        self,
        *,
        to: str,
        to_name: str,
        subject: str,
        body: str,
        message_id: str,
        sender: tuple[str | None, str] | None = None,
    ) -> EmailMessage:
        """`sender` (name, address) overrides the configured From, e.g. per client."""
        message = EmailMessage()
        message["From"] = formataddr(sender) if sender is not None else self._config.sender
        message["To"] = formataddr((to_name, to))
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        c = self._config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                smtp.ehlo()
                if c.starttls:
                    if not smtp.has_extn("starttls"):
                        raise MailError(
                            f"{c.host}:{c.port} does not offer STARTTLS; refusing to send",
                            retryable=False,
                        )
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if c.user and c.password is not None:
                    smtp.login(c.user, c.password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"{c.host}:{c.port} refused our login (SMTP {exc.smtp_code})", retryable=False
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise MailError(
                f"{c.host}:{c.port} refused the recipient (SMTP {codes})",
                retryable=all(400 <= code < 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"{c.host}:{c.port} answered SMTP {exc.smtp_code}",
                retryable=400 <= exc.smtp_code < 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"{c.host}:{c.port} unreachable: {type(exc).__name__}", retryable=True
            ) from None
