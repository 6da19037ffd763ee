"""The optional OIDC sign-in for the intake API, checked at start-up (docs/security.md).

All three of OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL, or none: half a configuration would
otherwise quietly accept only API tokens, or worse, tokens meant for another audience.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incident_desk.settings import Settings

REQUIRED = {
    "oidc_issuer": "OIDC_ISSUER",
    "oidc_audience": "OIDC_AUDIENCE",
    "oidc_jwks_url": "OIDC_JWKS_URL",
}


def oidc_problems(settings: Settings) -> list[str]:
    given = [v for f, v in REQUIRED.items() if getattr(settings, f)]
    missing = [v for f, v in REQUIRED.items() if not getattr(settings, f)]
    problems: list[str] = []
    if given and missing:
        problems.append(
            f"{', '.join(given)} set but {', '.join(missing)} not: OIDC sign-in needs the "
            "issuer, the audience (this API's client id at the provider) and the JWKS URL"
        )
    from incident_desk.tokens import role_map_problems

    problems += role_map_problems(settings.oidc_role_map)
    url = settings.oidc_jwks_url
    if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        problems.append(f"OIDC_JWKS_URL: '{url}' must be https (plain http only on loopback)")
    return problems
