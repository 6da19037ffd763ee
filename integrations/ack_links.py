"""Signed, expiring acknowledgement links for client notices.

A token names the workflow, the contact it was sent to, the message it came with and when it
stops working, signed with HMAC-SHA256 under `INCIDENT_DESK_ACK_SECRET`. The signature is the
link's only authentication, so nothing in it is trusted before the signature checks out, and
the comparison is constant-time. Single use is not the token's job: the workflow keeps the
acknowledgement, and the intake names its update after the token (`update_id`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

PREFIX = "v1"
MAX_TOKEN_LENGTH = 2048


class TokenError(ValueError):
    """A token that is not ours (malformed or forged): answered 400."""


class TokenExpired(TokenError):
    """A genuine token past its expiry: answered 410."""

    def __init__(self, claims: AckClaims) -> None:
        super().__init__(f"this link expired at {claims.expires_at.isoformat()}")
        self.claims = claims


@dataclass(frozen=True)
class AckClaims:
    workflow_id: str
    contact: str
    message_id: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: SecretStr, body: str) -> bytes:
    key = secret.get_secret_value().encode("utf-8")
    return hmac.new(key, f"{PREFIX}.{body}".encode("ascii"), hashlib.sha256).digest()


def sign(secret: SecretStr, claims: AckClaims) -> str:
    payload = {
        "w": claims.workflow_id,
        "c": claims.contact,
        "m": claims.message_id,
        "x": int(claims.expires_at.timestamp()),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{PREFIX}.{body}.{_b64(_mac(secret, body))}"


def verify(secret: SecretStr, token: str, now: datetime | None = None) -> AckClaims:
    """The claims of a genuine, unexpired token; TokenError / TokenExpired otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("this link is not a valid acknowledgement link")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("this link is not a valid acknowledgement link")
    _, body, signature = parts
    try:
        given = _unb64(signature)
    except ValueError as exc:
        raise TokenError("this link is not a valid acknowledgement link") from exc
    if not hmac.compare_digest(given, _mac(secret, body)):
        raise TokenError("this link's signature is not valid: it was not issued by us")
    try:
        payload = json.loads(_unb64(body))
        claims = AckClaims(
            workflow_id=str(payload["w"]),
            contact=str(payload["c"]),
            message_id=str(payload["m"]),
            expires_at=datetime.fromtimestamp(int(payload["x"]), UTC),
        )
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise TokenError("this link is not a valid acknowledgement link") from exc
    if (now or datetime.now(UTC)) >= claims.expires_at:
        raise TokenExpired(claims)
    return claims


def token_id(token: str) -> str:
    """A stable name for a token that reveals nothing of it: kept as evidence, used as the
    update id, so the token itself never lands in history or logs."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def ack_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/ack/{token}"
