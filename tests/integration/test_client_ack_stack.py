"""Client notice and acknowledgement end to end, as `make run` starts the stack.

Real parts only: the worker emails the client's contact through the SMTP sandbox (aiosmtpd), the
test reads the message back over the sandbox's HTTP view, follows the link in it like a person
(GET shows a page, the button POSTs), and reads the evidence back from the incident's state.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from incident_desk.stack import ACK_SECRET_FILE, Stack
from incidents.notification import contract_obligation_id
from integrations import ack_links
from tests.support.stacks import api_client, running_stack, wait_for

CONTACT = "security@demo-client.example"
LINK = re.compile(r"(https?://\S+/ack/\S+)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("state")) as stack:
        yield stack


def messages(stack: Stack, incident_id: str) -> list[dict]:
    response = httpx.get(
        f"{stack.settings.smtp_sandbox_url}/sandbox/messages", params={"to": CONTACT}, timeout=5
    )
    response.raise_for_status()
    return [m for m in response.json() if incident_id in m["subject"]]


def test_notice_link_acknowledgement_is_recorded_once(stack: Stack) -> None:
    ref = f"CALL-{uuid.uuid4().hex[:8]}"
    with api_client(stack) as api:
        filed = api.post(
            f"{stack.settings.intake_base_url}/api/v1/incidents",
            json={
                "client": "demo",
                "summary": "Caller reports a phishing email asking for her bank PIN",
                "description": "Maria Santos forwarded the mail from a lookalike domain.",
                "channel": "phone",
                "validation": {"by": "filing.agent"},  # validated on filing: paged at once
                "reporter": {"name": "Maria Santos", "contact": "maria@example.com"},
                "aware_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                "category": "phishing",
                "external_ref": ref,
            },
        )
        assert filed.status_code == 202, filed.text
        incident_id = filed.json()["incident_id"]
        state_url = f"{stack.settings.intake_base_url}/api/v1/incidents/{incident_id}"

        [mail] = wait_for(lambda: messages(stack, incident_id), bool, timeout=60)
        assert "Maria" not in mail["subject"] + mail["body"]
        assert "lookalike" not in mail["subject"] + mail["body"]
        assert "phishing" in mail["subject"]
        link = LINK.search(mail["body"]).group(1)
        assert link.startswith(f"{stack.settings.intake_base_url}/ack/")

        # The contract stage is done, with the message id the client received as evidence.
        view = wait_for(
            lambda: api.get(state_url).json(),
            lambda v: any(e["event"] == "obligation_stage_done" for e in v["timeline"]),
        )
        clock = next(c for c in view["obligations"] if c["id"] == contract_obligation_id("demo"))
        assert clock["stages"][0]["status"] == "done"
        assert clock["stages"][0]["reference"] == mail["message_id"]

        with httpx.Client(timeout=15, headers={"User-Agent": "ack-test/1.0"}) as person:
            page = person.get(link)
            assert page.status_code == 200 and "Confirm receipt" in page.text
            assert '<form method="post">' in page.text
            # Opening the link (as a mail scanner does) acknowledges nothing.
            assert api.get(state_url).json()["client_notification"]["acknowledgement"] is None

            done = person.post(link)
            assert done.status_code == 200 and "has been recorded" in done.text, done.text
            view = api.get(state_url).json()
            ack = view["client_notification"]["acknowledgement"]
            assert ack["contact"] == CONTACT and ack["channel"] == "link"
            assert ack["message_id"] == mail["message_id"]
            assert ack["ip"] == "127.0.0.1" and ack["user_agent"] == "ack-test/1.0"
            assert ack["at"] is not None

            again = person.post(link)
            assert again.status_code == 200 and "already acknowledged" in again.text
            after = api.get(state_url).json()
            assert after["client_notification"] == view["client_notification"]
            assert len(after["timeline"]) == len(view["timeline"])

            signature_flipped = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
            forged = person.post(signature_flipped)
            assert forged.status_code == 400 and "not issued by us" in forged.text
            assert person.get(f"{stack.settings.intake_base_url}/ack/garbage").status_code == 400

            secret = (stack.state_dir / ACK_SECRET_FILE).read_text().strip()
            expired = ack_links.sign(
                SecretStr(secret),
                ack_links.AckClaims(
                    workflow_id=f"incident-{incident_id}",
                    contact=CONTACT,
                    message_id=mail["message_id"],
                    expires_at=datetime.now(UTC) - timedelta(minutes=1),
                ),
            )
            gone = person.post(f"{stack.settings.intake_base_url}/ack/{expired}")
            assert gone.status_code == 410 and "expired" in gone.text

        # Told by phone as well: kept beside the link's acknowledgement, which stands.
        by_phone = api.post(
            f"{state_url}/client-ack", json={"contact": "Aoife Byrne", "reference": "call 0815"}
        )
        assert by_phone.status_code == 200, by_phone.text
        view = by_phone.json()
        assert view["client_notification"]["acknowledgement"]["channel"] == "link"
        assert any(e["event"] == "client_also_acknowledged" for e in view["timeline"])

    log = (stack.log_dir / "intake.log").read_text()
    assert link.rsplit("/", 1)[1] not in log
