"""OIDC sign-in, abuse limits and webhook audit lines on the intake, over real HTTP.

The identity provider is played by a key pair made here and a JWKS document served by a real
HTTP server, which PyJWT's PyJWKClient fetches as it would the provider's. No worker runs: every
answer here comes from the intake itself (and Temporal, for filing and look-ups).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from incident_desk.config import ConfigError, load_settings
from incident_desk.settings import Settings
from incident_desk.tokens import Role
from intake.app import create_app
from intake.rate_limits import Limit, RateLimiter
from tests.support.servers import run_app
from tests.support.stacks import make_token

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.bpo.example/realms/soc"
AUDIENCE = "incident-desk-api"
KID = "soc-2026-11"


@dataclass
class Provider:
    key: rsa.RSAPrivateKey
    jwks_url: str

    def token(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwks = FastAPI()

    @jwks.get("/protocol/openid-connect/certs")
    def certs() -> dict[str, Any]:
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    with run_app(jwks) as url:
        yield Provider(key, f"{url}/protocol/openid-connect/certs")


@dataclass
class Intake:
    url: str
    settings: Settings

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.settings.audit_log_path.read_text().splitlines()]


@pytest.fixture(scope="module")
async def intake(
    dev_env: WorkflowEnvironment, provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Intake]:
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace=dev_env.client.namespace,
        task_queue=f"no-worker-{uuid.uuid4()}",
        policies_dir=REPO / "policies",
        state_dir=tmp_path_factory.mktemp("state"),
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=provider.jwks_url,
        oidc_role_claim="groups",
        oidc_role_map={"soc-agents": "agent", "soc-responders": "responder"},
        jira_webhook_secret=SecretStr("jira-hook-secret"),
        rate_limit_token_rate=0.2,
        rate_limit_token_burst=8,
        rate_limit_ip_rate=0,
    )
    with run_app(create_app(settings)) as url:
        yield Intake(url, settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def report(client: str) -> dict[str, Any]:
    return {
        "client": client,
        "summary": "Caller reports a lookalike bank SMS",
        "description": "Maria got an SMS asking for her card PIN.",
        "channel": "phone",
        "reporter": {"name": "Maria", "contact": "maria@example.com"},
        "external_ref": f"OIDC-{uuid.uuid4().hex[:8]}",
    }


def test_an_identity_provider_token_files_within_its_claims(
    intake: Intake, provider: Provider
) -> None:
    token = provider.token(
        sub="alice-oidc-file", groups=["staff", "soc-agents"], incident_desk_clients=["demo"]
    )
    filed = httpx.post(f"{intake.url}/api/v1/incidents", json=report("demo"), headers=bearer(token))
    assert filed.status_code == 202, filed.text
    elsewhere = httpx.post(
        f"{intake.url}/api/v1/incidents", json=report("harbour-pine"), headers=bearer(token)
    )
    assert elsewhere.status_code == 422 and "harbour-pine" in elsewhere.json()["detail"]
    # An agent may not act on incidents: the role came from the mapped group.
    acked = httpx.post(
        f"{intake.url}/api/v1/incidents/{filed.json()['incident_id']}/ack",
        json={"by": "alice"},
        headers=bearer(token),
    )
    assert acked.status_code == 403 and "'agent'" in acked.json()["detail"]
    lines = [e for e in intake.audit() if e["token"] == "oidc:alice-oidc-file"]
    assert [e["status"] for e in lines] == [202, 422, 403]
    assert token not in intake.settings.audit_log_path.read_text()


@pytest.mark.parametrize(
    "why, claims",
    [
        ("wrong audience", {"aud": "some-other-app"}),
        ("wrong issuer", {"iss": "https://evil.example/"}),
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("no role", {"groups": ["staff"]}),
        ("no client scope", {"incident_desk_clients": None}),
        ("bad client id", {"incident_desk_clients": ["Demo Client"]}),
        ("no subject", {"sub": None}),
    ],
)
def test_tokens_the_api_must_not_accept_are_401(
    intake: Intake, provider: Provider, why: str, claims: dict[str, Any]
) -> None:
    good = {"groups": ["soc-responders"], "incident_desk_clients": ["demo"]}
    token = provider.token(**{**good, **claims})
    answer = httpx.get(f"{intake.url}/api/v1/incidents/demo-nothing", headers=bearer(token))
    assert answer.status_code == 401, why
    assert answer.json() == {"detail": "authentication required"}


def test_a_forged_or_downgraded_token_is_401(intake: Intake, provider: Provider) -> None:
    claims = {"groups": ["soc-responders"], "incident_desk_clients": ["*"]}
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = provider.token(key=stranger, **claims)
    # The classic attack: HS256 "signed" with the provider's public key as the HMAC secret.
    public_pem = provider.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": KID, "typ": "JWT"}
    segments = [
        jwt.utils.base64url_encode(json.dumps(part).encode())
        for part in (header, {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", **claims,
                              "exp": int(time.time()) + 300})
    ]  # fmt: skip
    signing_input = b".".join(segments)
    signature = jwt.utils.base64url_encode(
        hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    )
    downgraded = (signing_input + b"." + signature).decode()
    for token in (forged, downgraded):
        answer = httpx.get(f"{intake.url}/api/v1/incidents/demo-x", headers=bearer(token))
        assert answer.status_code == 401


def test_a_valid_responder_token_passes_authentication(intake: Intake, provider: Provider) -> None:
    token = provider.token(groups="soc-responders", incident_desk_clients="demo")
    answer = httpx.get(f"{intake.url}/api/v1/incidents/demo-missing", headers=bearer(token))
    assert answer.status_code == 404  # authenticated and authorised; the incident is unknown


def test_a_flooding_token_gets_429_with_retry_after_and_others_carry_on(intake: Intake) -> None:
    flooder = make_token(intake.settings, role=Role.AGENT, clients=("demo",), name="flooder")
    answers = [
        httpx.get(f"{intake.url}/api/v1/incidents/demo-none", headers=flooder) for _ in range(12)
    ]
    codes = [a.status_code for a in answers]
    assert codes[:8] == [404] * 8 and 429 in codes[8:], codes
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert "token" in limited.json()["detail"] and "retry in" in limited.json()["detail"]
    other = make_token(intake.settings, role=Role.AGENT, clients=("demo",), name="bystander")
    assert httpx.get(f"{intake.url}/api/v1/incidents/demo-none", headers=other).status_code == 404
    assert any(e["token"] == "flooder" and e["outcome"] == "rate_limited" for e in intake.audit())


def jira_event(secret: str | None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": "jira:issue_deleted",
            "issue": {
                "id": "10042",
                "key": "SEC-42",
                "self": "https://bpo.atlassian.net/rest/api/2/issue/10042",
                "fields": {"summary": "Maria Santos called about her card"},
            },
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature"] = f"sha256={digest}"
    return body, headers


def test_webhook_deliveries_are_audited_with_their_verified_source(intake: Intake) -> None:
    for secret in ("jira-hook-secret", "not-the-secret"):
        body, headers = jira_event(secret)
        httpx.post(f"{intake.url}/webhooks/jira", content=body, headers=headers)
    hooks = [e for e in intake.audit() if e["path"] == "/webhooks/jira"]
    accepted, refused = hooks[-2:]
    assert accepted["token"] == "webhook:jira" and accepted["outcome"] == "ignored"
    assert accepted["ids"] == {"issue_key": "SEC-42"} and accepted["status"] == 202
    assert refused["token"] is None and refused["status"] == 401
    assert refused["outcome"] == "refused"
    assert "Maria" not in intake.settings.audit_log_path.read_text()


def test_webhooks_and_ack_links_share_a_per_address_limit(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        policies_dir=REPO / "policies",
        rate_limit_ip_rate=0.1,
        rate_limit_ip_burst=3,
        pagerduty_webhook_secret=SecretStr("pd-secret"),
    )
    with run_app(create_app(settings)) as url:
        codes = [
            httpx.post(f"{url}/webhooks/pagerduty", content=b"{}").status_code,
            httpx.get(f"{url}/ack/not-a-token").status_code,
            httpx.post(f"{url}/webhooks/opsgenie", content=b"{}").status_code,
            httpx.post(f"{url}/webhooks/pagerduty", content=b"{}").status_code,
        ]
        limited = httpx.get(f"{url}/ack/not-a-token")
    assert 429 not in codes[:3] and codes[3] == 429, codes
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(Limit(rate=2.0, burst=2), clock=lambda: now[0])
    assert limiter.take("a") is None and limiter.take("a") is None
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") is None  # its own bucket
    now[0] += 0.5
    assert limiter.take("a") is None
    assert RateLimiter(Limit(rate=0, burst=0)).take("a") is None  # 0: no limit


def test_half_an_oidc_configuration_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_JWKS_URL", "http://idp.example/certs")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "OIDC_AUDIENCE" in message and "OIDC_JWKS_URL: 'http://idp.example/certs'" in message
