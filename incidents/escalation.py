"""The escalation chain as a plan: who is paged at each step, under which key, for how long.

The workflow walks this plan and owns only the clock; everything a reviewer might question
(which level comes next, how many times the chain repeats, what a page's dedup key is) is decided
here, purely, so it can be unit-tested without Temporal and replayed without surprises.

Dedup keys are part of the outside contract: the pager folds a trigger with a known key into the
open alert instead of paging again, so a retried activity never double-pages, while every level
and every repeat gets its own key so that it really does page the people on it. The first page
keeps the bare workflow id, as incidents did before chains existed, so a responder's or an
operator's link to `<workflow-id>` still finds the first page.

Later keys join the workflow id and the step with `~`, a character no workflow id may contain
(incident and Jira ids are `[A-Za-z0-9._:-]`): with `-` the key `incident-x-R2-L1` could be round 2
of `incident-x` or round 1 of `incident-x-R2`, and a pager webhook must map a key back to exactly
one incident. `~` is also unreserved in URLs, so keys need no escaping in links.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from incidents.policy import ClientPolicy
from incidents.report import Severity

SEPARATOR = "~"
NO_RESPONDER_SUFFIX = "no-responder"


class Step(BaseModel):
    """One page of the plan. `ack_timeout` None means: page once and wait for a person."""

    model_config = ConfigDict(frozen=True)

    round: int
    rounds: int
    level: int
    levels: int
    targets: tuple[str, ...]
    ack_timeout: timedelta | None

    @property
    def label(self) -> str:
        """How people read the step, e.g. 'Level 2 of 3 (bpo-soc-manager), round 1 of 2'."""
        who = f" ({', '.join(self.targets)})" if self.targets else ""
        text = f"Level {self.level} of {self.levels}{who}"
        return f"{text}, round {self.round} of {self.rounds}" if self.rounds > 1 else text

    @property
    def timeout_summary(self) -> str:
        """Names the durable timer in the Temporal UI, so an operator sees whose clock runs."""
        who = f" ({', '.join(self.targets)})" if self.targets else ""
        repeat = f" round {self.round}" if self.rounds > 1 else ""
        return f"Level {self.level}{who}{repeat} acknowledgement timeout"


def page_key(workflow_id: str, level: int, round_: int = 1) -> str:
    """`<wf>` for the first page, `<wf>~L<n>` for later levels, `<wf>~R<r>-L<n>` on repeats."""
    if round_ == 1 and level == 1:
        return workflow_id
    if round_ == 1:
        return f"{workflow_id}{SEPARATOR}L{level}"
    return f"{workflow_id}{SEPARATOR}R{round_}-L{level}"


def no_responder_key(workflow_id: str) -> str:
    return f"{workflow_id}{SEPARATOR}{NO_RESPONDER_SUFFIX}"


def workflow_id_from_page_key(dedup_key: str) -> str:
    """The incident a page belongs to, for acknowledgements that come back from the pager."""
    return dedup_key.split(SEPARATOR, 1)[0]


def plan(policy: ClientPolicy, severity: Severity | str) -> list[Step]:
    """Every page the chain may send, in order, repeats included.

    A severity without a chain gets one page on the pager's default routing and no timeout:
    nobody configured whom to escalate to, so inventing a next level would page strangers.
    """
    levels = policy.escalation_for(Severity(severity))
    if not levels:
        return [Step(round=1, rounds=1, level=1, levels=1, targets=(), ack_timeout=None)]
    rounds = 1 + policy.escalation_repeats
    return [
        Step(
            round=r,
            rounds=rounds,
            level=index,
            levels=len(levels),
            targets=level.targets,
            ack_timeout=level.ack_timeout,
        )
        for r in range(1, rounds + 1)
        for index, level in enumerate(levels, start=1)
    ]


def format_duration(value: timedelta) -> str:
    """'5m', '1h30m', '45s': short enough for a Jira comment or a timer name."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
