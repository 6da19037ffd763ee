"""Finding the open incident a new report duplicates, and linking the two.

Decided at intake, through Temporal visibility, rather than in a long-lived workflow per client:
a per-client workflow would serialise every report of a busy client through one history that
grows without end, and would need its own continue-as-new and recovery. Visibility already
indexes every incident; the new `ReportKeys` attribute (keyed digests, incidents/duplicates.py)
makes the match one query. The price is visibility's lag: two reports of the same caller within
the same second or so can both start (Elasticsearch refreshes about once a second; the dev
server's SQLite at once). That case is rare for phone calls and harmless: the later one can still
be closed as a false alarm that names the other.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.service import RPCError

from incidents.duplicates import MatchedOn, report_keys
from workflows.names import IncidentSearchAttribute as SA

if TYPE_CHECKING:
    from incident_desk.settings import Settings

log = logging.getLogger("incident_desk.intake.duplicates")


@dataclass(frozen=True)
class OpenIncident:
    workflow_id: str
    matched_on: MatchedOn
    jira_key: str | None


def keys_for(
    settings: Settings, client: str, contact: str | None, external_ref: str | None
) -> dict[MatchedOn, str]:
    """The new report's keys; none when no secret is configured (matching is then off)."""
    if settings.ack_secret is None:
        return {}
    # Its own key, derived: a digest here can never be replayed as an acknowledgement link.
    key = hmac.new(
        settings.ack_secret.get_secret_value().encode(), b"report-keys", hashlib.sha256
    ).digest()
    return report_keys(key, client, contact, external_ref)


async def find_open(
    temporal: Client,
    *,
    client: str,
    keys: dict[MatchedOn, str],
    window: timedelta,
    exclude: str,
) -> OpenIncident | None:
    """The oldest running incident of this client, started within `window`, sharing a key."""
    if not keys or window <= timedelta(0):
        return None
    since = (datetime.now(UTC) - window).isoformat()
    wanted = ", ".join(f"'{k}'" for k in keys.values())  # hex digests: nothing to escape
    query = (
        f"{SA.CLIENT.key.name} = '{client}' AND {SA.REPORT_KEYS.key.name} IN ({wanted}) "
        f"AND ExecutionStatus = 'Running' AND StartTime >= '{since}'"
    )
    found: list[tuple[datetime, OpenIncident]] = []
    try:
        async for execution in temporal.list_workflows(query, limit=20):
            if execution.id == exclude:
                continue  # the same report again: idempotent start, not a duplicate
            held = set(execution.typed_search_attributes.get(SA.REPORT_KEYS.key) or [])
            matched = next(kind for kind, key in keys.items() if key in held)
            jira_key = execution.typed_search_attributes.get(SA.JIRA_KEY.key)
            found.append((execution.start_time, OpenIncident(execution.id, matched, jira_key)))
    except (RPCError, StopIteration) as exc:
        # Matching is a courtesy; never lose a report over it.
        log.warning("duplicate search failed (%s); filing the report as new", exc)
        return None
    return min(found, key=lambda pair: pair[0])[1] if found else None
