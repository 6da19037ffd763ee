"""Configuration from the environment.

Every real endpoint is optional: when it is not configured, `incident-desk up` starts the local
stand-in and points the rest of the stack at it. The names are the documented environment
variables (README, "Configuration"); tests build a Settings with their own ports and state dir.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.names import TASK_QUEUE


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    state_dir: Path = Field(Path(".state"), validation_alias=_env("INCIDENT_DESK_STATE_DIR"))
    policies_dir: Path = Field(
        Path("policies"), validation_alias=_env("INCIDENT_DESK_POLICIES_DIR")
    )
    host: str = Field("127.0.0.1", validation_alias=_env("INCIDENT_DESK_HOST"))

    temporal_address: str | None = Field(None, validation_alias=_env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_env("TEMPORAL_NAMESPACE"))
    temporal_port: int = Field(7233, validation_alias=_env("TEMPORAL_PORT"))
    temporal_ui_port: int = Field(8233, validation_alias=_env("TEMPORAL_UI_PORT"))
    temporal_ui_url: str | None = Field(None, validation_alias=_env("TEMPORAL_UI_URL"))
    task_queue: str = Field(TASK_QUEUE, validation_alias=_env("INCIDENT_DESK_TASK_QUEUE"))
    worker_shutdown_grace: float = Field(
        20.0,
        ge=0,
        validation_alias=_env("INCIDENT_DESK_WORKER_SHUTDOWN_GRACE"),
        description="Seconds a stopping worker gives in-flight activities to finish",
    )

    intake_port: int = Field(8000, validation_alias=_env("INCIDENT_DESK_PORT"))
    intake_url: str | None = Field(None, validation_alias=_env("INCIDENT_DESK_URL"))

    jira_url: str | None = Field(None, validation_alias=_env("JIRA_URL"))
    jira_user: str = Field("sandbox", validation_alias=_env("JIRA_USER"))
    jira_token: SecretStr = Field(SecretStr("sandbox"), validation_alias=_env("JIRA_TOKEN"))
    jira_project: str = Field("SEC", validation_alias=_env("JIRA_PROJECT"))
    jira_issue_type: str = Field("Incident", validation_alias=_env("JIRA_ISSUE_TYPE"))
    jira_done_status: str = Field("Done", validation_alias=_env("JIRA_DONE_STATUS"))
    jira_sandbox_port: int = Field(8080, validation_alias=_env("JIRA_SANDBOX_PORT"))

    pagerduty_events_url: str | None = Field(None, validation_alias=_env("PAGERDUTY_EVENTS_URL"))
    pagerduty_routing_key: SecretStr = Field(
        SecretStr("sandbox-routing-key"), validation_alias=_env("PAGERDUTY_ROUTING_KEY")
    )
    pager_sandbox_port: int = Field(8090, validation_alias=_env("PAGER_SANDBOX_PORT"))

    # Effective URLs: the configured real endpoint, else the local stand-in.
    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    @property
    def temporal_ui(self) -> str:
        return self.temporal_ui_url or f"http://{self.host}:{self.temporal_ui_port}"

    @property
    def jira_sandboxed(self) -> bool:
        return self.jira_url is None

    @property
    def jira_base_url(self) -> str:
        return self.jira_url or f"http://{self.host}:{self.jira_sandbox_port}"

    @property
    def pager_sandboxed(self) -> bool:
        return self.pagerduty_events_url is None

    @property
    def pagerduty_enqueue_url(self) -> str:
        return (
            self.pagerduty_events_url or f"http://{self.host}:{self.pager_sandbox_port}/v2/enqueue"
        )

    @property
    def pager_sandbox_url(self) -> str:
        return f"http://{self.host}:{self.pager_sandbox_port}"

    @property
    def intake_base_url(self) -> str:
        return self.intake_url or f"http://{self.host}:{self.intake_port}"
