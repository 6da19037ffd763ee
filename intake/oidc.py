"""OIDC/JWT bearer tokens from the BPO's identity provider, besides Incident Desk's API tokens.

Off unless OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL are all configured. Verification is
PyJWT's: the signing key comes from the provider's JWKS (PyJWKClient, cached and re-fetched
when a token names an unknown key id, which is how providers rotate keys), and the signature,
`iss`, `aud`, `exp` and `nbf` are checked by `jwt.decode`. Only asymmetric algorithms are
accepted, so a token signed with the public key as an HMAC secret cannot pass.

Claims map to a principal: the role claim (a string or a list; names mapped by OIDC_ROLE_MAP,
e.g. an IdP group `soc-oncall` → `on-call`, `dpo-office` → `compliance`, `client-acme` →
`client-readonly`; unmapped values are taken as role names, unknown ones ignored) and the clients
claim (client ids, or `*`). Someone in several mapped groups gets the rights of every role held.
A token with no recognised role or no client is refused, as is a client-readonly identity
scoped to `*`: the provider vouches for who someone is, the claims for what they may do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import jwt

from incident_desk.tokens import (
    ALL_CLIENTS,
    CLIENT_PATTERN,
    GRANTS,
    Principal,
    Role,
    role_map_problems,
)

__all__ = ["OidcConfig", "OidcVerifier"]

log = logging.getLogger("incident_desk.intake")

ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = "incident_desk_role"
    clients_claim: str = "incident_desk_clients"
    name_claim: str = "sub"
    role_map: Mapping[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: float = 30.0


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _role(name: str) -> Role | None:
    """A claim value as a role: the five names, or a legacy one (`responder` -> on-call)."""
    try:
        return Role(name.strip().lower())
    except ValueError:
        return None


class OidcVerifier:
    def __init__(self, config: OidcConfig) -> None:
        wrong = [a for a in config.algorithms if a not in ASYMMETRIC]
        if wrong:
            raise ValueError(f"OIDC_ALGORITHMS: {', '.join(wrong)} is not an asymmetric algorithm")
        problems = role_map_problems(dict(config.role_map))
        if problems:
            raise ValueError("; ".join(problems))
        self.config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2

    def authenticate(self, token: str) -> Principal | None:
        """The principal the token proves, or None (the reason is logged, never the token).

        Blocking (the JWKS fetch, when the cache misses): call it from a thread.
        """
        c = self.config
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(c.algorithms),
                audience=c.audience,
                issuer=c.issuer,
                leeway=c.leeway_seconds,
                options={"require": ["exp", "iss", "aud", c.name_claim]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("OIDC: JWKS at %s unreachable: %s", c.jwks_url, exc)
            return None
        except jwt.PyJWTError as exc:
            log.info("OIDC token refused: %s", exc)
            return None
        roles = {role for r in self._roles(claims) if (role := _role(r)) is not None}
        clients = frozenset(_as_list(claims.get(c.clients_claim)))
        bad = [x for x in clients if x != ALL_CLIENTS and not re.fullmatch(CLIENT_PATTERN, x)]
        name = str(claims[c.name_claim])[:64]
        problem = None
        if not roles:
            problem = "no recognised role"
        elif not clients or bad:
            problem = "no valid client scope"
        elif roles == {Role.CLIENT_READONLY} and ALL_CLIENTS in clients:
            problem = "a client-readonly identity must name its client, not '*'"
        if problem is not None:
            log.info("OIDC token for %s refused: %s", name, problem)
            return None
        # Named for the most privileged role; the rights are those of every role held.
        role = max(roles, key=lambda r: (len(GRANTS[r]), r.value))
        return Principal(f"oidc:{name}", role, clients, also=frozenset(roles - {role}))

    def _roles(self, claims: Mapping[str, object]) -> list[str]:
        names = _as_list(claims.get(self.config.role_claim))
        mapping = self.config.role_map
        return [mapping.get(n, n) for n in names] if mapping else names
