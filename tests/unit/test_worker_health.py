"""The worker's probes: alive while the loop runs; ready only when polling and Temporal answers.

The worker and the client are stand-ins with just the attributes the probes read; the real
worker's port is exercised by tests/faults/test_scale.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx

from incident_desk.health import WorkerHealth, serve_health


class Service:
    def __init__(self) -> None:
        self.up = True

    async def get_system_info(self, request: Any, **options: Any) -> object:
        if not self.up:
            raise RuntimeError("connection refused")
        return object()


async def test_probes_follow_the_worker_and_the_server() -> None:
    service = Service()
    health = WorkerHealth(client=SimpleNamespace(workflow_service=service))  # type: ignore[arg-type]
    server = await serve_health(health, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            assert (await http.get("/healthz")).json() == {"status": "alive"}
            not_yet = await http.get("/readyz")
            assert not_yet.status_code == 503
            assert not_yet.json()["worker"] == "not polling yet"

            health.worker = SimpleNamespace(is_running=True, task_queue="incident-desk")  # type: ignore[assignment]
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {
                "ready": True,
                "worker": "polling incident-desk",
                "temporal": "reachable",
            }

            service.up = False
            lost = await http.get("/readyz")
            assert lost.status_code == 503
            assert lost.json()["temporal"].startswith("unreachable")
            assert (await http.get("/healthz")).status_code == 200, "alive all the same"

            service.up = True
            health.draining = True
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405
    finally:
        server.close()
        await server.wait_closed()
