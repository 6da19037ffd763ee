"""Which pager a chain target is paged on: the `pagers:` section of a client policy.

Escalation levels name people and teams (`soc-oncall`, `client-cert`), not tools, so a client can
move a team from PagerDuty to Opsgenie, or add a chat room, without touching its chain. Targets
the section does not list go to `default`, which is PagerDuty unless the policy says otherwise,
so every policy written before this section existed pages exactly as it did.

    pagers:
      default: pagerduty
      targets:
        soc-oncall: {kind: opsgenie, destination: BPO SOC}   # Opsgenie team to route to
        client-cert: {kind: webhook, destination: https://chat.example/hooks/cert}
        bpo-ciso: pagerduty

No secret belongs here: API keys and signing secrets are deployment settings (README).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PagerKind(StrEnum):
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    WEBHOOK = "webhook"


class PagerRoute(BaseModel):
    """A pager and, where the pager has more than one place to page, which one.

    `destination` is the Opsgenie team the alert is routed to (none: the API key's own
    integration routing), or the URL of a signed webhook (none: WEBHOOK_PAGER_URL). PagerDuty
    pages the service of the configured routing key and takes no destination.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PagerKind
    destination: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("destination")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None


def _route(value: Any) -> Any:
    """`soc-oncall: opsgenie` is short for `soc-oncall: {kind: opsgenie}`."""
    return {"kind": value} if isinstance(value, str) else value


class PagerRouting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: PagerRoute = Field(
        default_factory=lambda: PagerRoute(kind=PagerKind.PAGERDUTY),
        description="Where targets not listed below (and pages without targets) go",
    )
    targets: dict[str, PagerRoute] = Field(default_factory=dict)

    @field_validator("default", mode="before")
    @classmethod
    def _short_default(cls, value: Any) -> Any:
        return _route(value)

    @field_validator("targets", mode="before")
    @classmethod
    def _short_targets(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _route(route) for name, route in value.items()}
        return value

    @field_validator("targets")
    @classmethod
    def _webhook_destinations_are_urls(cls, value: dict[str, PagerRoute]) -> dict[str, PagerRoute]:
        # Caught when the policy loads, not at 3 a.m. when the level is paged.
        wrong = [
            name
            for name, route in value.items()
            if route.kind == PagerKind.WEBHOOK
            and route.destination is not None
            and not route.destination.startswith(("https://", "http://"))
        ]
        if wrong:
            raise ValueError(f"webhook destination must be an http(s) URL: {', '.join(wrong)}")
        return value

    def routes_for(self, targets: list[str] | tuple[str, ...]) -> list[PagerRoute]:
        """Each distinct route once, in target order: two targets on one team page it once."""
        routes: list[PagerRoute] = []
        for target in targets or [""]:
            route = self.targets.get(target, self.default) if target else self.default
            if route not in routes:
                routes.append(route)
        return routes

    def all_routes(self) -> list[PagerRoute]:
        """Every route this client may have paged, for acknowledging and closing its pages."""
        routes = [self.default]
        for route in self.targets.values():
            if route not in routes:
                routes.append(route)
        return routes
