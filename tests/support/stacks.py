"""Whole stacks for tests: `make run`'s own supervisor on free ports and a private state dir."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from incident_desk.settings import Settings
from incident_desk.stack import Stack, StackError
from incident_desk.tokens import ADMIN_TOKEN_FILE, ALL_CLIENTS, Role, TokenStore
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def stack_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "policies_dir": REPO / "policies",
        "temporal_port": free_port(),
        "temporal_ui_port": free_port(),
        "intake_port": free_port(),
        "jira_sandbox_port": free_port(),
        "pager_sandbox_port": free_port(),
        "opsgenie_sandbox_port": free_port(),
        "smtp_sandbox_port": free_port(),
        "smtp_sandbox_http_port": free_port(),
        "worker_shutdown_grace": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_stack(state_dir: Path, attempts: int = 3, **overrides: Any) -> Iterator[Stack]:
    """Start a stack, choosing fresh ports if one was taken between picking and binding it.

    A port found free can be grabbed by any other process (the dev server picks random ports
    for its own HTTP and metrics listeners) before our server binds it; a new set of ports is
    the cure, and a stack that fails for any other reason fails the test as it should.
    """
    for attempt in range(attempts):
        stack = Stack(stack_settings(state_dir, **overrides))
        try:
            stack.start()
        except StackError as exc:
            if attempt + 1 == attempts or not _port_clash(stack, str(exc)):
                raise
            continue
        try:
            yield stack
        finally:
            stack.stop()
        return


def api_headers(stack: Stack | Settings) -> dict[str, str]:
    """The stack's own admin token (`.state/admin-token`), as the CLI would send it."""
    path = (
        stack.admin_token_path
        if isinstance(stack, Stack)
        else stack.state_dir.resolve() / ADMIN_TOKEN_FILE
    )
    return {"Authorization": f"Bearer {path.read_text().strip()}"}


def api_client(stack: Stack) -> httpx.Client:
    """An httpx client that authenticates as the stack's admin; use it for `/api/v1` calls."""
    return httpx.Client(headers=api_headers(stack), timeout=15)


def make_token(
    settings: Settings,
    role: Role = Role.ADMIN,
    clients: tuple[str, ...] = (ALL_CLIENTS,),
    name: str | None = None,
    expires_in: timedelta | None = timedelta(hours=1),
) -> dict[str, str]:
    """Headers with a new token in the settings' token store (a test's own principal)."""
    _, token = TokenStore(settings.token_store_path).create(
        name or f"test-{uuid.uuid4().hex[:8]}",
        role=role,
        clients=list(clients),
        expires_in=expires_in,
    )
    return {"Authorization": f"Bearer {token}"}


def _port_clash(stack: Stack, message: str) -> bool:
    if "ports already in use" in message:
        return True
    logs = [stack.log_tail(part, lines=50) for part in stack.parts]
    return any("address already in use" in log.lower() for log in logs)


def wait_for(fetch: Callable[[], T], predicate: Callable[[T], Any], timeout: float = 30.0) -> T:
    """Poll until the stack has caught up: every effect here is asynchronous by design."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached; last value: {value!r}")
        time.sleep(0.05)
