"""Whole stacks for tests: `make run`'s own supervisor on free ports and a private state dir."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from incident_desk.settings import Settings
from incident_desk.stack import Stack, StackError
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
