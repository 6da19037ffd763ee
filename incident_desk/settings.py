"""Configuration from the environment.

Every real endpoint is optional: when it is not configured, `incident-desk up` starts the local
stand-in and points the rest of the stack at it. The names are the documented environment
variables (README, "Configuration"); tests build a Settings with their own ports and state dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from incident_desk import config as production_config
from incident_desk.jira_sites import JiraSiteSettings
from integrations.jira_fields import JiraFieldNames
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
    # A Temporal cluster or Temporal Cloud (docs/deploy.md); checked in incident_desk/config.py.
    temporal_tls: bool | None = Field(None, validation_alias=_env("TEMPORAL_TLS"))
    temporal_tls_ca_path: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_CA_PATH"))
    temporal_tls_cert_path: Path | None = Field(
        None, validation_alias=_env("TEMPORAL_TLS_CERT_PATH")
    )
    temporal_tls_key_path: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_KEY_PATH"))
    temporal_tls_server_name: str | None = Field(
        None, validation_alias=_env("TEMPORAL_TLS_SERVER_NAME")
    )
    temporal_api_key: SecretStr | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY"))
    temporal_api_key_file: Path | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY_FILE"))
    worker_health_port: int | None = Field(
        None, ge=0, le=65535, validation_alias=_env("INCIDENT_DESK_WORKER_HEALTH_PORT")
    )
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
    jira_token_file: Path | None = Field(None, validation_alias=_env("JIRA_TOKEN_FILE"))
    # Cloud: JIRA_USER (email) + JIRA_TOKEN (API token); datacenter: JIRA_TOKEN is a personal
    # access token sent as Bearer. More sites for more clients: JIRA_SITES (docs/multi-client.md).
    jira_auth: Literal["cloud", "datacenter"] = Field("cloud", validation_alias=_env("JIRA_AUTH"))
    jira_sites: dict[str, JiraSiteSettings] = Field(
        default_factory=dict, validation_alias=_env("JIRA_SITES")
    )
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
    jira_webhook_secret_file: Path | None = Field(
        None, validation_alias=_env("JIRA_WEBHOOK_SECRET_FILE")
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
    jira_resolve_statuses: str = Field("Resolved", validation_alias=_env("JIRA_RESOLVE_STATUSES"))
    # The rest of the lifecycle (docs/jira.md, "Status mapping").
    jira_validate_statuses: str = Field(
        "Validated", validation_alias=_env("JIRA_VALIDATE_STATUSES")
    )
    jira_false_alarm_statuses: str = Field(
        "False Alarm", validation_alias=_env("JIRA_FALSE_ALARM_STATUSES")
    )
    jira_contain_statuses: str = Field("Contained", validation_alias=_env("JIRA_CONTAIN_STATUSES"))
    jira_close_statuses: str = Field("Done, Closed", validation_alias=_env("JIRA_CLOSE_STATUSES"))
    # Field edits, comments and duplicate reports from Jira (docs/jira.md).
    jira_fields: JiraFieldNames = Field(
        default_factory=JiraFieldNames, validation_alias=_env("JIRA_FIELDS")
    )
    jira_update_marker: str = Field(
        "[update]", min_length=1, validation_alias=_env("JIRA_UPDATE_MARKER")
    )
    duplicate_window_hours: float = Field(
        72.0, ge=0, validation_alias=_env("DUPLICATE_WINDOW_HOURS")
    )

    pagerduty_events_url: str | None = Field(None, validation_alias=_env("PAGERDUTY_EVENTS_URL"))
    pagerduty_routing_key: SecretStr = Field(
        SecretStr("sandbox-routing-key"), validation_alias=_env("PAGERDUTY_ROUTING_KEY")
    )
    pagerduty_routing_key_file: Path | None = Field(
        None, validation_alias=_env("PAGERDUTY_ROUTING_KEY_FILE")
    )
    pager_sandbox_port: int = Field(8090, validation_alias=_env("PAGER_SANDBOX_PORT"))
    pagerduty_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("PAGERDUTY_WEBHOOK_SECRET"),
        description="Signing secret of the v3 webhook subscription; unset disables the route",
    )
    pagerduty_webhook_secret_file: Path | None = Field(
        None, validation_alias=_env("PAGERDUTY_WEBHOOK_SECRET_FILE")
    )

    # Opsgenie (docs/paging.md; support ends 2027-04-05) and the generic signed webhook pager.
    opsgenie_api_url: str | None = Field(
        None,
        validation_alias=_env("OPSGENIE_API_URL"),
        description="`us`, `eu` or a base URL; unset: the local Opsgenie sandbox",
    )
    opsgenie_api_key: SecretStr = Field(
        SecretStr("sandbox-genie-key"), validation_alias=_env("OPSGENIE_API_KEY")
    )
    opsgenie_api_key_file: Path | None = Field(None, validation_alias=_env("OPSGENIE_API_KEY_FILE"))
    opsgenie_sandbox_port: int = Field(8091, validation_alias=_env("OPSGENIE_SANDBOX_PORT"))
    opsgenie_webhook_token: SecretStr | None = Field(
        None,
        validation_alias=_env("OPSGENIE_WEBHOOK_TOKEN"),
        description="Shared secret Opsgenie's webhook integration sends; unset disables the route",
    )
    opsgenie_webhook_token_file: Path | None = Field(
        None, validation_alias=_env("OPSGENIE_WEBHOOK_TOKEN_FILE")
    )
    webhook_pager_url: str | None = Field(None, validation_alias=_env("WEBHOOK_PAGER_URL"))
    webhook_pager_secret: SecretStr | None = Field(
        None, validation_alias=_env("WEBHOOK_PAGER_SECRET")
    )
    webhook_pager_secret_file: Path | None = Field(
        None, validation_alias=_env("WEBHOOK_PAGER_SECRET_FILE")
    )

    # Client notices by email, and their signed acknowledgement links.
    smtp_host: str | None = Field(None, validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(587, validation_alias=_env("SMTP_PORT"))
    smtp_user: str | None = Field(None, validation_alias=_env("SMTP_USER"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_from: str = Field("incident-desk@localhost", validation_alias=_env("SMTP_FROM"))
    smtp_starttls: bool = Field(True, validation_alias=_env("SMTP_STARTTLS"))
    smtp_sandbox_port: int = Field(8025, validation_alias=_env("SMTP_SANDBOX_PORT"))
    smtp_sandbox_http_port: int = Field(8026, validation_alias=_env("SMTP_SANDBOX_HTTP_PORT"))
    ack_secret: SecretStr | None = Field(None, validation_alias=_env("INCIDENT_DESK_ACK_SECRET"))

    # Integration outages (workflows/integration_health.py): whom to tell, and what is an outage.
    ops_target: str = Field(
        "bpo-operations-manager",
        min_length=1,
        validation_alias=_env("INCIDENT_DESK_OPS_TARGET"),
        description="Pager target told once when Jira or SMTP stays down (not for the pager)",
    )
    ops_email: str | None = Field(
        None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        validation_alias=_env("INCIDENT_DESK_OPS_EMAIL"),
        description="Operations address told once per outage (not for SMTP outages)",
    )
    degraded_after_failures: int = Field(
        3, ge=1, validation_alias=_env("INCIDENT_DESK_DEGRADED_AFTER_FAILURES")
    )
    degraded_after_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("INCIDENT_DESK_DEGRADED_AFTER_SECONDS"),
        description="An integration failing this long with no success is degraded",
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
    # Optional OIDC sign-in from the BPO's identity provider (intake/oidc.py).
    oidc_issuer: str | None = Field(None, validation_alias=_env("OIDC_ISSUER"))
    oidc_audience: str | None = Field(None, validation_alias=_env("OIDC_AUDIENCE"))
    oidc_jwks_url: str | None = Field(None, validation_alias=_env("OIDC_JWKS_URL"))
    oidc_role_claim: str = Field("incident_desk_role", validation_alias=_env("OIDC_ROLE_CLAIM"))
    oidc_clients_claim: str = Field(
        "incident_desk_clients", validation_alias=_env("OIDC_CLIENTS_CLAIM")
    )
    oidc_name_claim: str = Field("sub", validation_alias=_env("OIDC_NAME_CLAIM"))
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict, validation_alias=_env("OIDC_ROLE_MAP")
    )
    oidc_algorithms: str = Field("RS256,ES256", validation_alias=_env("OIDC_ALGORITHMS"))
    # Abuse limits (intake/rate_limits.py): requests per second and burst; 0 turns one off.
    rate_limit_token_rate: float = Field(
        50.0, ge=0, validation_alias=_env("INCIDENT_DESK_RATE_LIMIT_TOKEN_RATE")
    )
    rate_limit_token_burst: int = Field(
        500, ge=0, validation_alias=_env("INCIDENT_DESK_RATE_LIMIT_TOKEN_BURST")
    )
    rate_limit_ip_rate: float = Field(
        100.0, ge=0, validation_alias=_env("INCIDENT_DESK_RATE_LIMIT_IP_RATE")
    )
    rate_limit_ip_burst: int = Field(
        1000, ge=0, validation_alias=_env("INCIDENT_DESK_RATE_LIMIT_IP_BURST")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment beats INCIDENT_DESK_CONFIG's file, so one variable can override it."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            *production_config.config_file_sources(settings_cls),
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _production_checks(self) -> Settings:
        production_config.check(self)
        return self

    @property
    def temporal_tls_enabled(self) -> bool:
        """TLS unless told otherwise whenever anything TLS-like or an API key is configured."""
        if self.temporal_tls is not None:
            return self.temporal_tls
        return any(
            (
                self.temporal_tls_ca_path,
                self.temporal_tls_cert_path,
                self.temporal_tls_server_name,
                self.temporal_api_key,
            )
        )

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
    def opsgenie_sandboxed(self) -> bool:
        return self.opsgenie_api_url is None

    @property
    def opsgenie_sandbox_url(self) -> str:
        return f"http://{self.host}:{self.opsgenie_sandbox_port}"

    @property
    def opsgenie_base_url(self) -> str:
        return self.opsgenie_api_url or self.opsgenie_sandbox_url

    @property
    def smtp_sandboxed(self) -> bool:
        return self.smtp_host is None

    @property
    def smtp_sandbox_url(self) -> str:
        return f"http://{self.host}:{self.smtp_sandbox_http_port}"

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
