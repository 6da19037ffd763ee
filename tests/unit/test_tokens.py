"""API tokens: shown once, kept as a hash, listed without secrets, revoked and expired for good."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from incident_desk.cli import app
from incident_desk.tokens import (
    Permission,
    Role,
    TokenError,
    TokenStore,
    TokenStoreError,
    ensure_local_admin_token,
    parse_duration,
)


def test_a_token_is_shown_once_and_stored_only_as_its_hash(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    record, token = store.create("ops-ana", role=Role.RESPONDER, clients=["demo"], expires_in=None)
    text = store.path.read_text()
    assert token not in text and token.split("_", 2)[2] not in text
    assert store.path.stat().st_mode & 0o777 == 0o600
    principal = store.authenticate(token)
    assert principal is not None and principal.name == "ops-ana"
    assert principal.may(Permission.ACT) and not principal.may(Permission.ADMIN)
    assert principal.sees("demo") and not principal.sees("nordlicht-bank")
    assert record.expires_at is None


@pytest.mark.parametrize(
    "presented",
    ["", "Bearer", "idk_", "idk__x", "not-a-token", "idk_000000000000_guessed-secret"],
)
def test_anything_but_a_stored_token_is_refused(tmp_path: Path, presented: str) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    _, token = store.create("a", role=Role.ADMIN, clients=["*"], expires_in=None)
    assert store.authenticate(presented) is None
    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_revoked_and_expired_tokens_are_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    _, short = store.create("short", role=Role.AGENT, clients=[], expires_in=timedelta(hours=1))
    _, gone = store.create("gone", role=Role.AGENT, clients=[], expires_in=None)
    assert store.authenticate(short) is not None
    assert store.authenticate(short, now=datetime.now(UTC) + timedelta(hours=2)) is None
    store.revoke("gone")
    assert store.authenticate(gone) is None
    with pytest.raises(TokenError, match="no unrevoked token"):
        store.revoke("gone")
    # The name is free again once revoked; the old token stays dead.
    _, again = store.create("gone", role=Role.AGENT, clients=[], expires_in=None)
    assert store.authenticate(again) is not None and store.authenticate(gone) is None


def test_a_second_replica_sees_changes_without_restarting(tmp_path: Path) -> None:
    writer, reader = TokenStore(tmp_path / "t.json"), TokenStore(tmp_path / "t.json")
    assert reader.authenticate("idk_x_y") is None  # no file yet: nobody is let in
    _, token = writer.create("later", role=Role.AGENT, clients=["*"], expires_in=None)
    assert reader.authenticate(token) is not None
    writer.revoke("later")
    assert reader.authenticate(token) is None


@pytest.mark.parametrize(
    ("name", "clients", "message"),
    [
        ("has space", ["*"], "name"),
        ("ok", ["Demo!"], "not a client id"),
        ("ok", ["*", "demo"], "alone"),
    ],
)
def test_bad_requests_are_refused(
    tmp_path: Path, name: str, clients: list[str], message: str
) -> None:
    with pytest.raises(TokenError, match=message):
        TokenStore(tmp_path / "t.json").create(
            name, role=Role.AGENT, clients=clients, expires_in=None
        )


def test_duplicate_names_and_durations(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.json")
    store.create("x", role=Role.AGENT, clients=["*"], expires_in=None)
    with pytest.raises(TokenError, match="exists"):
        store.create("x", role=Role.AGENT, clients=["*"], expires_in=None)
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("never") is None
    for bad in ("0d", "3y", "soon", "-1d"):
        with pytest.raises(TokenError):
            parse_duration(bad)


def test_an_unreadable_store_is_an_error_not_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(TokenStoreError):
        TokenStore(tmp_path / "t.json").authenticate("idk_a_b")


def test_local_admin_token_is_kept_and_replaced_when_it_stops_working(tmp_path: Path) -> None:
    store, file = TokenStore(tmp_path / "tokens.json"), tmp_path / "admin-token"
    ensure_local_admin_token(store, file)
    first = file.read_text()
    assert file.stat().st_mode & 0o777 == 0o600
    ensure_local_admin_token(store, file)
    assert file.read_text() == first
    store.revoke("local-admin")
    ensure_local_admin_token(store, file)
    second = file.read_text().strip()
    assert second != first.strip()
    principal = store.authenticate(second)
    assert principal is not None and principal.role is Role.ADMIN


def test_tokens_cli_create_list_revoke(tmp_path: Path) -> None:
    runner, store = CliRunner(), str(tmp_path / "tokens.json")
    created = runner.invoke(
        app,
        ["tokens", "create", "--name", "bpo-floor", "--role", "agent",
         "--clients", "demo,harbour-pine", "--expires-in", "30d", "--store", store],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.stdout.split("token: ")[1].split()[0]
    assert "not shown again" in created.output

    listed = runner.invoke(app, ["tokens", "list", "--json", "--store", store])
    assert listed.exit_code == 0, listed.output
    assert token not in listed.output and "sha256" not in listed.output
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["name"] == "bpo-floor" and row["role"] == "agent" and row["status"] == "active"
    assert row["clients"] == "demo,harbour-pine"
    assert token not in runner.invoke(app, ["tokens", "list", "--store", store]).output

    assert runner.invoke(app, ["tokens", "revoke", "bpo-floor", "--store", store]).exit_code == 0
    assert TokenStore(Path(store)).authenticate(token) is None
    listed = runner.invoke(app, ["tokens", "list", "--json", "--store", store])
    assert json.loads(listed.stdout.splitlines()[0])["status"] == "revoked"

    missing = runner.invoke(app, ["tokens", "revoke", "nobody", "--store", store])
    assert missing.exit_code == 2 and "no unrevoked token" in missing.output
    bad = runner.invoke(
        app, ["tokens", "create", "--name", "x", "--expires-in", "soon", "--store", store]
    )
    assert bad.exit_code == 2 and "expiry" in bad.output
