"""Local stand-in for the Opsgenie Alert API v2.

The embedded default (`make run` with no OPSGENIE_API_URL) and the tests page through this
instead of api.opsgenie.com. It serves the routes Incident Desk uses, as the official contract
(`opsgenie/opsgenie-oas`, swagger.json; `tests/contract/test_opsgenie_sandbox.py` holds it to
that) describes them: create, acknowledge and close (by id, tiny id or alias) answer 202 with a
`requestId`, and `GET /v2/alerts/requests/{requestId}` tells what became of the request, since
Opsgenie processes alert requests asynchronously. Acting on an alias it does not know is accepted
and the request status says it failed, as Opsgenie does.

A person can acknowledge an alert through `POST /sandbox/alerts/{alias}/acknowledge`, as in the
Opsgenie app; the sandbox then calls back like Opsgenie's outgoing Webhook integration (action
`Acknowledge`, the alert with its alias), with the shared token in a custom header, which is how
that integration is set up against the intake (docs/paging.md).

    python -m sandbox.opsgenie --port 8091 --db .state/opsgenie.db \
        --callback-url http://127.0.0.1:8000/webhooks/opsgenie   # token: OPSGENIE_WEBHOOK_TOKEN
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sandbox.sqlite_store import SqliteStore

DEFAULT_API_KEY = "sandbox-genie-key"
TOKEN_HEADER = "X-Incident-Desk-Token"
MESSAGE_MAX_LENGTH = 130
ALIAS_MAX_LENGTH = 512
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
RECIPIENT_TYPES = ("all", "none", "user", "escalation", "schedule", "team", "group")
IDENTIFIER_TYPES = ("id", "alias", "tiny")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    tiny_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    status TEXT NOT NULL,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL,
    priority TEXT NOT NULL,
    body TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acknowledged_by TEXT
);
CREATE INDEX IF NOT EXISTS alerts_alias ON alerts (alias);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    action TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    is_success INTEGER NOT NULL,
    status TEXT NOT NULL,
    alert_id TEXT,
    alias TEXT
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status INTEGER NOT NULL,
    remaining INTEGER NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Fault(BaseModel):
    status: Literal[429, 500, 502, 503, 504]
    count: int = Field(1, ge=1)


class Acknowledgement(BaseModel):
    by: str = Field("sandbox.responder@example.com", min_length=1, max_length=200)


class Callback(BaseModel):
    """Opsgenie's outgoing Webhook integration: a URL and the custom header it adds."""

    url: str
    token: str = Field(min_length=1)


