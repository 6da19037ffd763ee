"""Which Temporal namespace each client's incidents live in, and one Temporal client for each.

By default every client shares TEMPORAL_NAMESPACE. A client policy may name a namespace of its
own (`temporal: {namespace: ...}`, docs/multi-client.md) for a harder wall between clients; the
worker then polls, and the intake starts, queries and lists, in every namespace in use. The
namespace is a fact of the policy, not of the incident: workflow ids and histories stay as they
are, and an incident never moves between namespaces once started.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

from temporalio.client import Client

from incidents.policy import ClientPolicy, PolicyError, load_policy

log = logging.getLogger("incident_desk.namespaces")


class Namespaces:
    """The client -> namespace map; the deployment's namespace for any client not named."""

    def __init__(self, default: str, policies: Mapping[str, ClientPolicy] | None = None) -> None:
        self.default = default
        self._of = {
            cid: p.temporal.namespace
            for cid, p in (policies or {}).items()
            if p.temporal.namespace is not None
        }

    @classmethod
    def from_dir(cls, default: str, policies_dir: Path) -> Namespaces:
        """File by file, so one broken policy (reported by the intake's readiness and the
        policy CLI) does not take the other clients' namespaces with it; it is logged here."""
        policies: dict[str, ClientPolicy] = {}
        for path in sorted((policies_dir / "clients").glob("*.yaml")):
            try:
                policy = load_policy(path)
            except PolicyError as exc:
                log.error("namespace of %s unknown until its policy loads: %s", path.stem, exc)
                continue
            policies[policy.id] = policy
        return cls(default, policies)

    def of(self, client: str | None) -> str:
        if client is None:
            return self.default
        return self._of.get(client, self.default)

    def all(self) -> list[str]:
        """The default first, then the others by name: the order fan-outs ask them in."""
        others = sorted(set(self._of.values()) - {self.default})
        return [self.default, *others]

    def for_clients(self, clients: Iterable[str]) -> list[str]:
        """The namespaces holding these clients' incidents, in the order of `all()`."""
        wanted = {self.of(c) for c in clients}
        return [ns for ns in self.all() if ns in wanted]

    def clients_in(self, namespace: str, known: Iterable[str]) -> list[str]:
        return [c for c in known if self.of(c) == namespace]

    @property
    def separated(self) -> bool:
        """True when some client has a namespace apart from the default one."""
        return len(self.all()) > 1


def clients_for(base: Client, namespaces: Iterable[str]) -> dict[str, Client]:
    """A Temporal client per namespace, all sharing `base`'s connection, codec, interceptors
    (tracing) and credentials: one gRPC connection carries every namespace's calls, so a
    namespace adds pollers, not sockets or TLS handshakes."""
    clients: dict[str, Client] = {}
    for namespace in namespaces:
        if namespace == base.namespace:
            clients[namespace] = base
        else:
            clients[namespace] = Client(**{**base.config(), "namespace": namespace})
    return clients


class WorkflowNamespaces:
    """Where workflows were found, remembered (bounded): a workflow never changes namespace."""

    def __init__(self, size: int = 10_000) -> None:
        self._known: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def get(self, workflow_id: str) -> str | None:
        namespace = self._known.get(workflow_id)
        if namespace is not None:
            self._known.move_to_end(workflow_id)
        return namespace

    def remember(self, workflow_id: str, namespace: str) -> None:
        self._known[workflow_id] = namespace
        self._known.move_to_end(workflow_id)
        if len(self._known) > self._size:
            self._known.popitem(last=False)
