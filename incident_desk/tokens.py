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
import logging
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
    "parse_role",
    "role_map_problems",
]

log = logging.getLogger("incident_desk.tokens")

ALL_CLIENTS = "*"
ADMIN_TOKEN_FILE = "admin-token"
LOCAL_ADMIN_NAME = "local-admin"
PREFIX = "idk"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
CLIENT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # as policy ids


class Role(StrEnum):
    """The roles issue #12 names; docs/security.md has the matrix of what each may do."""

    AGENT = "agent"
    ON_CALL = "on-call"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    CLIENT_READONLY = "client-readonly"
    # Before the five roles there was `responder`: stored tokens and IdP maps that say so keep
    # working as on-call (the closest set of rights), and `tokens list` shows the new name.
    RESPONDER = "on-call"

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        if isinstance(value, str):
            legacy = LEGACY_ROLES.get(value.strip().lower())
            if legacy is not None:
                return cls(legacy)
        return None


# Old role name -> new one. Kept so a token store or an IdP mapping written before the roles
# were split still loads; `parse_role` tells a person typing the old name what it became.
LEGACY_ROLES: dict[str, str] = {"responder": "on-call"}


class Permission(StrEnum):
    """One right per kind of route, so the matrix in docs/security.md reads off this module."""

    FILE = "file"  # file a report
    READ = "read"  # the full incident record: view, list, report, drafts
    STATUS = "status"  # the client's reduced view: state, obligations, notice evidence
    TRIAGE = "triage"  # validate, or dismiss as a false alarm
    ACKNOWLEDGE = "acknowledge"
    CONTAIN = "contain"
    RESOLVE = "resolve"
    UPDATE = "update"  # stakeholder updates
    CHECKLIST = "checklist"  # tick SOP checklist items
    FACTS = "facts"  # correct the facts the reporting clocks run on
    ASSESS = "assess"  # answer an obligation's open questions
    STAGE = "stage"  # mark a reporting stage done, with its evidence
    CLIENT_ACK = "client-ack"  # record the client's acknowledgement received another way
    CLOSE = "close"  # close after the post-incident review
    ADMIN = "admin"
    # Before the split: "acknowledge or resolve". Granted as those two are; new routes should
    # name the specific permission.
    ACT = "act"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset(
        {
            Permission.FILE,
            Permission.READ,
            Permission.STATUS,
            Permission.TRIAGE,
            Permission.CONTAIN,
            Permission.UPDATE,
            Permission.CHECKLIST,
            Permission.FACTS,
        }
    ),
    Role.ON_CALL: frozenset(
        {
            Permission.READ,
            Permission.STATUS,
            Permission.ACKNOWLEDGE,
            Permission.CONTAIN,
            Permission.RESOLVE,
            Permission.UPDATE,
            Permission.CHECKLIST,
            Permission.FACTS,
            Permission.CLIENT_ACK,
            Permission.ACT,
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            Permission.READ,
            Permission.STATUS,
            Permission.FACTS,
            Permission.ASSESS,
            Permission.STAGE,
            Permission.CLIENT_ACK,
            Permission.CLOSE,
        }
    ),
    Role.ADMIN: frozenset(Permission),
    Role.CLIENT_READONLY: frozenset({Permission.STATUS}),
}


def role_map_problems(role_map: dict[str, str]) -> list[str]:
    """OIDC_ROLE_MAP values that are not roles (a legacy name is accepted), for start-up."""
    known = ", ".join(r.value for r in Role)
    problems = []
    for group, role in sorted(role_map.items()):
        try:
            Role(role.strip().lower())
        except ValueError:
            problems.append(f"OIDC_ROLE_MAP: '{group}' maps to '{role}', not a role; use {known}")
    return problems


def parse_role(text: str) -> Role:
    """A role typed by a person: the five names, or a legacy one with what it became."""
    name = text.strip().lower()
    if name in LEGACY_ROLES:
        raise TokenError(
            f"role '{name}' was replaced: use --role {LEGACY_ROLES[name]} (existing '{name}' "
            f"tokens already act as {LEGACY_ROLES[name]}; see docs/security.md)"
        )
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise TokenError(f"role '{text}': not a role; use one of {known}") from None


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
    # Further roles held at once (an identity provider may put a person in several groups);
    # the rights are the union. API tokens hold one role.
    also: frozenset[Role] = frozenset()

    def may(self, permission: Permission) -> bool:
        return any(permission in GRANTS[r] for r in (self.role, *self.also))

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


def _warn_legacy(path: Path, raw: object) -> None:
    """Say once per read which stored tokens carry an old role name, and what they act as;
    the next `tokens create` or `revoke` rewrites the file with the new names."""
    if not isinstance(raw, list):
        return
    old = [
        f"{r.get('name')} ({r.get('role')} -> {LEGACY_ROLES[r['role']]})"
        for r in raw
        if isinstance(r, dict) and r.get("role") in LEGACY_ROLES
    ]
    if old:
        log.warning(
            "token store %s: %s use a replaced role name and act as the new role; "
            "see docs/security.md#roles",
            path,
            ", ".join(old),
        )


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
            records = _RECORDS.validate_python(raw.get("tokens", []))
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError, ValidationError) as exc:
            raise TokenStoreError(f"token store {self.path} is unreadable: {exc}") from None
        _warn_legacy(self.path, raw.get("tokens", []))
        return records

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

    def refusal(self, token: str, now: datetime | None = None) -> str:
        """Why `authenticate` refused the token, for the audit trail: an expired or revoked
        token is named (its secret matched, so the name is proven), anything else is not."""
        if not token:
            return "no bearer token"
        prefix, _, rest = token.partition("_")
        token_id, _, _ = rest.partition("_")
        if prefix != PREFIX or not token_id:
            return "not an API token"
        now = now or datetime.now(UTC)
        presented = _digest(token)
        for record in self.records():
            if record.id == token_id and hmac.compare_digest(presented, record.sha256):
                return f"{record.status(now)} token {record.name}"
        return "unknown API token"

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
        if role is Role.CLIENT_READONLY and ALL_CLIENTS in clients:
            raise TokenError(
                "clients: a client-readonly token is for one client's staff; name its client "
                "(e.g. --clients demo), not '*'"
            )
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
