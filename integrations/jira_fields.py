"""The Jira fields Incident Desk reads and writes, named as people name them in Jira.

Custom field ids (`customfield_10234`) differ on every Jira instance, so configuration names
fields by their display name (`JIRA_FIELDS`) and the ids are looked up through the field API
(`GET /rest/api/2/field`) when needed. A name that no field has simply turns that feature off
for the instance: the incident does not depend on any of these fields existing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# How long a field list is trusted: admins add fields rarely, and a restart is not needed.
FIELDS_TTL_SECONDS = 600.0


class JiraFieldNames(BaseModel):
    """Display names of the fields that matter (`JIRA_FIELDS`, JSON); null turns one off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: str | None = "Severity"
    incident_type: str | None = "Incident Type"
    data_categories: str | None = "Data Categories"
    records_affected: str | None = "Records Affected"
    aware_at: str | None = "Awareness Time"
    jurisdictions: str | None = "Affected Jurisdictions"
    next_deadline: str | None = Field("Next Deadline", description="Written by Incident Desk")
    reporter_contact: str | None = Field(
        "Reporter Contact", description="The caller's phone or e-mail: finds duplicate reports"
    )
    external_reference: str | None = Field(
        "External Reference", description="The client's own reference: finds duplicate reports"
    )

    def facts(self) -> dict[str, str]:
        """Fact name → field name, for the fields whose edits become facts updates."""
        wanted = (
            "severity",
            "incident_type",
            "data_categories",
            "records_affected",
            "aware_at",
            "jurisdictions",
        )
        return {name: value for name in wanted if (value := getattr(self, name))}


class FieldIds:
    """Field name → id on one Jira instance, from its field list, refreshed now and then."""

    def __init__(self, load: Callable[[], list[dict[str, Any]]]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}
        self._loaded_at = float("-inf")

    def id_of(self, name: str | None) -> str | None:
        if not name:
            return None
        with self._lock:
            key = name.casefold()
            stale = time.monotonic() - self._loaded_at > FIELDS_TTL_SECONDS
            if stale or (key not in self._ids and time.monotonic() - self._loaded_at > 5):
                self._ids = {
                    str(f["name"]).casefold(): str(f["id"])
                    for f in self._load()
                    if f.get("name") and f.get("id")
                }
                self._loaded_at = time.monotonic()
            return self._ids.get(key)
