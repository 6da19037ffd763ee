"""Jira sites as configuration: the `default` site (JIRA_URL, JIRA_AUTH, JIRA_USER, JIRA_TOKEN)
and any others in JIRA_SITES, each checked at start-up with messages that name the setting.

JIRA_SITES is a mapping from site id to its settings, as JSON in the environment or as a
mapping in the INCIDENT_DESK_CONFIG file:

    JIRA_SITES='{"client-dc": {"url": "https://jira.client.example", "auth": "datacenter",
                 "token_file": "/run/secrets/client-dc-pat", "project": "SECOPS"}}'

Each site's secret may be given inline (`token`) or, as container platforms mount secrets, as a
file (`token_file`), read once here. So may the secret its webhooks are signed with
(`webhook_secret`, `webhook_secret_file`; intake/jira_webhooks.py), each site its own. Client policies name a site id (`jira.site`); the worker
refuses to start when a policy names a site that is not configured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from incidents.client_routing import SITE_ID
from incidents.policy import PolicyError, load_policy
from integrations.jira_sites import DEFAULT_SITE, JiraSite, JiraSites

if TYPE_CHECKING:
    from incident_desk.settings import Settings

__all__ = ["JiraSiteSettings", "configured_sites", "policy_site_problems", "site_problems"]

# Below this a webhook secret is guessable; the docs ask for `openssl rand -hex 32` (64).
MIN_WEBHOOK_SECRET = 16

_AUTH_HELP = {
    "cloud": "Jira Cloud logs in with the account's email address and an API token",
    "datacenter": "Jira Data Center logs in with a personal access token (sent as Bearer)",
}


class JiraSiteSettings(BaseModel):
    """One entry of JIRA_SITES."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    auth: Literal["cloud", "datacenter"] = "cloud"
    user: str | None = Field(None, description="Cloud: the account's email address")
    token: SecretStr | None = Field(None, description="Cloud API token or Data Center PAT")
    token_file: Path | None = None
    project: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$")
    issue_type: str | None = Field(None, min_length=1)
    # Webhooks from this site to /webhooks/jira/<site id> (docs/jira.md, "More than one site").
    webhook_mode: Literal["cloud", "datacenter"] | None = Field(
        None, description="cloud: signed deliveries only; default: from auth"
    )
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 X-Hub-Signature")
    webhook_secret_file: Path | None = None
    webhook_token: SecretStr | None = Field(None, description="Data Center: ?token= in the URL")

    @property
    def inbound_mode(self) -> Literal["cloud", "datacenter"]:
        return self.webhook_mode or self.auth


def _read(path: Path, where: str) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{where}: cannot read {path} ({exc.strerror or exc})") from None
    if not value:
        raise ValueError(f"{where}: {path} is empty")
    return value


def _site_problems(site_id: str, site: JiraSiteSettings) -> list[str]:
    where = f"JIRA_SITES.{site_id}"
    problems: list[str] = []
    if not re.fullmatch(SITE_ID, site_id):
        problems.append(f"{where}: site ids are lower-case letters, digits, - and _")
    if site_id == DEFAULT_SITE:
        problems.append(
            f"{where}: the '{DEFAULT_SITE}' site is JIRA_URL/JIRA_AUTH/JIRA_USER/JIRA_TOKEN, "
            "give this site another id"
        )
    if not site.url.startswith(("http://", "https://")):
        problems.append(f"{where}.url: '{site.url}' is not an http(s) URL")
    if site.token_file is not None:
        try:
            value = _read(site.token_file, f"{where}.token_file")
        except ValueError as exc:
            problems.append(str(exc))
        else:
            if site.token is not None and site.token.get_secret_value() != value:
                problems.append(f"{where}: token and token_file differ, give only one of them")
            else:
                site.token, site.token_file = SecretStr(value or ""), None
    if site.token is None:
        problems.append(f"{where}: needs token or token_file ({_AUTH_HELP[site.auth]})")
    if site.webhook_secret_file is not None:
        try:
            value = _read(site.webhook_secret_file, f"{where}.webhook_secret_file")
        except ValueError as exc:
            problems.append(str(exc))
        else:
            given = site.webhook_secret
            if given is not None and given.get_secret_value() != value:
                problems.append(
                    f"{where}: webhook_secret and webhook_secret_file differ, give only one of them"
                )
            else:
                site.webhook_secret, site.webhook_secret_file = SecretStr(value or ""), None
    for name in ("webhook_secret", "webhook_token"):
        value = getattr(site, name)
        if value is not None and len(value.get_secret_value().strip()) < MIN_WEBHOOK_SECRET:
            problems.append(
                f"{where}.{name}: shorter than {MIN_WEBHOOK_SECRET} characters; use a long "
                "random value (e.g. openssl rand -hex 32)"
            )
    if site.auth == "cloud" and not site.user:
        problems.append(
            f"{where}.user: {_AUTH_HELP['cloud']}: set user to that email address, "
            "or auth to datacenter for a personal access token"
        )
    return problems


