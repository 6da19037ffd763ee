"""Client policies as the worker's activities read them: per client, re-read when the file changes.

Read by the activities rather than carried by the workflow, so activity inputs stay as they are
in recorded histories and a routing change (a client moving Jira sites, a new sender address)
applies to the next effect. Activities also learn the client of the workflow they run for from
its IncidentClient search attribute when their request does not name it.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from activities.namespaces import current_namespace
from incidents.policy import ClientPolicy, PolicyError, load_policy

log = logging.getLogger(__name__)

ClientLookup = Callable[[str], Awaitable[str | None]]

_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class PolicyFiles:
    def __init__(self, policies_dir: Path) -> None:
        self._clients = policies_dir / "clients"
        self._cache: dict[str, tuple[float, ClientPolicy]] = {}

    def get(self, client: str | None) -> ClientPolicy | None:
        """None for no client, an unknown one, or a file broken since it was last good (logged):
        the caller then uses the deployment's defaults rather than stall the incident."""
        if not client or not _CLIENT_ID.match(client):
            return None
        path = self._clients / f"{client}.yaml"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(client)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            log.error("policy of client %s unreadable, using defaults: %s", client, exc)
            return None
        self._cache[client] = (mtime, policy)
        return policy


class ClientOfWorkflow:
    """The client of a workflow, remembered: it never changes for a workflow id in a namespace.
    (Two namespaces may hold the same id, e.g. `incident-SEC-1` from two clients' Jira sites.)"""

    def __init__(self, lookup: ClientLookup | None, size: int = 4096) -> None:
        self._lookup = lookup
        self._known: OrderedDict[tuple[str | None, str], str | None] = OrderedDict()
        self._size = size

    async def __call__(self, workflow_id: str) -> str | None:
        key = (current_namespace(), workflow_id)
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key]
        if self._lookup is None:
            return None
        client = await self._lookup(workflow_id)
        self._known[key] = client
        if len(self._known) > self._size:
            self._known.popitem(last=False)
        return client
