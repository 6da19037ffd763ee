"""The worker's health port: `/healthz` (alive) and `/readyz` (connected and polling).

A worker has no HTTP server of its own, and an orchestrator needs two different answers: a
liveness probe that fails only when the process is wedged (restart it), and a readiness probe
that fails while it cannot do work (Temporal unreachable, not yet polling, draining), which
must not restart it. A dozen lines of asyncio serve both without another dependency, inside the
worker's own event loop, so a blocked loop also fails the liveness probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.worker import Worker

log = logging.getLogger("incident_desk.worker.health")


@dataclass
class WorkerHealth:
    """What the probes report; `worker` is set once it runs, `draining` when shutdown begins."""

    client: Client
    worker: Worker | None = None
    draining: bool = False
    server_timeout: float = 2.0

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        detail: dict[str, str] = {}
        if self.draining:
            return False, {"worker": "draining: finishing in-flight activities"}
        if self.worker is None or not self.worker.is_running:
            return False, {"worker": "not polling yet"}
        detail["worker"] = f"polling {self.worker.task_queue}"
        try:
            # GetSystemInfo is allowed for namespace-scoped Cloud API keys, unlike gRPC health.
            await self.client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=self.server_timeout)
            )
        except Exception as exc:  # any failure means "cannot reach Temporal now"
            return False, {**detail, "temporal": f"unreachable: {type(exc).__name__}"}
        detail["temporal"] = "reachable"
        return True, detail


async def _respond(writer: asyncio.StreamWriter, status: int, body: dict[str, object]) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
    payload = json.dumps(body).encode()
    writer.write(
        f"HTTP/1.1 {status} {reason[status]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + payload
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


async def serve_health(health: WorkerHealth, host: str, port: int) -> asyncio.Server:
    """Start serving; the caller closes the returned server when the worker has stopped."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing in them matters here
        except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            writer.close()
            return
        parts = request.decode("latin-1").split()
        method, path = (parts[0], parts[1].split("?")[0]) if len(parts) >= 2 else ("", "")
        if method not in ("GET", "HEAD"):
            await _respond(writer, 405, {"error": "GET only"})
        elif path == "/healthz":
            await _respond(writer, 200, {"status": "alive"})
        elif path == "/readyz":
            ready, detail = await health.readiness()
            await _respond(writer, 200 if ready else 503, {"ready": ready, **detail})
        else:
            await _respond(writer, 404, {"error": "try /healthz or /readyz"})

    server = await asyncio.start_server(handle, host, port)
    bound = server.sockets[0].getsockname()
    log.info("worker health at http://%s:%s/healthz and /readyz", bound[0], bound[1])
    return server
