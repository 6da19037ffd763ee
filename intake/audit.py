"""The audit trail of API calls and webhook deliveries: who did what, to which client, with what
outcome.

An append-only JSON-lines file, one line per call, written with O_APPEND so concurrent requests
never interleave within a line. It records names and outcomes only: never a token, a request body
or a reporter's details, so it can be kept longer and shown to more people than the incidents.
The same line goes to the `incident_desk.audit` logger for log shippers.

Replicas must not share one audit file over a network filesystem (appends are not atomic there):
give each its own path, or ship the logger's lines.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["AuditLog"]

log = logging.getLogger("incident_desk.audit")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(
        self,
        *,
        token: str | None,
        method: str,
        path: str,
        status: int,
        client: str | None = None,
        remote: str | None = None,
        outcome: str | None = None,
        ids: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """`token` is who acted: an API token's name, `oidc:<subject>`, or for a webhook the
        verified sender (`webhook:jira`); `ids` names what was acted on (workflow id, issue
        key), never a payload, so no reporter's details reach the trail."""
        entry: dict[str, object] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "token": token,
            "method": method,
            "path": path,
            "client": client,
            "status": status,
            "outcome": outcome or _outcome(status),
            "remote": remote,
        }
        if ids:
            entry["ids"] = ids
        if reason:
            entry["reason"] = reason  # why a call was refused; never the credential itself
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        log.info("%s", line.rstrip())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            # The call already happened; failing its answer would hide that. Say so loudly.
            log.error("audit log %s not written: %s", self.path, exc.strerror)


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status < 400:
        return "allowed"
    if status in (401, 403, 404):
        return "refused"
    return "failed"
