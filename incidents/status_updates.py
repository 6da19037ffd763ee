"""Stakeholder updates: what the incident owner tells the people waiting on an open incident.

An update restarts the status-update cadence (the client policy's `status_updates`, per
severity). It arrives as a Jira comment starting with the update marker (`add_comment`) or
through the API and CLI (`post_update`, this model); either way it lands in the timeline as a
`stakeholder_update` entry.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

UPDATE_MAX = 4000
# A Jira user name or `accountid:<id>` can be mentioned as-is; a display name cannot.
_MENTIONABLE = re.compile(r"^[^\[\]\s|]{1,200}$")


class StakeholderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Field(min_length=1, max_length=200, description="Who posted the update")
    text: str = Field(min_length=1, max_length=UPDATE_MAX, description="The update itself")
    channel: str = Field(
        "api", pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="Where it was posted: api, cli"
    )


def mention(owner: str) -> str:
    """Jira wiki markup that notifies the owner when their name is a Jira user name; a display
    name (an acknowledgement from the pager or a Jira transition) is written as it is, since a
    mention of a name Jira does not know renders as a broken link."""
    return f"[~{owner}]" if _MENTIONABLE.match(owner) else owner
