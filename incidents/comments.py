"""Comments people write on an incident's Jira ticket, as the incident's timeline keeps them.

Agents discuss an incident in Jira; those comments are part of its record (a reviewer reads the
timeline, not Jira's history). Two kinds carry more weight than talk: a stakeholder update (the
status-update cadence counts from the last one), and a comment by someone at the client, which
is evidence that the client has seen the incident, just as a click on the notice's link is.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

COMMENT_MAX = 4000


class IncidentComment(BaseModel):
    """One comment, as the intake read it from Jira (`add_comment` update)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment_id: str = Field(min_length=1, max_length=64, description="Jira's comment id")
    by: str = Field(min_length=1, max_length=200, description="The author, as people know them")
    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    stakeholder_update: bool = Field(
        False, description="Marked as a stakeholder update (e.g. it starts with '[update]')"
    )
    from_client: bool = Field(False, description="Written by one of the client's Jira users")
    channel: str = Field("jira", pattern=r"^[a-z][a-z0-9_-]{0,31}$")

    @property
    def event(self) -> str:
        """The timeline's name for it: the status-update cadence looks for stakeholder updates."""
        if self.stakeholder_update:
            return "stakeholder_update"
        return "client_comment" if self.from_client else "comment"


class ClientJiraUsers(BaseModel):
    """Who speaks for the client in Jira (policy `jira_users:`): their comments acknowledge.

    Accounts are matched on any identifier Jira shows (Cloud account id, Data Center user name
    or key, e-mail address); domains on the e-mail address, which Jira Cloud often hides, so
    list account ids where it matters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: tuple[str, ...] = Field(
        (), description="Account ids, user names or e-mail addresses of the client's people"
    )
    email_domains: tuple[str, ...] = Field(
        (), description="E-mail domains of the client, e.g. client.example"
    )

    def includes(self, *identifiers: str | None, email: str | None = None) -> bool:
        known = {a.casefold() for a in self.accounts}
        if any(i and i.casefold() in known for i in (*identifiers, email)):
            return True
        if email and "@" in email:
            domain = email.rsplit("@", 1)[1].casefold()
            return any(domain == d.casefold().lstrip("@") for d in self.email_domains)
        return False


def is_stakeholder_update(body: str, marker: str) -> bool:
    """A comment whose first words are the marker (case-blind), e.g. "[update] contained"."""
    return bool(marker) and body.lstrip().casefold().startswith(marker.casefold())


def clip(text: str, limit: int = COMMENT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
