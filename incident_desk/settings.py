"""Configuration from the environment.

Every real endpoint is optional: when it is not configured, `incident-desk up` starts the local
stand-in and points the rest of the stack at it. The names are the documented environment
variables (README, "Configuration"); tests build a Settings with their own ports and state dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.names import TASK_QUEUE


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


def _names(value: str) -> frozenset[str]:
    """A comma-separated list of Jira names, compared case-insensitively as Jira does."""
    return frozenset(n.strip().casefold() for n in value.split(",") if n.strip())


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
    # Jira webhooks into the intake server (docs/jira.md).
    jira_webhook_mode: Literal["cloud", "datacenter"] = Field(
        "cloud", validation_alias=_env("JIRA_WEBHOOK_MODE")
    )
    jira_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("JIRA_WEBHOOK_SECRET")
    )
    jira_webhook_token: SecretStr | None = Field(None, validation_alias=_env("JIRA_WEBHOOK_TOKEN"))
    jira_webhook_max_bytes: int = Field(
        1_048_576, ge=1024, validation_alias=_env("JIRA_WEBHOOK_MAX_BYTES")
    )
    jira_default_client: str = Field("demo", validation_alias=_env("JIRA_DEFAULT_CLIENT"))
    jira_client_label_prefix: str = Field(
        "client-", min_length=1, validation_alias=_env("JIRA_CLIENT_LABEL_PREFIX")
    )
    jira_ack_statuses: str = Field("In Progress", validation_alias=_env("JIRA_ACK_STATUSES"))
    jira_resolve_statuses: str = Field("Done", validation_alias=_env("JIRA_RESOLVE_STATUSES"))

    pagerduty_events_url: str | None = Field(None, validation_alias=_env("PAGERDUTY_EVENTS_URL"))
    pagerduty_routing_key: SecretStr = Field(
        SecretStr("sandbox-routing-key"), validation_alias=_env("PAGERDUTY_ROUTING_KEY")
    )
    pager_sandbox_port: int = Field(8090, validation_alias=_env("PAGER_SANDBOX_PORT"))
    pagerduty_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("PAGERDUTY_WEBHOOK_SECRET"),
        description="Signing secret of the v3 webhook subscription; unset disables the route",
    )

    # Observability and encryption (README, "Configuration"; docs/operations.md).
    codec_keys: SecretStr | None = Field(None, validation_alias=_env("INCIDENT_DESK_CODEC_KEYS"))
    codec_keys_file: Path | None = Field(
        None, validation_alias=_env("INCIDENT_DESK_CODEC_KEYS_FILE")
    )
    codec_token: SecretStr | None = Field(None, validation_alias=_env("INCIDENT_DESK_CODEC_TOKEN"))
    codec_cors_origins: str | None = Field(
        None, validation_alias=_env("INCIDENT_DESK_CODEC_CORS_ORIGINS")
    )
    otlp_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    metrics_address: str | None = Field(
        None, validation_alias=_env("INCIDENT_DESK_METRICS_ADDRESS")
    )

    # API authentication (docs/security.md): token hashes, and the audit trail of API calls.
    token_store: Path | None = Field(None, validation_alias=_env("INCIDENT_DESK_TOKEN_STORE"))
    audit_log: Path | None = Field(None, validation_alias=_env("INCIDENT_DESK_AUDIT_LOG"))

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
    def jira_ack_status_names(self) -> frozenset[str]:
        return _names(self.jira_ack_statuses)

    @property
    def jira_resolve_status_names(self) -> frozenset[str]:
        return _names(self.jira_resolve_statuses)

    @property
    def token_store_path(self) -> Path:
        return self.token_store or self.state_dir / "tokens.json"

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log or self.state_dir / "audit.jsonl"

    @property
    def intake_base_url(self) -> str:
        return self.intake_url or f"http://{self.host}:{self.intake_port}"
