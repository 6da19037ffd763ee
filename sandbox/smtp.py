"""Local stand-in for an SMTP server: keeps every message it receives and shows them over HTTP.

The embedded default (`make run` with no `SMTP_HOST`) and the tests send the client notices
here. It accepts any sender and recipient, as a smarthost would, and keeps the raw message in
SQLite so a restarted stack still shows what the client was sent. A retried send arrives as a
second delivery with the same Message-ID, which is how a duplicate is recognised.

    python -m sandbox.smtp --host 127.0.0.1 --port 8025 --http-port 8026 --db .state/smtp.db

    GET /sandbox/messages            every message, newest first (?to= filters by recipient)
    GET /sandbox/messages/{id}/raw   one message as received (RFC 5322)
    POST /sandbox/faults             refuse the next `count` messages with an SMTP reply code
                                     ({"code": 451, "count": 3}); 4xx is "try later", 5xx final
    GET /sandbox/faults              how many refusals are still staged
    DELETE /sandbox/faults           stop refusing (ends a staged outage)
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field


class MessageStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, received_at TEXT, "
                "mail_from TEXT, rcpt_tos TEXT, message_id TEXT, subject TEXT, raw BLOB)"
            )

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> int:
        parsed = message_from_bytes(raw, policy=email_policy.default)
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO messages (received_at, mail_from, rcpt_tos, message_id, subject, raw)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(),
                    mail_from,
                    json.dumps(rcpt_tos),
                    str(parsed.get("Message-ID", "")),
                    str(parsed.get("Subject", "")),
                    raw,
                ),
            )
            return int(cursor.lastrowid or 0)

    def list(self, to: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, mail_from, rcpt_tos, message_id, subject, raw "
                "FROM messages ORDER BY id DESC"
            ).fetchall()
        out = []
        for row in rows:
            rcpt = json.loads(row[3])
            if to and to.casefold() not in (r.casefold() for r in rcpt):
                continue
            out.append(
                {
                    "id": row[0],
                    "received_at": row[1],
                    "from": row[2],
                    "to": rcpt,
                    "message_id": row[4],
                    "subject": row[5],
                    "body": _text(row[6]),
                }
            )
            if len(out) >= limit:
                break
        return out

    def raw(self, message: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT raw FROM messages WHERE id = ?", (message,)).fetchone()
        return row[0] if row else None


def _text(raw: bytes) -> str:
    parsed = message_from_bytes(raw, policy=email_policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    # On the wire lines end in CRLF; readers (and tests) want the text as it was written.
    return body.get_content().replace("\r\n", "\n") if body is not None else ""


class Fault(BaseModel):
    """A mail server that refuses for a while: 421/451/452 (transient) or 550/554 (permanent)."""

    code: int = Field(451, ge=400, le=599)
    count: int = Field(1, ge=1)


class Faults:
    """Refusals staged by a test, taken one per message at the end of DATA (nothing is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._staged: list[list[int]] = []

    def add(self, fault: Fault) -> int:
        with self._lock:
            self._staged.append([fault.code, fault.count])
            return self._pending()

    def take(self) -> int | None:
        with self._lock:
            if not self._staged:
                return None
            code = self._staged[0][0]
            self._staged[0][1] -= 1
            if self._staged[0][1] == 0:
                self._staged.pop(0)
            return code

    def pending(self) -> int:
        with self._lock:
            return self._pending()

    def _pending(self) -> int:
        return sum(count for _, count in self._staged)

    def clear(self) -> None:
        with self._lock:
            self._staged.clear()


class _Keep:
    """aiosmtpd handler: every DATA is kept, then answered 250, unless a fault is staged."""

    def __init__(self, store: MessageStore, faults: Faults) -> None:
        self._store = store
        self._faults = faults

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        code = self._faults.take()
        if code is not None:
            kind = "4.3.0 Try again later" if code < 500 else "5.7.1 Refused"
            return f"{code} {kind} (sandbox fault)"
        raw = envelope.original_content or b""
        self._store.add(str(envelope.mail_from), list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


def create_app(store: MessageStore, host: str, smtp_port: int) -> FastAPI:
    faults = Faults()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        controller = Controller(_Keep(store, faults), hostname=host, port=smtp_port)
        controller.start()
        try:
            yield
        finally:
            controller.stop()

    app = FastAPI(title="SMTP sandbox", lifespan=lifespan)

    @app.get("/sandbox/messages")
    async def messages(
        to: str | None = None, limit: int = Query(200, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        return store.list(to, limit)

    @app.get("/sandbox/messages/{message}/raw", response_class=PlainTextResponse)
    async def raw(message: int) -> PlainTextResponse:
        found = store.raw(message)
        if found is None:
            raise HTTPException(404, f"no message {message}")
        return PlainTextResponse(found.decode("utf-8", errors="replace"))

    @app.post("/sandbox/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, int]:
        return {"pending": faults.add(fault)}

    @app.get("/sandbox/faults")
    async def pending_faults() -> dict[str, int]:
        return {"pending": faults.pending()}

    @app.delete("/sandbox/faults", status_code=204)
    async def clear_faults() -> None:
        faults.clear()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="SMTP port")
    parser.add_argument("--http-port", type=int, default=8026)
    parser.add_argument("--db", type=Path, default=Path(".state/smtp.db"))
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = create_app(MessageStore(args.db), args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.http_port, log_level=args.log_level)


if __name__ == "__main__":
    main()
