"""The five roles: what each grants, how old `responder` tokens carry on, the CLI's errors, and
the reduced view a client-readonly token gets."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.tokens import GRANTS, Permission, Principal, Role, TokenError, TokenStore
from incidents.clocks import ClockStatus, ObligationClock, StageClock
from incidents.lifecycle import IncidentState, IncidentView, TimelineEntry
from incidents.notification import ClientAcknowledgement, ClientNotification, SentNotice
from intake.status_api import client_status, scope_query

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_the_roles_are_the_five_the_issue_names() -> None:
    assert [r.value for r in Role] == [
        "agent", "on-call", "compliance", "admin", "client-readonly",
    ]  # fmt: skip
    assert GRANTS[Role.ADMIN] == frozenset(Permission)
    assert GRANTS[Role.CLIENT_READONLY] == {Permission.STATUS}
    # Everyone may see status; only staff the full record; only agents (and admins) file.
    assert all(Permission.STATUS in GRANTS[r] for r in Role)
    assert {r for r in Role if Permission.READ in GRANTS[r]} == set(Role) - {Role.CLIENT_READONLY}
    assert {r for r in Role if Permission.FILE in GRANTS[r]} == {Role.AGENT, Role.ADMIN}
    assert {r for r in Role if Permission.CLOSE in GRANTS[r]} == {Role.COMPLIANCE, Role.ADMIN}


def test_a_principal_with_several_roles_has_the_union_of_their_rights() -> None:
    both = Principal("oidc:ana", Role.ON_CALL, frozenset({"demo"}), also=frozenset({Role.AGENT}))
    assert both.may(Permission.FILE) and both.may(Permission.ACKNOWLEDGE)
    assert not both.may(Permission.CLOSE)


def test_stored_responder_tokens_keep_working_as_on_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    _, token = store.create("ops-ana", role=Role.ON_CALL, clients=["demo"], expires_in=None)
    # As a store written before the roles were split would have it.
    raw = json.loads(store.path.read_text())
    raw["tokens"][0]["role"] = "responder"
    store.path.write_text(json.dumps(raw))

    with caplog.at_level(logging.WARNING, logger="incident_desk.tokens"):
        principal = TokenStore(store.path).authenticate(token)
    assert principal is not None and principal.role is Role.ON_CALL
    assert principal.may(Permission.ACKNOWLEDGE) and principal.may(Permission.RESOLVE)
    assert "ops-ana (responder -> on-call)" in caplog.text

    # The next change rewrites the file with the new name.
    store.create("other", role=Role.AGENT, clients=["demo"], expires_in=None)
    assert [t["role"] for t in json.loads(store.path.read_text())["tokens"]] == [
        "on-call",
        "agent",
    ]


def test_a_client_readonly_token_needs_a_named_client(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TokenError, match="name its client"):
        store.create("acme", role=Role.CLIENT_READONLY, clients=["*"], expires_in=None)
    with pytest.raises(TokenError, match="name its client"):
        store.create("acme", role=Role.CLIENT_READONLY, clients=[], expires_in=None)
    record, _ = store.create("acme", role=Role.CLIENT_READONLY, clients=["demo"], expires_in=None)
    assert record.clients == ["demo"]


def test_refusals_are_explained_for_the_audit_trail(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    _, old = store.create(
        "old", role=Role.AGENT, clients=["demo"], expires_in=timedelta(minutes=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    _, gone = store.create("gone", role=Role.AGENT, clients=["demo"], expires_in=None)
    store.revoke("gone")
    assert store.refusal(old) == "expired token old"
    assert store.refusal(gone) == "revoked token gone"
    assert store.refusal("") == "no bearer token"
    assert store.refusal("Basic abc") == "not an API token"
    # A known id with the wrong secret does not prove the name, so it is not given.
    forged = gone.rsplit("_", 1)[0] + "_guessed"
    assert store.refusal(forged) == "unknown API token"


@pytest.mark.parametrize(
    "role, expected",
    [
        ("responder", "role 'responder' was replaced: use --role on-call"),
        ("boss", "not a role; use one of agent, on-call, compliance, admin, client-readonly"),
    ],
)
def test_tokens_create_names_what_is_wrong_with_a_role(
    tmp_path: Path, role: str, expected: str
) -> None:
    store = str(tmp_path / "tokens.json")
    result = CliRunner().invoke(
        app, ["tokens", "create", "--name", "x", "--role", role, "--store", store]
    )
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not Path(store).exists() or "x" not in Path(store).read_text()


@pytest.mark.parametrize("role", ["agent", "on-call", "compliance", "admin", "client-readonly"])
def test_tokens_create_accepts_every_role(tmp_path: Path, role: str) -> None:
    store = str(tmp_path / "tokens.json")
    result = CliRunner().invoke(
        app,
        ["tokens", "create", "--name", "x", "--role", role, "--clients", "demo", "--store", store],
    )
    assert result.exit_code == 0, result.output
    assert f"role: {role}" in result.stdout


def test_client_readonly_star_scope_is_a_clear_cli_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["tokens", "create", "--name", "acme", "--role", "client-readonly", "--clients", "*",
         "--store", str(tmp_path / "tokens.json")],
    )  # fmt: skip
    assert result.exit_code == 2 and "name its client" in result.output


def test_the_client_view_leaves_out_people_and_internal_notes() -> None:
    view = IncidentView(
        incident_id="demo-CALL-1",
        workflow_id="incident-demo-CALL-1",
        client="demo",
        state=IncidentState.CONTAINED,
        severity="SEV2",
        category="phishing",
        aware_at=NOW,
        received_at=NOW,
        jira_key="SEC-9",
        acknowledged_by="oncall.rafael",
        acknowledged_at=NOW,
        validated_by="agent.lea",
        validation_note="INTERNAL: caller sounded unsure",
        contained_by="oncall.rafael",
        contained_at=NOW,
        containment_note="INTERNAL: reset the password of Maria Santos",
        timeline=[TimelineEntry(at=NOW, event="note", detail="INTERNAL timeline", by="lea")],
        obligations=[
            ObligationClock(
                id="contract_demo",
                name="Notify the client",
                owed_by="us",
                jurisdiction="PH",
                instrument="contract",
                stages=[
                    StageClock(
                        stage="initial",
                        status=ClockStatus.DONE,
                        trigger="aware",
                        due_at=NOW,
                        done_at=NOW,
                        done_by="dpo.internal",
                        reference="MSG-1",
                    )
                ],
            )
        ],
        client_notification=ClientNotification(
            recipients=["security@client.example"],
            notices=[
                SentNotice(
                    kind="initial",
                    to="security@client.example",
                    name="Client SOC",
                    language="en",
                    message_id="<m1@desk>",
                    sent_at=NOW,
                )
            ],
            acknowledgement=ClientAcknowledgement(
                contact="security@client.example",
                channel="link",
                message_id="<m1@desk>",
                token_id="abc",
                ip="203.0.113.9",
                user_agent="Mozilla",
                at=NOW,
            ),
        ),
    )
    status = client_status(view).model_dump(mode="json")
    text = json.dumps(status)
    for hidden in ("INTERNAL", "Maria", "oncall.rafael", "agent.lea", "dpo.internal",
                   "203.0.113.9", "Mozilla", "SEC-9", "timeline"):  # fmt: skip
        assert hidden not in text, hidden
    assert status["state"] == "CONTAINED" and status["severity"] == "SEV2"
    assert status["obligations"][0]["stages"][0]["reference"] == "MSG-1"
    assert status["notices"][0]["message_id"] == "<m1@desk>"
    assert status["acknowledgement"]["contact"] == "security@client.example"


def test_the_list_query_carries_the_scope() -> None:
    scoped = Principal("t", Role.CLIENT_READONLY, frozenset({"demo", "harbour-pine"}))
    assert scope_query(scoped, None, IncidentState.CLOSED) == (
        "WorkflowType = 'IncidentWorkflow' AND IncidentClient IN ('demo', 'harbour-pine') "
        "AND IncidentState = 'CLOSED'"
    )
    everyone = Principal("t", Role.ADMIN, frozenset({"*"}))
    assert scope_query(everyone, "demo", None) == (
        "WorkflowType = 'IncidentWorkflow' AND IncidentClient = 'demo'"
    )
