"""Production configuration that is more than one variable: a config file, secrets mounted as
files, and the Temporal TLS/API-key settings, checked together at start-up.

A process that starts with half a TLS set-up (a client certificate without its key, a path that
is not mounted) would otherwise fail later, deep inside a gRPC handshake, with a message that
names no setting. Every check here names the variable an operator has to fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

if TYPE_CHECKING:
    from incident_desk.settings import Settings

CONFIG_ENV = "INCIDENT_DESK_CONFIG"

# secret field -> (its *_FILE field, the variables an operator sets)
SECRET_FILES: dict[str, tuple[str, str, str]] = {
    "jira_token": ("jira_token_file", "JIRA_TOKEN", "JIRA_TOKEN_FILE"),
    "pagerduty_routing_key": (
        "pagerduty_routing_key_file",
        "PAGERDUTY_ROUTING_KEY",
        "PAGERDUTY_ROUTING_KEY_FILE",
    ),
    "temporal_api_key": ("temporal_api_key_file", "TEMPORAL_API_KEY", "TEMPORAL_API_KEY_FILE"),
    "jira_webhook_secret": (
        "jira_webhook_secret_file",
        "JIRA_WEBHOOK_SECRET",
        "JIRA_WEBHOOK_SECRET_FILE",
    ),
    "pagerduty_webhook_secret": (
        "pagerduty_webhook_secret_file",
        "PAGERDUTY_WEBHOOK_SECRET",
        "PAGERDUTY_WEBHOOK_SECRET_FILE",
    ),
    "opsgenie_api_key": ("opsgenie_api_key_file", "OPSGENIE_API_KEY", "OPSGENIE_API_KEY_FILE"),
    "opsgenie_webhook_token": (
        "opsgenie_webhook_token_file",
        "OPSGENIE_WEBHOOK_TOKEN",
        "OPSGENIE_WEBHOOK_TOKEN_FILE",
    ),
    "webhook_pager_secret": (
        "webhook_pager_secret_file",
        "WEBHOOK_PAGER_SECRET",
        "WEBHOOK_PAGER_SECRET_FILE",
    ),
}

# TLS file settings, named as the `temporal` CLI names them so one environment serves both.
TLS_FILES: dict[str, str] = {
    "temporal_tls_ca_path": "TEMPORAL_TLS_CA_PATH",
    "temporal_tls_cert_path": "TEMPORAL_TLS_CERT_PATH",
    "temporal_tls_key_path": "TEMPORAL_TLS_KEY_PATH",
}


class ConfigError(ValueError):
    """The configuration cannot work; the message lists every problem, each naming its setting."""


def config_file_sources(settings_cls: type[BaseSettings]) -> list[PydanticBaseSettingsSource]:
    """The file named by INCIDENT_DESK_CONFIG, if any: keys are the environment variable names
    (or their lower-case forms), so a file and an environment can be moved into each other."""
    value = os.environ.get(CONFIG_ENV, "").strip()
    if not value:
        return []
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"{CONFIG_ENV}: {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return [TomlConfigSettingsSource(settings_cls, toml_file=path)]
    if suffix in (".yaml", ".yml"):
        return [YamlConfigSettingsSource(settings_cls, yaml_file=path)]
    raise ConfigError(f"{CONFIG_ENV}: {path} must end in .toml, .yaml or .yml")


def _read_secret(path: Path, variable: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror or exc})") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


def resolve_secret_files(settings: Settings) -> list[str]:
    """Move each *_FILE secret into its plain setting, so the rest of the code reads one place.

    Both set to different values is refused rather than silently preferring one: an operator who
    rotated the mounted file but left an old variable behind would otherwise run on the old key.
    Both set to the same value is accepted, which is what child processes of `incident-desk up`
    see (the parent passes the resolved secret on beside the inherited *_FILE variable). The
    *_FILE setting is cleared once read, so children get the value and never re-read the file.
    """
    problems: list[str] = []
    for secret, (file_field, variable, file_variable) in SECRET_FILES.items():
        path: Path | None = getattr(settings, file_field)
        if path is None:
            continue
        try:
            value = _read_secret(path, file_variable)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        current: SecretStr | None = getattr(settings, secret)
        if (
            secret in settings.model_fields_set
            and current is not None
            and current.get_secret_value() != value
        ):
            problems.append(
                f"{variable} and {file_variable} are both set, to different values: "
                "set only one of them"
            )
            continue
        setattr(settings, secret, SecretStr(value))
        setattr(settings, file_field, None)
    return problems


def _looks_like_pem(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return b"-----BEGIN" in file.read(1_000_000)
    except OSError:
        return False


def temporal_connection_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    for field, variable in TLS_FILES.items():
        path: Path | None = getattr(settings, field)
        if path is None:
            continue
        if not path.is_file():
            problems.append(f"{variable}: {path} does not exist or is not a file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{variable}: {path} is not readable by this process")
        elif not _looks_like_pem(path):
            problems.append(f"{variable}: {path} is not PEM (no '-----BEGIN' line)")
    cert, key = settings.temporal_tls_cert_path, settings.temporal_tls_key_path
    if cert is not None and key is None:
        problems.append(
            "TEMPORAL_TLS_CERT_PATH is set but TEMPORAL_TLS_KEY_PATH is not: "
            "mTLS needs the client certificate's private key too"
        )
    if key is not None and cert is None:
        problems.append(
            "TEMPORAL_TLS_KEY_PATH is set but TEMPORAL_TLS_CERT_PATH is not: "
            "mTLS needs the client certificate too"
        )
    tls_files = [v for f, v in TLS_FILES.items() if getattr(settings, f) is not None]
    if settings.temporal_tls_server_name:
        tls_files.append("TEMPORAL_TLS_SERVER_NAME")
    if settings.temporal_tls is False:
        if settings.temporal_api_key is not None:
            problems.append(
                "TEMPORAL_API_KEY is set but TEMPORAL_TLS=false: an API key is only sent over "
                "TLS (Temporal Cloud requires it); remove TEMPORAL_TLS or set it to true"
            )
        if tls_files:
            problems.append(
                f"TEMPORAL_TLS=false contradicts {', '.join(tls_files)}: "
                "remove those or TEMPORAL_TLS"
            )
    uses_tls = settings.temporal_tls or tls_files or settings.temporal_api_key is not None
    if uses_tls and settings.temporal_address is None:
        problems.append(
            "TLS or an API key is configured for Temporal but TEMPORAL_ADDRESS is not set: "
            "the embedded dev server is plaintext; set TEMPORAL_ADDRESS to your cluster "
            "(e.g. <namespace>.<account>.tmprl.cloud:7233)"
        )
    return problems


def check(settings: Settings) -> None:
    """Run by Settings' own validator, so every process fails at start-up the same way."""
    from incident_desk.jira_sites import site_problems
    from incident_desk.oidc_settings import oidc_problems

    problems = resolve_secret_files(settings) + temporal_connection_problems(settings)
    problems += site_problems(settings) + oidc_problems(settings)
    if problems:
        raise ConfigError("; ".join(problems))


def describe_errors(exc: ValidationError | ConfigError) -> str:
    """One line per problem, each starting with the setting it is about."""
    if isinstance(exc, ConfigError):
        return str(exc).replace("; ", "\n")
    lines: list[str] = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.extend((f"{loc}: {m}" if loc else m) for m in message.split("; "))
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings for an entry point; raises ConfigError whose message an operator can act on."""
    from incident_desk.settings import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
