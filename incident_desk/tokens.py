"""API tokens: who may call the intake API, in which role, for which clients.

A token is shown once, at creation; the store keeps only its SHA-256. That is enough because a
token carries 256 random bits: there is nothing to brute-force, so a slow password hash would
only slow every request down. Each token starts with a public id (`idk_<id>_<secret>`), so a
lookup finds one record and the secret is then compared in constant time.

The store is one JSON file, replaced atomically on every change and re-read by the intake when
it changes. Several intake replicas can therefore share it on a common volume, or receive it as a
mounted secret/config file that an operator regenerates with `incident-desk tokens`; it holds no
secret, only hashes. Writers serialise on a lock file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

__all__ = [
    "ADMIN_TOKEN_FILE",
    "ALL_CLIENTS",
    "LOCAL_ADMIN_NAME",
    "Permission",
    "Principal",
    "Role",
    "TokenError",
    "TokenRecord",
    "TokenStore",
    "TokenStoreError",
    "ensure_local_admin_token",
    "parse_duration",
]

ALL_CLIENTS = "*"
ADMIN_TOKEN_FILE = "admin-token"
LOCAL_ADMIN_NAME = "local-admin"
PREFIX = "idk"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
CLIENT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # as policy ids


class Role(StrEnum):
    AGENT = "agent"
    RESPONDER = "responder"
    ADMIN = "admin"


class Permission(StrEnum):
    FILE = "file"
    READ = "read"
    ACT = "act"  # acknowledge, resolve
    ADMIN = "admin"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.FILE, Permission.READ}),
    Role.RESPONDER: frozenset({Permission.FILE, Permission.READ, Permission.ACT}),
    Role.ADMIN: frozenset(Permission),
}


class TokenError(ValueError):
    """A token request that cannot be done as asked (bad name, duplicate, unknown token)."""


class TokenStoreError(RuntimeError):
    """The store file cannot be read or written; callers must refuse, not guess."""


class TokenRecord(BaseModel):
    id: str
    name: str = Field(pattern=NAME_PATTERN)
    sha256: str
    role: Role
    clients: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


_RECORDS = TypeAdapter(list[TokenRecord])


@dataclass(frozen=True)
class Principal:
    """Who an authenticated request acts as."""

    name: str
    role: Role
    clients: frozenset[str]

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def sees(self, client: str | None) -> bool:
        """Scope check; an incident whose client is unknown is visible only to `*` tokens."""
        return ALL_CLIENTS in self.clients or (client is not None and client in self.clients)


def parse_duration(text: str) -> timedelta | None:
    """`90d`, `12h`, `30m`, `2w`, or `never` (None)."""
    text = text.strip().lower()
    if text == "never":
        return None
    match = re.fullmatch(r"(\d{1,6})([mhdw])", text)
    if match is None or int(match[1]) == 0:
        raise TokenError(f"expiry '{text}': use a positive number with m, h, d or w, or 'never'")
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._records: list[TokenRecord] = []

    # --- reading (every request) ------------------------------------------------------------

    def records(self) -> list[TokenRecord]:
        """The records, re-read only when the file changed (another replica or the CLI)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._records = None, []
            return []
        except OSError as exc:
            raise TokenStoreError(f"token store {self.path}: {exc.strerror}") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._seen:
            self._records = self._read()
            self._seen = stamp
        return list(self._records)

    def _read(self) -> list[TokenRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return _RECORDS.validate_python(raw.get("tokens", []))
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError, ValidationError) as exc:
            raise TokenStoreError(f"token store {self.path} is unreadable: {exc}") from None

    def authenticate(self, token: str, now: datetime | None = None) -> Principal | None:
        """The token's principal, or None for anything not an active, unexpired token."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not token_id or not secret:
            return None
        now = now or datetime.now(UTC)
        presented = _digest(token)
        for record in self.records():
            if record.id == token_id and hmac.compare_digest(presented, record.sha256):
                if record.status(now) != "active":
                    return None
                return Principal(record.name, record.role, frozenset(record.clients))
        return None

    # --- changing (the CLI, `make run`) -----------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[TokenRecord]]:
        """Read-modify-write under an exclusive lock; the new file replaces the old atomically."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600
            )
        except OSError as exc:
            raise TokenStoreError(f"token store {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            records = self._read()
            yield records
            self._write(records)
        finally:
            os.close(lock_fd)

    def _write(self, records: list[TokenRecord]) -> None:
        body = {"version": 1, "tokens": [r.model_dump(mode="json") for r in records]}
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(body, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise TokenStoreError(f"token store {self.path}: {exc.strerror}") from None

    def create(
        self,
        name: str,
        *,
        role: Role,
        clients: list[str],
        expires_in: timedelta | None,
        now: datetime | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token; the secret is returned here and never again."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise TokenError(f"name '{name}': letters, digits and . _ @ - (at most 64)")
        clients = sorted(set(clients)) or [ALL_CLIENTS]
        bad = [c for c in clients if c != ALL_CLIENTS and not re.fullmatch(CLIENT_PATTERN, c)]
        if bad:
            raise TokenError(f"clients: not a client id: {', '.join(bad)}")
        if ALL_CLIENTS in clients and len(clients) > 1:
            raise TokenError("clients: '*' already means every client; give it alone")
        now = now or datetime.now(UTC)
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(
            id=token_id,
            name=name,
            sha256=_digest(token),
            role=role,
            clients=clients,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        with self._locked() as records:
            if any(r.name == name and r.revoked_at is None for r in records):
                raise TokenError(f"a token named '{name}' exists; revoke it first")
            records.append(record)
        return record, token

    def revoke(self, name: str, now: datetime | None = None) -> int:
        """Revoked records stay in the store, so `tokens list` still shows who had access."""
        now = now or datetime.now(UTC)
        with self._locked() as records:
            live = [r for r in records if r.name == name and r.revoked_at is None]
            for record in live:
                record.revoked_at = now
        if not live:
            raise TokenError(f"no unrevoked token named '{name}'")
        return len(live)


def ensure_local_admin_token(store: TokenStore, token_file: Path) -> Path:
    """The embedded stack's admin token: kept while it still works, replaced when it does not.

    It lives in a mode-0600 file for the local CLI, like the stack's other generated secrets.
    """
    with contextlib.suppress(OSError):
        principal = store.authenticate(token_file.read_text(encoding="utf-8").strip())
        if principal is not None and principal.role is Role.ADMIN:
            return token_file
    with contextlib.suppress(TokenError):
        store.revoke(LOCAL_ADMIN_NAME)
    _, token = store.create(
        LOCAL_ADMIN_NAME, role=Role.ADMIN, clients=[ALL_CLIENTS], expires_in=timedelta(days=365)
    )
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=token_file.parent, prefix=f".{token_file.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as file:  # mkstemp makes it 0600
        file.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, token_file)
    return token_file
