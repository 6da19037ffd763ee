"""Client notices without Temporal: links, templates, message ids, and SMTP to the sandbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from incidents.notification import (
    TEMPLATES,
    NoticeContent,
    ObligationLine,
    Recipient,
    render,
    template_language,
)
from integrations import ack_links
from integrations.smtp import Mailer, SmtpConfig, message_id_for
from sandbox.smtp import Faults, MessageStore, _Keep
from tests.support.servers import free_port

SECRET = SecretStr("k" * 64)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CLAIMS = ack_links.AckClaims(
    workflow_id="incident-demo-1",
    contact="sec@client.example",
    message_id="<notification.abc.incident-demo-1@x>",
    expires_at=NOW + timedelta(days=14),
)


def test_token_round_trip_and_refusals() -> None:
    token = ack_links.sign(SECRET, CLAIMS)
    assert ack_links.verify(SECRET, token, now=NOW) == CLAIMS
    with pytest.raises(ack_links.TokenExpired):
        ack_links.verify(SECRET, token, now=CLAIMS.expires_at)
    with pytest.raises(ack_links.TokenError, match="not issued by us"):
        ack_links.verify(SecretStr("other"), token, now=NOW)
    prefix, body, sig = token.split(".")
    tampered = ack_links.sign(SECRET, CLAIMS).split(".")[1].replace("d", "e", 1)
    with pytest.raises(ack_links.TokenError):
        ack_links.verify(SECRET, f"{prefix}.{tampered}.{sig}", now=NOW)
    for junk in ("", "v1", "v1.a.b", "v2." + body + "." + sig, "x" * 5000):
        with pytest.raises(ack_links.TokenError):
            ack_links.verify(SECRET, junk, now=NOW)
    assert token not in ack_links.token_id(token) and len(ack_links.token_id(token)) == 32


def content(kind: str = "notification") -> NoticeContent:
    return NoticeContent(
        kind=kind,
        incident_id="demo-CALL-1",
        client_name="Demo Client Ltd",
        jira_key="SEC-1",
        severity="SEV2",
        incident_type="phishing",
        aware_at=NOW,
        received_at=NOW,
        jurisdictions=["IE"],
        data_categories=["personal"],
        contract_clause="DPA 8.2",
        client_obligations=[
            ObligationLine(name="GDPR Art. 33", stage="initial", due_at=NOW + timedelta(hours=72))
        ],
        timezone="Europe/Dublin",
        link_expires_at=NOW + timedelta(days=14),
    )


@pytest.mark.parametrize("kind", ["notification", "reminder", "alternates"])
@pytest.mark.parametrize("language", sorted(TEMPLATES))
def test_every_template_renders(kind: str, language: str) -> None:
    subject, body = render(
        content(kind), Recipient(name="A", email="a@x.example", language=language), "http://h/ack/t"
    )
    assert "demo-CALL-1" in subject and "http://h/ack/t" in body
    assert "2026-11-28T09:00+00:00 (Europe/Dublin)" in body and "GDPR Art. 33" in body


def test_languages_fall_back_to_english() -> None:
    assert template_language("es-MX") == "es"
    assert template_language("fr") == "fr"
    assert template_language("de") == "en"
    _, body = render(content(), Recipient(name="A", email="a@x.example", language="en"), None)
    assert "replying to this email" in body


def test_message_id_is_stable_per_purpose_and_recipient() -> None:
    a = message_id_for("incident-demo:1", "notification", "A@x.example", "desk@bpo.example")
    assert a == message_id_for("incident-demo:1", "notification", "a@x.example", "desk@bpo.example")
    assert a != message_id_for("incident-demo:1", "reminder", "a@x.example", "desk@bpo.example")
    assert a.endswith("@bpo.example>") and ":" not in a


def test_config_repr_hides_the_password() -> None:
    config = SmtpConfig(
        host="smtp.example", port=587, sender="d@x", user="u", password=SecretStr("hunter2")
    )
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)


def test_mail_reaches_the_sandbox(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    store = MessageStore(tmp_path / "smtp.db")
    port = free_port()
    controller = Controller(_Keep(store, Faults()), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = Mailer(SmtpConfig(host="127.0.0.1", port=port, sender="desk@bpo.example"))
        mid = message_id_for("incident-demo-1", "notification", "a@x.example", mailer.sender)
        message = mailer.compose(
            to="a@x.example", to_name="Ana", subject="S", body="B\n", message_id=mid
        )
        asyncio.run(mailer.send(message))
        asyncio.run(mailer.send(message))  # a retried send: the same message, recognisably
    finally:
        controller.stop()
    kept = store.list(to="a@x.example")
    assert [m["message_id"] for m in kept] == [mid, mid]
    assert kept[0]["subject"] == "S" and kept[0]["body"] == "B\n"
