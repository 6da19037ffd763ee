"""Where a client's incidents go: its Jira site and project, and who its notices come from.

Part of the client policy (`jira:` and `notice_sender:` in policies/clients/<id>.yaml). A policy
names a Jira site by id only; the site's URL and credentials are deployment configuration
(JIRA_URL for `default`, JIRA_SITES for the others), so a policy file can be read and reviewed
by anyone without handing out a secret. Anything left out falls back to the site's defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

SITE_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# Words that mean someone is about to put a secret in a policy file.
_CREDENTIAL_KEYS = frozenset({"url", "user", "email", "token", "password", "pat", "api_token"})


class JiraRouting(BaseModel):
    """The client's Jira: site, project, issue type, our status names in theirs, extra fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(
        "default", pattern=SITE_ID, description="A site id from JIRA_SITES; 'default' is JIRA_URL"
    )
    project: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$", description="Project key; default: the site's"
    )
    issue_type: str | None = Field(None, min_length=1, description="Default: the site's")
    reporting_project: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9_]{1,9}$",
        description="Project key on the same site for the weekly digest issue; none: email only",
    )
    reporting_issue_type: str | None = Field(
        None, min_length=1, description="Issue type of the digest issue; default: `issue_type`"
    )
    statuses: dict[str, str] = Field(
        default_factory=dict,
        description="Our status name → the client's workflow status, e.g. {Done: Resolved}",
    )
    custom_fields: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Set on every issue created, e.g. {customfield_10050: {value: Security}}",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(k for k in data if str(k).lower() in _CREDENTIAL_KEYS)
            if found:
                raise ValueError(
                    f"{', '.join(found)}: Jira URLs and credentials are configuration, not "
                    "policy: name a site id here and configure it in JIRA_SITES"
                )
        return data

    @field_validator("custom_fields")
    @classmethod
    def _custom_field_ids(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        wrong = sorted(k for k in value if not k.startswith("customfield_") or not k[12:].isdigit())
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: custom field ids look like customfield_10050")
        return value

    def status(self, ours: str) -> str:
        """The client's name for one of our statuses; Jira compares status names case-blind."""
        for name, theirs in self.statuses.items():
            if name.casefold() == ours.casefold():
                return theirs
        return ours


class NoticeSender(BaseModel):
    """Who the client's notices come from. The address must be one the SMTP server may send as
    (SPF/DKIM for its domain); the name is what the client's mail program shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
    name: str | None = Field(None, min_length=1, max_length=200)
