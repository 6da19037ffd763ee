"""Reading client policies from disk, as an activity so the workflow records what it used."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from incidents.policy import ClientPolicy, PolicyError, load_policies

# (file name, inode, size, mtime in ns) of every client policy file: what `load_policies` read.
Snapshot = tuple[tuple[str, int, int, int], ...]


def _snapshot(policies_dir: Path) -> Snapshot:
    """Cheap to take (one stat per file), and it changes whenever a file is added, removed,
    replaced (new inode, as editors and `git checkout` do) or rewritten in place."""
    entries = []
    for path in sorted((policies_dir / "clients").glob("*.yaml")):
        try:
            st = path.stat()
        except OSError:
            continue  # removed between the listing and the stat; the next call sees it gone
        entries.append((path.name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(entries)


class PolicyActivities:
    """Parses the policy files again only when they change on disk.

    Every incident runs this activity first, and parsing all the YAML each time was the largest
    single cost in the worker under load (bench/throughput.py, docs/benchmarks.md); it also ran
    on the event loop, holding up every other activity and workflow task meanwhile. The files'
    stat snapshot keeps the "policy in force now" promise: an edit is read by the next call.
    """

    def __init__(self, policies_dir: Path) -> None:
        self._policies_dir = policies_dir
        self._cached: tuple[Snapshot, dict[str, ClientPolicy]] | None = None

    def _policies(self) -> dict[str, ClientPolicy]:
        snapshot = _snapshot(self._policies_dir)
        if self._cached is not None and self._cached[0] == snapshot:
            return self._cached[1]
        # A broken file is not cached: every call reports it until it is mended.
        policies = load_policies(self._policies_dir)
        self._cached = (snapshot, policies)
        return policies

    @activity.defn(name="load_client_policy")
    async def load_client_policy(self, client: str) -> ClientPolicy:
        """The policy in force now; the result lands in history as evidence of what applied."""
        try:
            policies = self._policies()
        except PolicyError as exc:
            # A broken file is an operator error that a retry may fix once the file is mended.
            raise ApplicationError(str(exc), type="PolicyError") from exc
        if client not in policies:
            raise ApplicationError(
                f"no policy for client '{client}' in {self._policies_dir}",
                type="UnknownClient",
                non_retryable=True,
            )
        return policies[client]
