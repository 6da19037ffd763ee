"""Several Jira sites at once, and the gateway for each (site, project) a client is routed to.

A BPO's clients live on different Jira sites (its own Jira Cloud, a client's Data Center) and in
different projects. The sites and their credentials are deployment configuration (JIRA_URL for
the `default` site, JIRA_SITES for the others; see incident_desk/jira_sites.py); client policies
only name a site id, so a policy file never holds a secret and can be reviewed by anyone.

No Temporal imports here; the Jira activities pick the route and call the gateway.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import pydantic

from integrations.jira import JiraAuth, JiraConfig, JiraGateway

DEFAULT_SITE = "default"


class JiraSite(pydantic.BaseModel):
    """Where one Jira site is and how Incident Desk logs in to it."""

    model_config = pydantic.ConfigDict(frozen=True)

    url: str
    auth: JiraAuth = "cloud"
    user: str = ""
    token: pydantic.SecretStr
    project: str = "SEC"
    issue_type: str = "Incident"
    # Proof that a webhook came from this site (intake/jira_webhooks.py): Cloud signs with a
    # secret (X-Hub-Signature); Data Center cannot sign, so a token in the URL stands in.
    webhook_mode: Literal["cloud", "datacenter"] = "cloud"
    webhook_secret: pydantic.SecretStr | None = None
    webhook_token: pydantic.SecretStr | None = None

    def __repr__(self) -> str:  # no credential in a traceback or log line
        return f"JiraSite(url={self.url!r}, auth={self.auth!r})"


def jira_incident_id(site_id: str, key: str) -> str:
    """The incident id of an issue an agent created on a site; its workflow is `incident-<it>`.

    The `default` site keeps `<KEY>` (DESIGN.md: `incident-SEC-42`). Another site may have the
    same key, so its issues get `<KEY>.<site>` (`SEC-42.harbour-dc`). The key comes first on
    purpose: a Jira key starts with an upper-case letter and holds no dot, while API-born ids
    are `<client>-<external_ref>` with a lower-case client, so no id of one kind can be an id of
    another (`<site>-<KEY>` could: client `harbour` filing external_ref `dc-SEC-42`).
    """
    return key if site_id == DEFAULT_SITE else f"{key}.{site_id}"


class JiraTarget(pydantic.BaseModel):
    """Where one client's incidents go: a site id, a project, an issue type, extra fields."""

    model_config = pydantic.ConfigDict(frozen=True)

    site: str = DEFAULT_SITE
    project: str | None = None  # None: the site's default project
    issue_type: str | None = None
    custom_fields: dict[str, Any] = pydantic.Field(default_factory=dict)

    def cache_key(self) -> str:
        return self.model_dump_json()


class UnknownJiraSite(LookupError):
    def __init__(self, site: str, known: list[str]) -> None:
        super().__init__(
            f"Jira site '{site}' is not configured here (configured: {', '.join(known)}): "
            "add it to JIRA_SITES"
        )
        self.site = site


class JiraSites:
    """The configured sites; one gateway (one HTTP session) per site, project and issue type."""

    def __init__(self, sites: dict[str, JiraSite]) -> None:
        if DEFAULT_SITE not in sites:
            raise ValueError(f"the '{DEFAULT_SITE}' Jira site must be configured")
        self._sites = dict(sites)
        self._gateways: dict[str, JiraGateway] = {}
        self._lock = threading.Lock()

    @property
    def ids(self) -> list[str]:
        return sorted(self._sites)

    def site(self, site_id: str) -> JiraSite:
        try:
            return self._sites[site_id]
        except KeyError:
            raise UnknownJiraSite(site_id, self.ids) from None

    def items(self) -> list[tuple[str, JiraSite]]:
        return sorted(self._sites.items())

    def url(self, site_id: str) -> str:
        return self.site(site_id).url

    def gateway(self, target: JiraTarget | None = None) -> JiraGateway:
        target = target or JiraTarget()
        site = self.site(target.site)
        with self._lock:
            gateway = self._gateways.get(target.cache_key())
            if gateway is None:
                gateway = self._gateways[target.cache_key()] = JiraGateway(
                    JiraConfig(
                        url=site.url,
                        user=site.user,
                        token=site.token,
                        auth=site.auth,
                        project=target.project or site.project,
                        issue_type=target.issue_type or site.issue_type,
                        custom_fields=dict(target.custom_fields),
                    )
                )
            return gateway
