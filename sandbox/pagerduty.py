"""Local stand-in for the PagerDuty Events API v2.

The embedded default (`make run` with no routing key configured) and the tests page through this
instead of events.pagerduty.com. It accepts and rejects what the official contract
(`PagerDuty/api-schema`, reference/events-v2/openapiv3.json) accepts and rejects, so a client
that works here sends bodies PagerDuty would take; `tests/contract/test_pagerduty_sandbox.py`
holds it to that. It keeps every accepted event and the resulting alert state in SQLite, so a
restarted stack still shows who was paged, and it can be told to fail the next calls so retry
behaviour can be exercised over real HTTP.

A person can acknowledge an alert through `POST /sandbox/alerts/{dedup_key}/acknowledge`, as they
would in the PagerDuty app; the sandbox then calls back like PagerDuty does, with a v3 webhook
`incident.acknowledged` signed in `X-PagerDuty-Signature` (when started with a webhook URL and
secret). The signing is written out here on purpose rather than shared with our verifier, so a
mistake on one side cannot hide behind the same mistake on the other.

Beyond the spec, PagerDuty's developer documentation limits `payload.summary` to 1024 characters
and `dedup_key` to 255; those limits are enforced here too, since a real PagerDuty would cut or
refuse such events.

    python -m sandbox.pagerduty --host 127.0.0.1 --port 8090 --db .state/pagerduty.sqlite3 \
        --webhook-url http://127.0.0.1:8000/webhooks/pagerduty \
        --webhook-secret-file .state/pagerduty-webhook-secret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sandbox.sqlite_store import SqliteStore

ENQUEUE_PATH = "/v2/enqueue"
CHANGE_ENQUEUE_PATH = "/v2/change/enqueue"

SUMMARY_MAX_LENGTH = 1024
DEDUP_KEY_MAX_LENGTH = 255
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
FAULT_STATUSES = (429, 500, 502, 503, 504)

# RFC 3339, which is what the spec's `format: date-time` means to a validator. PagerDuty's own
# examples use `+0000`, which that format rejects; the sandbox sides with the contract.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    path TEXT NOT NULL,
    dedup_key TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_dedup_key ON events (dedup_key);
CREATE TABLE IF NOT EXISTS alerts (
    dedup_key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    triggered_at TEXT NOT NULL,
    acknowledged_at TEXT,
    resolved_at TEXT,
    updated_at TEXT NOT NULL,
    trigger_count INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    retry_after REAL
);
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Fault(BaseModel):
    """Lets a test stage the failures PagerDuty documents (throttling, 5xx) on demand."""

    status: Literal[429, 500, 502, 503, 504]
    count: int = Field(1, ge=1)
    retry_after: float | None = Field(None, ge=0)


class Acknowledgement(BaseModel):
    by: str = Field("Sandbox Responder", min_length=1, max_length=200)


class Webhook(BaseModel):
    """Where the sandbox calls back, as a PagerDuty v3 webhook subscription would."""

    url: str
    secret: str = Field(min_length=1)


class InvalidEvent(ValueError):
    """Carries every problem found, because PagerDuty reports them all in one 400."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class PagerDutyStore(SqliteStore):
    """Events, alert state and staged faults of the PagerDuty stand-in."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path, _SCHEMA)

    def take_fault(self) -> Fault | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, status, remaining, retry_after FROM faults"
                " WHERE remaining > 0 ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
            return Fault(status=row["status"], count=1, retry_after=row["retry_after"])

    def add_fault(self, fault: Fault) -> int:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO faults (status, remaining, retry_after) VALUES (?, ?, ?)",
                (fault.status, fault.count, fault.retry_after),
            )
            (pending,) = db.execute("SELECT COALESCE(SUM(remaining), 0) FROM faults").fetchone()
            return int(pending)

    def pending_faults(self) -> int:
        with self._lock:
            (pending,) = self._db.execute(
                "SELECT COALESCE(SUM(remaining), 0) FROM faults"
            ).fetchone()
        return int(pending)

    def clear_faults(self) -> None:
        """Ends a staged outage at a moment of the test's choosing (a large count, then this)."""
        with self._transaction() as db:
            db.execute("DELETE FROM faults")

    def record(self, path: str, dedup_key: str | None, body: dict[str, Any]) -> None:
        received_at = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (received_at, path, dedup_key, payload) VALUES (?, ?, ?, ?)",
                (received_at, path, dedup_key, json.dumps(body)),
            )
            if path == ENQUEUE_PATH and dedup_key is not None:
                self._apply(db, received_at, dedup_key, body)

    @staticmethod
    def _apply(db: sqlite3.Connection, at: str, dedup_key: str, body: dict[str, Any]) -> None:
        """Follow PagerDuty's documented alert rules for one accepted event.

        A trigger opens an alert, or refreshes an open one; after a resolve the same key opens a
        new alert. Acknowledge and resolve move an open alert and are dropped otherwise.
        """
        alert = db.execute("SELECT status FROM alerts WHERE dedup_key = ?", (dedup_key,)).fetchone()
        is_open = alert is not None and alert["status"] != "resolved"
        action = body["event_action"]
        if action == "trigger":
            payload = body["payload"]
            if is_open:
                db.execute(
                    "UPDATE alerts SET summary = ?, severity = ?, source = ?, updated_at = ?,"
                    " trigger_count = trigger_count + 1 WHERE dedup_key = ?",
                    (payload["summary"], payload["severity"], payload["source"], at, dedup_key),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO alerts (dedup_key, status, summary, severity, source,"
                    " triggered_at, acknowledged_at, resolved_at, updated_at, trigger_count)"
                    " VALUES (?, 'triggered', ?, ?, ?, ?, NULL, NULL, ?, 1)",
                    (dedup_key, payload["summary"], payload["severity"], payload["source"], at, at),
                )
        elif action == "acknowledge" and is_open:
            db.execute(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, updated_at = ?"
                " WHERE dedup_key = ?",
                (at, at, dedup_key),
            )
        elif action == "resolve" and is_open:
            db.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?, updated_at = ?"
                " WHERE dedup_key = ?",
                (at, at, dedup_key),
            )

    def acknowledge_by_person(self, dedup_key: str) -> dict[str, Any] | None:
        """Acknowledge as a responder would in the app; None if no such alert, unchanged if closed."""
        at = _now()
        with self._transaction() as db:
            db.execute(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, updated_at = ?"
                " WHERE dedup_key = ? AND status = 'triggered'",
                (at, at, dedup_key),
            )
            row = db.execute("SELECT * FROM alerts WHERE dedup_key = ?", (dedup_key,)).fetchone()
        return dict(row) if row is not None else None

    def events(self, dedup_key: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if dedup_key is None:
                rows = self._db.execute("SELECT * FROM events ORDER BY id").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM events WHERE dedup_key = ? ORDER BY id", (dedup_key,)
                ).fetchall()
        return [
            {
                "received_at": row["received_at"],
                "path": row["path"],
                "dedup_key": row["dedup_key"],
                "payload": json.loads(row["payload"]),
            }
            for row in rows
        ]

    def alerts(
        self, status: str | None = None, dedup_key: str | None = None
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if dedup_key is not None:
            clauses.append("dedup_key = ?")
            params.append(dedup_key)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM alerts{where} ORDER BY triggered_at, dedup_key", params
            ).fetchall()
        return [dict(row) for row in rows]

    def clear(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM events")
            db.execute("DELETE FROM alerts")
            db.execute("DELETE FROM faults")


def _check_string(
    errors: list[str], obj: dict[str, Any], field: str, where: str, *, required: bool = False
) -> None:
    name = f"{where}{field}"
    if field not in obj:
        if required:
            errors.append(f"'{name}' is missing or blank")
        return
    value = obj[field]
    if not isinstance(value, str):
        errors.append(f"'{name}' must be a string")
    elif required and not value.strip():
        errors.append(f"'{name}' is missing or blank")


def _check_summary(errors: list[str], payload: dict[str, Any]) -> None:
    _check_string(errors, payload, "summary", "payload.", required=True)
    summary = payload.get("summary")
    if isinstance(summary, str) and len(summary) > SUMMARY_MAX_LENGTH:
        errors.append(f"'payload.summary' is longer than {SUMMARY_MAX_LENGTH} characters")


def _check_shared_fields(errors: list[str], body: dict[str, Any], payload: Any) -> None:
    """The parts alert and change events have in common: payload details, links, images."""
    if "timestamp" in payload:
        stamp = payload["timestamp"]
        if not isinstance(stamp, str) or not _RFC3339.match(stamp):
            errors.append("'payload.timestamp' must be an RFC 3339 date-time")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    for field, required in (("links", "href"), ("images", "src")):
        if field not in body:
            continue
        items = body[field]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            errors.append(f"'{field}' must be an array of objects")
            continue
        for index, item in enumerate(items):
            _check_string(errors, item, required, f"{field}[{index}].", required=True)
            for optional in ("text",) if field == "links" else ("href", "alt"):
                _check_string(errors, item, optional, f"{field}[{index}].")


def validate_event(body: Any) -> str | None:
    """Return the event's dedup_key (None for a trigger without one) or raise InvalidEvent."""
    if not isinstance(body, dict):
        raise InvalidEvent(["Event object must be a JSON object"])
    errors: list[str] = []
    _check_string(errors, body, "routing_key", "", required=True)
    action = body.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}")
    dedup_key = body.get("dedup_key")
    if "dedup_key" in body:
        if not isinstance(dedup_key, str) or not dedup_key.strip():
            errors.append("'dedup_key' must be a non-blank string")
        elif len(dedup_key) > DEDUP_KEY_MAX_LENGTH:
            errors.append(f"'dedup_key' is longer than {DEDUP_KEY_MAX_LENGTH} characters")
    elif action in ("acknowledge", "resolve"):
        errors.append(f"'dedup_key' is required for '{action}' events")
    payload = body.get("payload", {})
    if "payload" not in body and action == "trigger":
        errors.append("'payload' is required for 'trigger' events")
    if not isinstance(payload, dict):
        errors.append("'payload' must be an object")
        payload = {}
    elif "payload" in body:
        _check_summary(errors, payload)
        _check_string(errors, payload, "source", "payload.", required=True)
        if payload.get("severity") not in SEVERITIES:
            errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
        for field in ("component", "group", "class"):
            _check_string(errors, payload, field, "payload.")
    for field in ("client", "client_url"):
        _check_string(errors, body, field, "")
    _check_shared_fields(errors, body, payload)
    if errors:
        raise InvalidEvent(errors)
    return dedup_key