def site_problems(settings: Settings) -> list[str]:
    """Run at start-up (after *_FILE secrets are read): every problem, each naming its setting."""
    problems: list[str] = []
    if settings.jira_url is not None:
        secret = "a personal access token" if settings.jira_auth == "datacenter" else "an API token"
        if "jira_token" not in settings.model_fields_set:
            problems.append(
                f"JIRA_URL is set but JIRA_TOKEN (or JIRA_TOKEN_FILE) is not: "
                f"{_AUTH_HELP[settings.jira_auth]}, so give {secret}"
            )
        if settings.jira_auth == "cloud" and "jira_user" not in settings.model_fields_set:
            problems.append(
                f"JIRA_URL is set but JIRA_USER is not: {_AUTH_HELP['cloud']}, so set JIRA_USER to "
                "that email address, or JIRA_AUTH=datacenter for a personal access token"
            )
    for site_id, site in settings.jira_sites.items():
        problems.extend(_site_problems(site_id, site))
    problems.extend(_shared_webhook_secrets(settings))
    return problems


def _shared_webhook_secrets(settings: Settings) -> list[str]:
    """Two sites with one webhook secret (or token) could deliver as each other: a site's
    route would accept the other site's issues and move that site's incidents."""
    problems: list[str] = []
    for kind in ("secret", "token"):
        owners: dict[str, str] = {}
        default = getattr(settings, f"jira_webhook_{kind}")
        if default is not None:
            owners[default.get_secret_value()] = f"JIRA_WEBHOOK_{kind.upper()}"
        for site_id, site in settings.jira_sites.items():
            value = getattr(site, f"webhook_{kind}")
            if value is None:
                continue
            where = f"JIRA_SITES.{site_id}.webhook_{kind}"
            first = owners.setdefault(value.get_secret_value(), where)
            if first != where:
                problems.append(
                    f"{where}: the same value as {first}; give each Jira site its own, or "
                    "one site's deliveries would be accepted as the other's"
                )
    return problems


def configured_sites(settings: Settings) -> JiraSites:
    """Every site this process may talk to; `default` is the sandbox when JIRA_URL is unset."""
    sites = {
        DEFAULT_SITE: JiraSite(
            url=settings.jira_base_url,
            auth=settings.jira_auth,
            user=settings.jira_user,
            token=settings.jira_token,
            project=settings.jira_project,
            issue_type=settings.jira_issue_type,
            webhook_mode=settings.jira_webhook_mode,
            webhook_secret=settings.jira_webhook_secret,
            webhook_token=settings.jira_webhook_token,
        )
    }
    for site_id, site in settings.jira_sites.items():
        assert site.token is not None  # site_problems refused the settings otherwise
        sites[site_id] = JiraSite(
            url=site.url.rstrip("/"),
            auth=site.auth,
            user=site.user or "",
            token=site.token,
            project=site.project or settings.jira_project,
            issue_type=site.issue_type or settings.jira_issue_type,
            webhook_mode=site.inbound_mode,
            webhook_secret=site.webhook_secret,
            webhook_token=site.webhook_token,
        )
    return JiraSites(sites)


def policy_site_problems(policies_dir: Path, sites: JiraSites) -> list[str]:
    """Policies that route to a site this deployment does not know. A policy that does not load
    at all is reported by the intake's readiness check and the policy CLI, not here."""
    problems: list[str] = []
    for path in sorted((policies_dir / "clients").glob("*.yaml")):
        try:
            policy = load_policy(path)
        except PolicyError:
            continue
        if policy.jira.site not in sites.ids:
            problems.append(
                f"{path}: jira.site: '{policy.jira.site}' is not configured "
                f"(configured: {', '.join(sites.ids)}): add it to JIRA_SITES"
            )
    return problems


def sites_env(sites: dict[str, JiraSiteSettings]) -> str:
    """JIRA_SITES for a child process, secrets included (they travel as the other secrets do:
    in the environment, never on a command line)."""
    plain: dict[str, Any] = {}
    for site_id, site in sites.items():
        secrets = {"token", "token_file", "webhook_secret", "webhook_secret_file", "webhook_token"}
        entry = site.model_dump(mode="json", exclude_none=True, exclude=secrets)
        if site.token is not None:
            entry["token"] = site.token.get_secret_value()
        elif site.token_file is not None:
            entry["token_file"] = str(site.token_file)
        if site.webhook_secret is not None:
            entry["webhook_secret"] = site.webhook_secret.get_secret_value()
        elif site.webhook_secret_file is not None:
            entry["webhook_secret_file"] = str(site.webhook_secret_file)
        if site.webhook_token is not None:
            entry["webhook_token"] = site.webhook_token.get_secret_value()
        plain[site_id] = entry
    return json.dumps(plain)


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def default_site_auth(settings: Settings) -> httpx.Auth | tuple[str, str]:
    """httpx credentials for the default site, for probes that do not go through `jira`."""
    token = settings.jira_token.get_secret_value()
    if settings.jira_auth == "datacenter":
        return _Bearer(token)
    return (settings.jira_user, token)
