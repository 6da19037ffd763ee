"""Run ASGI apps on real sockets for tests, beside whatever else is running on the machine.

Tests talk to stand-ins over real HTTP (the `jira` library, webhooks, ...), so each app gets its
own uvicorn server on a free 127.0.0.1 port in a background thread. Port 0 lets the kernel pick,
which keeps parallel test runs and a live `make run` stack from colliding.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["free_port", "run_app"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago; prefer `run_app(app)` (port 0) where possible."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_app(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 5.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL, e.g. ``http://127.0.0.1:41234``.

    Pass a `port` to come back on the same address after a restart (clients keep their URL).
    The app's lifespan runs, so startup/shutdown hooks (opening and closing files) happen as
    they would in production.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=shutdown_timeout,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:  # surfaced to the test below, not swallowed
            failure.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"server did not start on {host}:{port}") from (
                failure[0] if failure else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"server did not start on {host}:{port} in {startup_timeout}s")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout + 5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        if failure:
            raise RuntimeError("server failed while running") from failure[0]
