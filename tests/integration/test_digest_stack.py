"""The weekly digest as `make run` wires it: the worker creates each client's schedule when it
starts, `incident-desk digest send` triggers one, the email reaches the SMTP sandbox, and the
issue lands in the demo policy's Jira reporting project (the Jira sandbox's SEC)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.connection import connect_configured
from incident_desk.settings import Settings
from incident_desk.stack import settings_env
from tests.support.stacks import api_client, running_stack, wait_for

CONTACT = "security@demo-client.example"  # policies/clients/demo.yaml


async def count(settings: Settings, query: str) -> int:
    return (await (await connect_configured(settings)).count_workflows(query)).count


def test_worker_schedules_the_digest_and_the_cli_sends_it(tmp_path: Path) -> None:
    with running_stack(tmp_path / "state") as stack:
        s = stack.settings
        with api_client(stack) as api:
            filed = api.post(
                f"{s.intake_base_url}/api/v1/incidents",
                json={
                    "client": "demo",
                    "summary": "Caller reports a phishing email asking for her PIN",
                    "description": "Maria Santos forwarded the mail from a lookalike domain.",
                    "channel": "phone",
                    "reporter": {"name": "Maria Santos", "contact": "maria@example.com"},
                    "category": "phishing",
                    "external_ref": f"DIGEST-{uuid.uuid4().hex[:6]}",
                },
            )
            assert filed.status_code == 202, filed.text
        incident_id = filed.json()["incident_id"]

        # The digest reads visibility, which trails the workflow by a moment: as a real Monday
        # would, send it once the incident is listed.
        query = f"WorkflowId = 'incident-{incident_id}' AND IncidentClient = 'demo'"
        wait_for(lambda: asyncio.run(count(s, query)), lambda n: n == 1)

        runner = CliRunner()
        env = settings_env(s)
        # The worker creates the schedule just after it starts polling; retry until it has.
        sent = wait_for(
            lambda: runner.invoke(app, ["digest", "send", "demo"], env=env),
            lambda result: result.exit_code == 0,
        )
        assert "digest-demo: triggered" in sent.output

        def digests() -> list[dict]:
            response = httpx.get(
                f"{s.smtp_sandbox_url}/sandbox/messages", params={"to": CONTACT}, timeout=5
            )
            return [m for m in response.json() if "Weekly security incident digest" in m["subject"]]

        (mail,) = wait_for(digests, bool, timeout=60)

        def digest_issues() -> list[dict]:
            response = httpx.get(f"{s.jira_base_url}/sandbox/issues", timeout=5)
            return [i for i in response.json() if "incident-desk-digest" in i["labels"]]

        (issue,) = wait_for(digest_issues, bool, timeout=30)
        assert issue["key"].startswith("SEC-")
        assert issue["summary"].startswith("Security incident digest — Demo Client Ltd — week of")
        assert incident_id in issue["description"]
        assert "|Incidents reported|1|" in issue["description"]
        assert "Maria Santos" not in issue["description"]
        # The issue sits in the incident project here: the intake's Jira webhook must see it as
        # Incident Desk's own issue, not as an agent logging a new incident.
        deliveries = wait_for(
            lambda: httpx.get(
                f"{s.jira_base_url}/sandbox/webhooks/deliveries",
                params={"event": "jira:issue_created", "issue": issue["key"]},
                timeout=5,
            ).json(),
            lambda found: bool(found) and found[0]["state"] != "pending",
        )
        # 202 is the intake's "ignored"; an incident started from the issue would answer 200.
        assert [a["status"] for a in deliveries[0]["attempts"]] == [202], deliveries
        assert "Demo Client Ltd" in mail["subject"]
        assert incident_id in mail["body"]
        assert "Incidents reported:            1" in mail["body"], mail["body"]
        assert "Maria Santos" not in mail["body"] and "maria@example.com" not in mail["body"]

        unknown = runner.invoke(app, ["digest", "send", "nobody"], env=env)
        assert unknown.exit_code == 1
        assert "no digest schedule for 'nobody'" in unknown.output
        bad_client = runner.invoke(app, ["digest", "schedule", "--client", "nobody"], env=env)
        assert bad_client.exit_code == 2
        assert "no client policy 'nobody'" in bad_client.output