def validate_change_event(body: Any) -> None:
    if not isinstance(body, dict):
        raise InvalidEvent(["Event object must be a JSON object"])
    errors: list[str] = []
    _check_string(errors, body, "routing_key", "", required=True)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is required and must be an object")
        payload = {}
    else:
        _check_summary(errors, payload)
        _check_string(errors, payload, "source", "payload.")
    _check_shared_fields(errors, body, payload)
    if errors:
        raise InvalidEvent(errors)


def _invalid(errors: list[str]) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status_code=400,
    )


def _unparsable() -> JSONResponse:
    # The exact error the spec gives as its example for a body that is not JSON.
    return JSONResponse(
        {
            "status": "Unrecognized object",
            "message": "Event object format is unrecognized",
            "errors": ["JSON parse error"],
        },
        status_code=400,
    )


def _fault_response(fault: Fault) -> JSONResponse:
    headers = {}
    if fault.retry_after is not None:
        # Retry-After is whole seconds on the wire; round up so clients never come back early.
        headers["Retry-After"] = str(int(-(-fault.retry_after // 1)))
    if fault.status == 429:
        body = {"status": "throttled", "message": "Too many requests (sandbox fault)"}
    else:
        body = {"status": "error", "message": f"Sandbox fault {fault.status}"}
    return JSONResponse(body, status_code=fault.status, headers=headers)


async def _read_json(request: Request) -> tuple[bool, Any]:
    raw = await request.body()
    try:
        return True, json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False, None


def incident_acknowledged(alert: dict[str, Any], by: str) -> dict[str, Any]:
    """A v3 webhook body shaped like PagerDuty's `incident.acknowledged` example."""
    incident_id = "Q" + hashlib.sha1(alert["dedup_key"].encode()).hexdigest()[:13].upper()
    agent_id = "P" + hashlib.sha1(by.encode()).hexdigest()[:6].upper()
    return {
        "event": {
            "id": uuid.uuid4().hex,
            "event_type": "incident.acknowledged",
            "resource_type": "incident",
            "occurred_at": alert["acknowledged_at"],
            "agent": {
                "html_url": f"https://sandbox.pagerduty.invalid/users/{agent_id}",
                "id": agent_id,
                "self": f"https://api.pagerduty.invalid/users/{agent_id}",
                "summary": by,
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.invalid/incidents/{incident_id}",
                "html_url": f"https://sandbox.pagerduty.invalid/incidents/{incident_id}",
                "status": "acknowledged",
                "incident_key": alert["dedup_key"],
                "created_at": alert["triggered_at"],
                "title": alert["summary"],
                "urgency": "high" if alert["severity"] in ("critical", "error") else "low",
                "assignees": [],
                "teams": [],
                "priority": None,
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


async def _deliver(webhook: Webhook, body: dict[str, Any]) -> dict[str, Any]:
    """Sign and post once; the result is reported to the caller instead of retried."""
    raw = json.dumps(body).encode()
    digest = hmac.new(webhook.secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-PagerDuty-Signature": f"v1={digest}",
        "X-Webhook-Id": body["event"]["id"],
    }
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(webhook.url, content=raw, headers=headers)
    except httpx.HTTPError as exc:
        return {"url": webhook.url, "delivered": False, "error": type(exc).__name__}
    return {
        "url": webhook.url,
        "delivered": response.is_success,
        "status": response.status_code,
        "response": response.text[:500],
    }


def create_app(db_path: Path, webhook: Webhook | None = None) -> FastAPI:
    """Build the stand-in on its own database, so tests and the live stack never share state."""
    store = PagerDutyStore(Path(db_path))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="PagerDuty Events API v2 sandbox",
        description="Local stand-in for https://events.pagerduty.com/v2 (Incident Desk).",
        lifespan=lifespan,
    )
    app.state.store = store

    @app.post(ENQUEUE_PATH, status_code=202)
    async def enqueue(request: Request) -> JSONResponse:
        # The body is read even when failing on purpose, as a real server would have done.
        parsed, body = await _read_json(request)
        fault = await run_in_threadpool(store.take_fault)
        if fault is not None:
            return _fault_response(fault)
        if not parsed:
            return _unparsable()
        try:
            dedup_key = validate_event(body)
        except InvalidEvent as exc:
            return _invalid(exc.errors)
        if dedup_key is None:
            dedup_key = uuid.uuid4().hex
        await run_in_threadpool(store.record, ENQUEUE_PATH, dedup_key, body)
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status_code=202,
        )

    @app.post(CHANGE_ENQUEUE_PATH, status_code=202)
    async def change_enqueue(request: Request) -> JSONResponse:
        parsed, body = await _read_json(request)
        fault = await run_in_threadpool(store.take_fault)
        if fault is not None:
            return _fault_response(fault)
        if not parsed:
            return _unparsable()
        try:
            validate_change_event(body)
        except InvalidEvent as exc:
            return _invalid(exc.errors)
        await run_in_threadpool(store.record, CHANGE_ENQUEUE_PATH, None, body)
        return JSONResponse(
            {"status": "success", "message": "Change event processed"}, status_code=202
        )

    @app.get("/sandbox/events")
    async def list_events(dedup_key: str | None = None) -> list[dict[str, Any]]:
        return await run_in_threadpool(store.events, dedup_key)

    @app.delete("/sandbox/events", status_code=204)
    async def clear_events() -> None:
        await run_in_threadpool(store.clear)

    @app.get("/sandbox/alerts")
    async def list_alerts(
        status: Literal["triggered", "acknowledged", "resolved"] | None = Query(None),
        dedup_key: str | None = None,
    ) -> list[dict[str, Any]]:
        return await run_in_threadpool(store.alerts, status, dedup_key)

    @app.post("/sandbox/alerts/{dedup_key}/acknowledge")
    async def acknowledge_alert(
        dedup_key: str, acknowledgement: Acknowledgement | None = None
    ) -> dict[str, Any]:
        """A responder presses "Acknowledge": the alert moves, then the webhook is delivered."""
        by = (acknowledgement or Acknowledgement()).by
        alert = await run_in_threadpool(store.acknowledge_by_person, dedup_key)
        if alert is None:
            raise HTTPException(404, f"no alert with dedup_key '{dedup_key}'")
        if alert["status"] == "resolved":
            raise HTTPException(409, f"alert '{dedup_key}' is resolved")
        delivery = None
        if webhook is not None:
            delivery = await _deliver(webhook, incident_acknowledged(alert, by))
        return {"alert": alert, "webhook": delivery}

    @app.post("/sandbox/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, int]:
        pending = await run_in_threadpool(store.add_fault, fault)
        return {"pending": pending}

    @app.get("/sandbox/faults")
    async def pending_faults() -> dict[str, int]:
        return {"pending": await run_in_threadpool(store.pending_faults)}

    @app.delete("/sandbox/faults", status_code=204)
    async def clear_faults() -> None:
        await run_in_threadpool(store.clear_faults)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--db", type=Path, default=Path(".state/pagerduty.sqlite3"))
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--webhook-url", help="Where acknowledgements are called back (v3)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--webhook-secret", help="Signing secret (visible in `ps`; prefer a file)")
    secret.add_argument("--webhook-secret-file", type=Path, help="File holding the secret")
    args = parser.parse_args(argv)
    webhook = None
    if args.webhook_url:
        # Without a flag, the secret the intake checks against (PAGERDUTY_WEBHOOK_SECRET).
        value = args.webhook_secret or os.environ.get("PAGERDUTY_WEBHOOK_SECRET", "")
        if args.webhook_secret_file is not None:
            value = args.webhook_secret_file.read_text(encoding="utf-8").strip()
        if not value:
            parser.error(
                "--webhook-url needs --webhook-secret, --webhook-secret-file or "
                "PAGERDUTY_WEBHOOK_SECRET"
            )
        webhook = Webhook(url=args.webhook_url, secret=value)
    app = create_app(args.db, webhook)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
