"""Reading client policies from disk, as an activity so the workflow records what it used."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from incidents.policy import ClientPolicy, PolicyError, load_policies


class PolicyActivities:
    def __init__(self, policies_dir: Path) -> None:
        self._policies_dir = policies_dir

    @activity.defn(name="load_client_policy")
    async def load_client_policy(self, client: str) -> ClientPolicy:
        """The policy in force now; the result lands in history as evidence of what applied."""
        try:
            policies = load_policies(self._policies_dir)
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
