"""Names the outside world sees (DESIGN.md): written once here, used everywhere.

Operators build list filters and dashboards on these, so renaming one is a breaking change.
"""

from __future__ import annotations

from enum import Enum

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
)

TASK_QUEUE = "incident-desk"
WORKFLOW_ID_PREFIX = "incident-"


class IncidentSearchAttribute(Enum):
    """Each member carries its typed key, so every upsert is checked against the right type."""

    STATE = SearchAttributeKey.for_keyword("IncidentState")
    SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
    TYPE = SearchAttributeKey.for_keyword("IncidentType")
    CLIENT = SearchAttributeKey.for_keyword("IncidentClient")
    JIRA_KEY = SearchAttributeKey.for_keyword("JiraKey")
    REGIMES = SearchAttributeKey.for_keyword_list("Regimes")
    NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
    DEADLINE_BREACHED = SearchAttributeKey.for_bool("DeadlineBreached")
    # Keyed digests of the reporter contact and external reference (incidents/duplicates.py):
    # set at start by the intake, never raw contact details.
    REPORT_KEYS = SearchAttributeKey.for_keyword_list("ReportKeys")

    @property
    def key(self) -> SearchAttributeKey:
        return self.value

    @classmethod
    def cli_args(cls) -> list[str]:
        """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
        names = {
            SearchAttributeIndexedValueType.KEYWORD: "Keyword",
            SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
            SearchAttributeIndexedValueType.DATETIME: "Datetime",
            SearchAttributeIndexedValueType.BOOL: "Bool",
        }
        args: list[str] = []
        for member in cls:
            kind = names[member.key.indexed_value_type]
            args += ["--search-attribute", f"{member.key.name}={kind}"]
        return args


def workflow_id_for(incident_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{incident_id}"


def incident_id_from(identifier: str) -> str:
    """Accept either form the API promises: the incident id or the workflow id."""
    if identifier.startswith(WORKFLOW_ID_PREFIX):
        return identifier[len(WORKFLOW_ID_PREFIX) :]
    return identifier
