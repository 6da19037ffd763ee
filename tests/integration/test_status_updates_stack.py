"""Stakeholder updates on the whole stack: `POST /api/v1/incidents/{id}/updates` and
`incident-desk update`, through the intake (token, audit), the workflow and the Jira sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.stack import Stack
from tests.integration.test_stack import jira_client, report
from tests.support.stacks import api_client, running_stack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("updates-state")) as stack:
        yield stack


def test_updates_from_the_api_and_the_cli_reach_the_timeline_and_jira(stack: Stack) -> None:
    api = stack.settings.intake_base_url
    with api_client(stack) as http:
        accepted = http.post(f"{api}/api/v1/incidents", json=report(external_ref="UPD-1"))
        assert accepted.status_code == 202, accepted.text
        incident = accepted.json()["incident_id"]
        wait_for(
            lambda: http.get(f"{api}/api/v1/incidents/{incident}").json(),
            lambda v: v["state"] == "ESCALATED" and v.get("jira_key"),
        )
        acked = http.post(f"{api}/api/v1/incidents/{incident}/ack", json={"by": "ana"})
        assert acked.status_code == 200, acked.text

        posted = http.post(
            f"{api}/api/v1/incidents/{incident}/updates",
            json={"by": "ana", "text": "Phishing domain blocked; mailbox sweep running"},
        )
        assert posted.status_code == 200, posted.text
        view = posted.json()
        assert view["last_stakeholder_update_at"] is not None
        entry = [e for e in view["timeline"] if e["event"] == "stakeholder_update"][-1]
        assert entry["by"] == "ana" and "mailbox sweep running" in entry["detail"]
        assert "(API token local-admin)" in entry["detail"]

        empty = http.post(f"{api}/api/v1/incidents/{incident}/updates", json={"by": "ana"})
        assert empty.status_code == 422 and "text" in empty.text
        unknown = http.post(
            f"{api}/api/v1/incidents/demo-nope/updates", json={"by": "ana", "text": "x"}
        )
        assert unknown.status_code == 404, unknown.text
        anonymous = httpx.post(
            f"{api}/api/v1/incidents/{incident}/updates", json={"by": "ana", "text": "x"}
        )
        assert anonymous.status_code == 401

    runner = CliRunner(env={"INCIDENT_DESK_STATE_DIR": str(stack.state_dir)})
    done = runner.invoke(
        app, ["update", incident, "Sweep done, 3 mailboxes cleaned", "--by", "ana", "--url", api]
    )
    assert done.exit_code == 0, done.output
    assert "last_stakeholder_update_at: " in done.output and "state: ESCALATED" in done.output
    missing = runner.invoke(app, ["update", "demo-nope", "text", "--by", "ana", "--url", api])
    assert missing.exit_code == 1 and "HTTP 404" in missing.output

    key = view["jira_key"]
    comments = wait_for(
        lambda: [c.body for c in jira_client(stack.settings).comments(key)],
        lambda bodies: sum(b.startswith("Stakeholder update from ana:") for b in bodies) == 2,
    )
    assert any("Sweep done, 3 mailboxes cleaned" in b for b in comments)


def test_the_lifecycle_commands_triage_contain_and_explain_refusals(stack: Stack) -> None:
    """`validate`, `false-alarm`, `contain`, `close` from a terminal, through the real API."""
    api = stack.settings.intake_base_url
    runner = CliRunner(env={"INCIDENT_DESK_STATE_DIR": str(stack.state_dir)})

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--url", api])
        return result.exit_code, result.output

    with api_client(stack) as http:
        first = report(external_ref="CLI-1")
        first.pop("validation")  # an agent triages this one from the terminal
        second = report(external_ref="CLI-2")
        second.pop("validation")
        for body in (first, second):
            assert http.post(f"{api}/api/v1/incidents", json=body).status_code == 202

        def state(incident: str) -> str:
            return wait_for(
                lambda: http.get(f"{api}/api/v1/incidents/{incident}").json(),
                lambda v: v.get("jira_key"),
            )["state"]

        assert state("demo-CLI-1") == "TRIAGE"
        code, out = cli("contain", "demo-CLI-1", "--by", "mo", "--note", "blocked")
        assert code == 1 and "HTTP 409" in out and "validated" in out  # the workflow's reason
        code, out = cli("validate", "demo-CLI-1", "--by", "ana", "--severity", "SEV2")
        assert code == 0 and "incident_id: demo-CLI-1" in out, out
        wait_for(
            lambda: http.get(f"{api}/api/v1/incidents/demo-CLI-1").json(),
            lambda v: v["state"] == "ESCALATED" and v["severity"] == "SEV2",
        )

        assert state("demo-CLI-2") == "TRIAGE"
        code, out = cli("false-alarm", "demo-CLI-2", "--by", "ana", "--reason", "test call")
        assert code == 0, out
        closed = wait_for(
            lambda: http.get(f"{api}/api/v1/incidents/demo-CLI-2"),
            lambda r: r.status_code != 200 or r.json()["state"] == "CLOSED",
        )
        assert closed.status_code == 200 and closed.json()["state"] == "CLOSED"
        code, out = cli("close", "demo-CLI-2", "--by", "lead", "--summary", "done")
        assert code == 1 and "HTTP 409" in out, out
