"""Identity-provider claims become the five roles: mapped groups, several at once, the legacy
`responder`, and client-readonly identities bound to their client.

The provider is a key pair made here and its JWKS served over real HTTP, fetched by PyJWT's
PyJWKClient as it would fetch the provider's; the verifier is the one the intake uses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from incident_desk.config import ConfigError, load_settings
from incident_desk.tokens import Permission, Role
from intake.oidc import OidcConfig, OidcVerifier
from tests.support.servers import run_app

ISSUER = "https://idp.bpo.example/realms/soc"
AUDIENCE = "incident-desk-api"
KID = "roles-1"
ROLE_MAP = {
    "soc-agents": "agent",
    "soc-oncall": "on-call",
    "dpo-office": "compliance",
    "platform-admins": "admin",
    "client-demo": "client-readonly",
}

_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def verifier() -> Iterator[OidcVerifier]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(_key.public_key(), as_dict=True)
    jwks = FastAPI()

    @jwks.get("/certs")
    def certs() -> dict[str, Any]:
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    with run_app(jwks) as url:
        yield OidcVerifier(
            OidcConfig(
                issuer=ISSUER,
                audience=AUDIENCE,
                jwks_url=f"{url}/certs",
                role_claim="groups",
                role_map=ROLE_MAP,
            )
        )


def token(**claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "exp": now + 300, **claims}
    return jwt.encode(body, _key, algorithm="RS256", headers={"kid": KID})


@pytest.mark.parametrize(
    "group, role",
    [(g, Role(r)) for g, r in ROLE_MAP.items()],
)
def test_each_mapped_group_becomes_its_role(verifier: OidcVerifier, group: str, role: Role) -> None:
    principal = verifier.authenticate(token(groups=[group], incident_desk_clients=["demo"]))
    assert principal is not None and principal.role is role and principal.name == "oidc:ana"


def test_several_groups_give_the_rights_of_each(verifier: OidcVerifier) -> None:
    principal = verifier.authenticate(
        token(groups=["staff", "soc-agents", "soc-oncall"], incident_desk_clients="demo")
    )
    assert principal is not None
    assert principal.may(Permission.FILE)  # from agent
    assert principal.may(Permission.ACKNOWLEDGE)  # from on-call
    assert not principal.may(Permission.CLOSE) and not principal.may(Permission.ADMIN)


def test_an_unmapped_role_name_and_the_legacy_one_are_read_as_roles(
    verifier: OidcVerifier,
) -> None:
    direct = verifier.authenticate(token(groups="compliance", incident_desk_clients="demo"))
    assert direct is not None and direct.role is Role.COMPLIANCE
    legacy = verifier.authenticate(token(groups="responder", incident_desk_clients="demo"))
    assert legacy is not None and legacy.role is Role.ON_CALL
    assert verifier.authenticate(token(groups="superuser", incident_desk_clients="*")) is None


def test_a_client_identity_must_be_bound_to_its_client(verifier: OidcVerifier) -> None:
    assert verifier.authenticate(token(groups="client-demo", incident_desk_clients="*")) is None
    bound = verifier.authenticate(token(groups="client-demo", incident_desk_clients="demo"))
    assert bound is not None and bound.role is Role.CLIENT_READONLY
    assert bound.may(Permission.STATUS) and not bound.may(Permission.READ)
    assert bound.sees("demo") and not bound.sees("harbour-pine")


def test_a_role_map_naming_no_role_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("OIDC_JWKS_URL", "https://idp.bpo.example/certs")
    monkeypatch.setenv("OIDC_ROLE_MAP", '{"soc-oncall": "oncall", "soc-agents": "agent"}')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "OIDC_ROLE_MAP: 'soc-oncall' maps to 'oncall', not a role" in str(raised.value)
    assert "soc-agents" not in str(raised.value)
    with pytest.raises(ValueError, match="OIDC_ROLE_MAP"):
        OidcVerifier(
            OidcConfig(ISSUER, AUDIENCE, "https://idp.bpo.example/certs", role_map={"x": "boss"})
        )
