"""The Temporal namespace an activity works for, and the Temporal client that reaches it.

With a namespace per client (docs/multi-client.md) one worker process polls several namespaces
with the same activity instances. An activity that reads about its own workflow (its client, its
state) or links to it must do so in the namespace the workflow runs in, which only the running
activity knows: `activity.info().workflow_namespace`.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity
from temporalio.client import Client


def current_namespace() -> str | None:
    """The running activity's workflow namespace; None outside an activity (unit tests, tools)."""
    try:
        return activity.info().workflow_namespace
    except RuntimeError:
        return None


class NamespaceClients:
    """A Temporal client per namespace the worker polls; `current()` is the running activity's."""

    def __init__(self, clients: Mapping[str, Client], default: str) -> None:
        if default not in clients:
            raise ValueError(f"no client for the default namespace '{default}'")
        self._clients = dict(clients)
        self.default = default
        # The namespaces polled, the default first; `get` may reach others but never polls them.
        self.namespaces = [default, *(ns for ns in clients if ns != default)]

    @classmethod
    def of(cls, client: Client | NamespaceClients) -> NamespaceClients:
        """Accepts the single client that callers before namespaces passed."""
        if isinstance(client, NamespaceClients):
            return client
        return cls({client.namespace: client}, client.namespace)

    def get(self, namespace: str | None) -> Client:
        if namespace is None:
            return self._clients[self.default]
        found = self._clients.get(namespace)
        if found is None:
            # Not polled here, so no activity of it should run here; reach it all the same
            # over the default client's connection rather than answer from the wrong namespace.
            found = Client(**{**self._clients[self.default].config(), "namespace": namespace})
            self._clients[namespace] = found
        return found

    def current(self) -> Client:
        return self.get(current_namespace())
