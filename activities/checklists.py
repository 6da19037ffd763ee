"""Reading the SOP checklists (policies/sops) from disk, as an activity so the workflow records
the checklist the agent was shown."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from incidents.sop import (
    Language,
    ResolvedChecklist,
    Sop,
    SopError,
    SopOverride,
    load_sops,
    merge,
    resolve,
)
from incidents.taxonomy import IncidentType


class ChecklistRequest(BaseModel):
    """The client's override travels with the request: the workflow already holds the policy it
    loaded, and the checklist must match that policy, not a file edited since."""

    incident_type: IncidentType
    language: Language
    client: str
    override: SopOverride | None = None


class ChecklistActivities:
    def __init__(self, policies_dir: Path) -> None:
        self._sops_dir = policies_dir / "sops"
        self._cached: tuple[tuple[tuple[str, int], ...], dict[IncidentType, Sop]] | None = None

    def _sops(self) -> dict[IncidentType, Sop]:
        # Re-read when a file changes, as PolicyActivities does for client policies.
        stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(self._sops_dir.glob("*.yaml")))
        if self._cached is None or self._cached[0] != stamp:
            self._cached = (stamp, load_sops(self._sops_dir))
        return self._cached[1]

    @activity.defn(name="load_sop_checklist")
    async def load_sop_checklist(self, request: ChecklistRequest) -> ResolvedChecklist:
        """The checklist for the type in the agent's language, the client's override applied.

        A broken SOP file is non-retryable here: the workflow goes on without a checklist (and
        says so in Jira) rather than holding the incident until someone mends the file.
        """
        try:
            sop = self._sops()[request.incident_type]
            source = f"client:{request.client}"
            if request.override is None:
                return resolve(sop, request.language, client=request.client)
            merged, sources = merge(sop, request.override, source)
            return resolve(
                merged,
                request.language,
                client=request.client,
                sources=sources,
                client_hotlines=request.override.hotlines,
            )
        except (SopError, OSError) as exc:
            raise ApplicationError(str(exc), type="SopError", non_retryable=True) from exc