class OpsgenieStore(SqliteStore):
    """Alerts, every request with its outcome, and staged faults, in one SQLite file."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path, _SCHEMA)

    def take_fault(self) -> int | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, status FROM faults WHERE remaining > 0 ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
            return int(row["status"])

    def add_fault(self, fault: Fault) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO faults (status, remaining) VALUES (?, ?)", (fault.status, fault.count)
            )

    def create(self, path: str, body: dict[str, Any]) -> str:
        """Opsgenie's dedup: an open alert with the alias is counted again, not duplicated."""
        at, request_id = _now(), str(uuid.uuid4())
        alias = body.get("alias") or str(uuid.uuid4())
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM alerts WHERE alias = ? AND status = 'open'", (alias,)
            ).fetchone()
            if row is not None:
                alert_id = row["id"]
                db.execute(
                    "UPDATE alerts SET count = count + 1, updated_at = ? WHERE id = ?",
                    (at, alert_id),
                )
                status = "Alert is updated"
            else:
                alert_id = str(uuid.uuid4())
                (tiny,) = db.execute("SELECT COUNT(*) + 1 FROM alerts").fetchone()
                db.execute(
                    "INSERT INTO alerts (id, tiny_id, alias, status, message, priority, body,"
                    " created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                    (
                        alert_id,
                        str(tiny),
                        alias,
                        body["message"],
                        body.get("priority", "P3"),
                        json.dumps(body),
                        at,
                        at,
                    ),
                )
                status = "Alert is created"
            self._request(db, request_id, at, "Create", path, body, True, status, alert_id, alias)
        return request_id

    def act(self, path: str, action: str, identifier: str, kind: str, body: dict[str, Any]) -> str:
        at, request_id = _now(), str(uuid.uuid4())
        column = {"id": "id", "alias": "alias", "tiny": "tiny_id"}[kind]
        name = {"acknowledge": "Acknowledge", "close": "Close"}[action]
        with self._transaction() as db:
            row = db.execute(
                f"SELECT * FROM alerts WHERE {column} = ? ORDER BY status = 'open' DESC,"
                " created_at DESC LIMIT 1",
                (identifier,),
            ).fetchone()
            if row is None:
                self._request(
                    db, request_id, at, name, path, body, False, "Alert does not exist", None, None
                )
                return request_id
            if action == "acknowledge" and row["status"] == "open":
                db.execute(
                    "UPDATE alerts SET acknowledged = 1, updated_at = ? WHERE id = ?",
                    (at, row["id"]),
                )
            elif action == "close":
                db.execute(
                    "UPDATE alerts SET status = 'closed', updated_at = ? WHERE id = ?",
                    (at, row["id"]),
                )
            self._request(
                db, request_id, at, name, path, body, True, f"{name}d", row["id"], row["alias"]
            )
        return request_id

    @staticmethod
    def _request(
        db: sqlite3.Connection,
        request_id: str,
        at: str,
        action: str,
        path: str,
        body: dict[str, Any],
        ok: bool,
        status: str,
        alert_id: str | None,
        alias: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO requests (id, received_at, action, path, body, is_success, status,"
            " alert_id, alias) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, at, action, path, json.dumps(body), int(ok), status, alert_id, alias),
        )

    def request(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return dict(row) if row is not None else None

    def requests(self, alias: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if alias is None:
                rows = self._db.execute("SELECT * FROM requests ORDER BY rowid").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM requests WHERE alias = ? ORDER BY rowid", (alias,)
                ).fetchall()
        return [{**dict(row), "body": json.loads(row["body"])} for row in rows]

    def alerts(self, alias: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if alias is None:
                rows = self._db.execute("SELECT * FROM alerts ORDER BY created_at").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM alerts WHERE alias = ? ORDER BY created_at", (alias,)
                ).fetchall()
        return [_alert_view(row) for row in rows]

    def acknowledge_by_person(self, alias: str, by: str) -> dict[str, Any] | None:
        at = _now()
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM alerts WHERE alias = ? ORDER BY status = 'open' DESC,"
                " created_at DESC LIMIT 1",
                (alias,),
            ).fetchone()
            if row is None:
                return None
            if row["status"] == "open" and not row["acknowledged"]:
                db.execute(
                    "UPDATE alerts SET acknowledged = 1, acknowledged_by = ?, updated_at = ?"
                    " WHERE id = ?",
                    (by, at, row["id"]),
                )
            row = db.execute("SELECT * FROM alerts WHERE id = ?", (row["id"],)).fetchone()
        return _alert_view(row)


def _alert_view(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["acknowledged"] = bool(data["acknowledged"])
    data["body"] = json.loads(data["body"])
    return data


def _error(status: int, message: str) -> JSONResponse:
    request_id = str(uuid.uuid4())
    return JSONResponse(
        {"message": message, "took": 0.0, "requestId": request_id},
        status_code=status,
        headers={"X-Request-ID": request_id},
    )


def _accepted(request_id: str) -> JSONResponse:
    return JSONResponse(
        {"result": "Request will be processed", "took": 0.002, "requestId": request_id},
        status_code=202,
        headers={"X-Request-ID": request_id},
    )


def validate_create(body: Any) -> list[str]:
    """What Opsgenie's 422 would list for a create body (CreateAlertPayload)."""
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    errors: list[str] = []
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        errors.append("Message can not be empty.")
    elif len(message) > MESSAGE_MAX_LENGTH:
        errors.append(f"Message can not be longer than {MESSAGE_MAX_LENGTH} characters.")
    for name in ("alias", "description", "entity", "source", "user", "note"):
        if name in body and not isinstance(body[name], str):
            errors.append(f"'{name}' must be a string")
    if isinstance(body.get("alias"), str) and len(body["alias"]) > ALIAS_MAX_LENGTH:
        errors.append(f"Alias can not be longer than {ALIAS_MAX_LENGTH} characters.")
    if "priority" in body and body["priority"] not in PRIORITIES:
        errors.append(f"Priority should be one of {', '.join(PRIORITIES)}")
    for name in ("tags", "actions"):
        value = body.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f"'{name}' must be an array of strings")
    details = body.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        errors.append("'details' must be an object of strings")
    for name in ("responders", "visibleTo"):
        value = body.get(name, [])
        if not isinstance(value, list) or not all(
            isinstance(r, dict) and r.get("type") in RECIPIENT_TYPES for r in value
        ):
            errors.append(
                f"'{name}' must be recipients with a type of {', '.join(RECIPIENT_TYPES)}"
            )
    return errors


def _action_body_errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    return [
        f"'{name}' must be a string"
        for name in ("source", "user", "note")
        if name in body and not isinstance(body[name], str)
    ]


def callback_body(alert: dict[str, Any], by: str) -> dict[str, Any]:
    """The outgoing Webhook integration's body for an acknowledgement (Opsgenie docs' example)."""
    created = datetime.fromisoformat(alert["created_at"].replace("Z", "+00:00"))
    return {
        "action": "Acknowledge",
        "alert": {
            "alertId": alert["id"],
            "message": alert["message"],
            "tags": alert["body"].get("tags", []),
            "tinyId": alert["tiny_id"],
            "entity": alert["body"].get("entity", ""),
            "alias": alert["alias"],
            "createdAt": int(created.timestamp() * 1000),
            "updatedAt": int(time.time() * 1000),
            "username": by,
            "userId": str(uuid.uuid5(uuid.NAMESPACE_URL, by)),
            "priority": alert["priority"],
            "note": "",
        },
        "source": {"name": "", "type": "web"},
        "integrationName": "Incident Desk",
        "integrationId": "sandbox-webhook",
        "integrationType": "Webhook",
    }


async def _deliver(callback: Callback, body: dict[str, Any]) -> dict[str, Any]:
    """Post once and report the result, instead of retrying, so tests see what happened."""
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(
                callback.url,
                json=body,
                headers={TOKEN_HEADER: callback.token, "User-Agent": "Opsgenie-Webhook"},
            )
    except httpx.HTTPError as exc:
        return {"url": callback.url, "delivered": False, "error": type(exc).__name__}
    return {
        "url": callback.url,
        "delivered": response.is_success,
        "status": response.status_code,
        "response": response.text[:500],
    }


def create_app(
    db_path: Path, *, api_key: str = DEFAULT_API_KEY, callback: Callback | None = None
) -> FastAPI:
    store = OpsgenieStore(Path(db_path))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Opsgenie Alert API sandbox",
        description="Local stand-in for https://api.opsgenie.com/v2/alerts (Incident Desk).",
        lifespan=lifespan,
    )
    app.state.store = store
    expected = f"GenieKey {api_key}"

    async def gate(request: Request) -> JSONResponse | None:
        """Auth first, then any staged fault: what a real account would answer before the body."""
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "Could not authenticate")
        fault = await run_in_threadpool(store.take_fault)
        if fault is not None:
            return _error(fault, f"Sandbox fault {fault}")
        return None

    async def read_json(request: Request, *, optional: bool) -> tuple[bool, Any]:
        raw = await request.body()
        if not raw and optional:
            return True, {}
        try:
            return True, json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False, None

    @app.post("/v2/alerts", status_code=202)
    async def create_alert(request: Request) -> JSONResponse:
        if (refused := await gate(request)) is not None:
            return refused
        parsed, body = await read_json(request, optional=False)
        if not parsed:
            return _error(400, "Invalid JSON body")
        errors = validate_create(body)
        if errors:
            return _error(422, " ".join(errors))
        request_id = await run_in_threadpool(store.create, request.url.path, body)
        return _accepted(request_id)

    async def act(request: Request, identifier: str, action: str) -> JSONResponse:
        if (refused := await gate(request)) is not None:
            return refused
        kind = request.query_params.get("identifierType", "id")
        if kind not in IDENTIFIER_TYPES:
            return _error(422, f"identifierType should be one of {', '.join(IDENTIFIER_TYPES)}")
        parsed, body = await read_json(request, optional=True)
        if not parsed:
            return _error(400, "Invalid JSON body")
        errors = _action_body_errors(body)
        if errors:
            return _error(422, " ".join(errors))
        request_id = await run_in_threadpool(
            store.act, request.url.path, action, identifier, kind, body
        )
        return _accepted(request_id)

    @app.post("/v2/alerts/{identifier}/acknowledge", status_code=202)
    async def acknowledge_alert(request: Request, identifier: str) -> JSONResponse:
        return await act(request, identifier, "acknowledge")

    @app.post("/v2/alerts/{identifier}/close", status_code=202)
    async def close_alert(request: Request, identifier: str) -> JSONResponse:
        return await act(request, identifier, "close")

    @app.get("/v2/alerts/requests/{request_id}")
    async def request_status(request: Request, request_id: str) -> JSONResponse:
        if (refused := await gate(request)) is not None:
            return refused
        row = await run_in_threadpool(store.request, request_id)
        if row is None:
            return _error(404, f"Request with id [{request_id}] not found")
        data: dict[str, Any] = {
            "success": bool(row["is_success"]),
            "action": row["action"],
            "processedAt": row["received_at"],
            "integrationId": "sandbox-api-integration",
            "isSuccess": bool(row["is_success"]),
            "status": row["status"],
        }
        if row["alert_id"]:
            data["alertId"] = row["alert_id"]
        if row["alias"]:
            data["alias"] = row["alias"]
        return JSONResponse(
            {"data": data, "took": 0.001, "requestId": str(uuid.uuid4())},
            headers={"X-Request-ID": request_id},
        )

    @app.get("/sandbox/alerts")
    async def list_alerts(alias: str | None = None) -> list[dict[str, Any]]:
        return await run_in_threadpool(store.alerts, alias)

    @app.get("/sandbox/requests")
    async def list_requests(alias: str | None = None) -> list[dict[str, Any]]:
        return await run_in_threadpool(store.requests, alias)

    @app.post("/sandbox/alerts/{alias}/acknowledge")
    async def acknowledge_as_person(
        alias: str, acknowledgement: Acknowledgement | None = None
    ) -> JSONResponse:
        """A responder presses "Acknowledge" in the app; the webhook integration calls back."""
        by = (acknowledgement or Acknowledgement()).by
        alert = await run_in_threadpool(store.acknowledge_by_person, alias, by)
        if alert is None:
            return JSONResponse({"detail": f"no alert with alias '{alias}'"}, status_code=404)
        if alert["status"] == "closed":
            return JSONResponse({"detail": f"alert '{alias}' is closed"}, status_code=409)
        delivery = None
        if callback is not None:
            delivery = await _deliver(callback, callback_body(alert, by))
        return JSONResponse({"alert": alert, "webhook": delivery})

    @app.post("/sandbox/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, str]:
        await run_in_threadpool(store.add_fault, fault)
        return {"staged": f"{fault.count} x {fault.status}"}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--db", type=Path, default=Path(".state/opsgenie.db"))
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--callback-url", help="Where acknowledgements are called back")
    args = parser.parse_args(argv)
    # Secrets come from the environment (the stack's settings), never the command line.
    api_key = os.environ.get("OPSGENIE_API_KEY") or DEFAULT_API_KEY
    callback = None
    if args.callback_url:
        token = os.environ.get("OPSGENIE_WEBHOOK_TOKEN", "")
        if not token:
            parser.error("--callback-url needs OPSGENIE_WEBHOOK_TOKEN in the environment")
        callback = Callback(url=args.callback_url, token=token)
    app = create_app(args.db, api_key=api_key, callback=callback)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
