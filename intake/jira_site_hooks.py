"""Which Jira site a webhook came from, what that site may start or move, and for which client.

Every configured Jira site has its own receiver (intake/jira_webhooks.py): the `default` site
(JIRA_URL) at `/webhooks/jira`, each JIRA_SITES entry at `/webhooks/jira/<site id>`, each with
its own secret or token, its own Jira session for read-backs and comments, and its own scope.

A site's scope is not configured twice: it is where the client policies send that site's
incidents (`jira.site`, `jira.project`, `jira.issue_type`, else the site's defaults), so the
projects an agent may open incidents in are exactly those Incident Desk writes to. The default
site also keeps JIRA_PROJECT / JIRA_ISSUE_TYPE, as before sites existed, so a deployment whose
policies say nothing about Jira behaves as it did.

Issue keys are only unique within a site (two sites may both have SEC-1), so everything that
names a workflow from an issue goes through `InboundSite.workflow_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from incidents.policy import ClientPolicy
from intake.jira_payloads import ReportProblem, client_of
from integrations.jira_sites import DEFAULT_SITE, JiraSite, jira_incident_id
from workflows.names import workflow_id_for

PATH = "/webhooks/jira"


@dataclass(frozen=True)
class InboundSite:
    """One site as the webhook receiver sees it: where it posts and how it proves who it is."""

    id: str
    site: JiraSite

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_SITE

    @property
    def path(self) -> str:
        return PATH if self.is_default else f"{PATH}/{self.id}"

    def setting(self, name: str) -> str:
        """The setting an operator changes for this site: `JIRA_WEBHOOK_SECRET` for the default
        site, `JIRA_SITES.<id>.webhook_secret` for the others."""
        if self.is_default:
            return f"JIRA_{name.upper()}"
        return f"JIRA_SITES.{self.id}.{name}"

    def incident_id(self, key: str) -> str:
        return jira_incident_id(self.id, key)

    def workflow_id(self, key: str) -> str:
        return workflow_id_for(self.incident_id(key))


@dataclass(frozen=True)
class Route:
    project: str
    issue_type: str
    clients: tuple[str, ...]


@dataclass(frozen=True)
class SiteScope:
    """The (project, issue type) pairs a site's deliveries may act in, and whose they are."""

    site_id: str
    routes: tuple[Route, ...]

    @classmethod
    def of(cls, inbound: InboundSite, policies: Mapping[str, ClientPolicy]) -> SiteScope:
        site = inbound.site
        found: dict[tuple[str, str], tuple[str, list[str]]] = {}
        if inbound.is_default:
            found[(site.project.upper(), site.issue_type.casefold())] = (site.issue_type, [])
        for client_id, policy in sorted(policies.items()):
            jira = policy.jira
            if jira.site != inbound.id:
                continue
            project = (jira.project or site.project).upper()
            issue_type = jira.issue_type or site.issue_type
            entry = found.setdefault((project, issue_type.casefold()), (issue_type, []))
            entry[1].append(client_id)
        routes = tuple(
            Route(project, name, tuple(clients))
            for (project, _), (name, clients) in sorted(found.items())
        )
        return cls(inbound.id, routes)

    def clients_for(self, project: str, issue_type: str | None) -> tuple[str, ...] | None:
        """The clients routed to that project and type; None when the site does not handle it.

        A payload without an issue type (some comment events) matches on the project alone.
        """
        wanted = issue_type.casefold() if issue_type is not None else None
        matched = [
            r
            for r in self.routes
            if r.project == project.upper()
            and (wanted is None or r.issue_type.casefold() == wanted)
        ]
        if not matched:
            return None
        return tuple(sorted({c for r in matched for c in r.clients}))

    def describe(self) -> str:
        if not self.routes:
            return f"nothing: no client policy routes incidents to Jira site '{self.site_id}'"
        return ", ".join(f"{r.issue_type} issues in {r.project}" for r in self.routes)


def choose_client(
    inbound: InboundSite,
    candidates: tuple[str, ...],
    labels: list[str],
    *,
    prefix: str,
    default_client: str,
    policies: Mapping[str, ClientPolicy],
) -> str:
    """Whose incident a new issue is, or ReportProblem saying which label to fix.

    A `client-<id>` label decides, as it always has, but only for a client whose incidents live
    on this site: otherwise its tickets, comments and status moves would go to another site,
    where this issue does not exist. Without a label, the only client routed to the issue's
    project is it; where several share the project, JIRA_DEFAULT_CLIENT is (on the default site
    always, as before; elsewhere if it is one of them), else the agent must label the issue.
    """
    labelled = client_of(labels, prefix, "")
    if labelled:
        policy = policies.get(labelled)
        if policy is not None and policy.jira.site != inbound.id:
            here = f" (clients here: {', '.join(candidates)})" if candidates else ""
            raise ReportProblem(
                f"client '{labelled}' keeps its incidents in Jira site '{policy.jira.site}', "
                f"not in this one ('{inbound.id}'){here}; file it there, or fix the "
                f"'{prefix}<id>' label"
            )
        return labelled
    if len(candidates) == 1:
        return candidates[0]
    if inbound.is_default or default_client in candidates:
        return default_client
    raise ReportProblem(
        f"several clients share this project ({', '.join(candidates)}); label the issue "
        f"'{prefix}<client id>' to say whose it is"
    )
