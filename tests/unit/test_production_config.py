"""Production configuration: a mistake is reported at start-up, naming the setting to fix.

TLS material is fake PEM text: TLSConfig only carries bytes, and whether a certificate is valid
is the server's business at handshake time, which needs no server here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.service import TLSConfig

from incident_desk.config import ConfigError, load_settings
from incident_desk.connection import temporal_notice, tls_config_for
from incident_desk.settings import Settings
from incident_desk.stack import settings_env

REPO = Path(__file__).resolve().parents[2]
CLUSTER = {"TEMPORAL_ADDRESS": "incidents.a1b2c.tmprl.cloud:7233"}


def pem(path: Path, kind: str = "CERTIFICATE", body: str = "MIIBfake") -> Path:
    path.write_text(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the developer's own shell must not decide a result."""
    for name in (
        "INCIDENT_DESK_CONFIG",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_TLS",
        "TEMPORAL_TLS_CA_PATH",
        "TEMPORAL_TLS_CERT_PATH",
        "TEMPORAL_TLS_KEY_PATH",
        "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_API_KEY",
        "TEMPORAL_API_KEY_FILE",
        "JIRA_TOKEN",
        "JIRA_TOKEN_FILE",
        "PAGERDUTY_ROUTING_KEY",
        "PAGERDUTY_ROUTING_KEY_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


# --- Temporal TLS and API key -----------------------------------------------------------------


def test_client_certificate_without_its_key_names_the_missing_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = problems(
        monkeypatch, **CLUSTER, TEMPORAL_TLS_CERT_PATH=str(pem(tmp_path / "client.pem"))
    )
    assert "TEMPORAL_TLS_KEY_PATH" in message
    assert "mTLS" in message


def test_key_without_certificate_names_the_missing_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pem(tmp_path / "client.key", "PRIVATE KEY")
    message = problems(monkeypatch, **CLUSTER, TEMPORAL_TLS_KEY_PATH=str(key))
    assert "TEMPORAL_TLS_CERT_PATH is not" in message


def test_tls_files_that_do_not_exist_or_are_not_pem_are_named_with_their_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82binary")
    message = problems(
        monkeypatch,
        **CLUSTER,
        TEMPORAL_TLS_CA_PATH=str(not_pem),
        TEMPORAL_TLS_CERT_PATH=str(tmp_path / "missing.pem"),
        TEMPORAL_TLS_KEY_PATH=str(pem(tmp_path / "k.pem", "PRIVATE KEY")),
    )
    lines = message.splitlines()
    assert any("TEMPORAL_TLS_CA_PATH" in line and "not PEM" in line for line in lines), message
    assert any(
        "TEMPORAL_TLS_CERT_PATH" in line and str(tmp_path / "missing.pem") in line for line in lines
    ), message


def test_api_key_with_tls_switched_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problems(monkeypatch, **CLUSTER, TEMPORAL_API_KEY="k", TEMPORAL_TLS="false")
    assert "TEMPORAL_API_KEY" in message and "TEMPORAL_TLS=false" in message


def test_tls_without_a_cluster_address_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = problems(monkeypatch, TEMPORAL_TLS_CA_PATH=str(pem(tmp_path / "ca.pem")))
    assert "TEMPORAL_ADDRESS" in message


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = problems(
        monkeypatch,
        TEMPORAL_TLS_CERT_PATH=str(pem(tmp_path / "c.pem")),
        JIRA_TOKEN_FILE=str(tmp_path / "nope"),
    )
    assert {"TEMPORAL_TLS_KEY_PATH", "TEMPORAL_ADDRESS", "JIRA_TOKEN_FILE"} <= {
        word.strip(":,") for word in message.split()
    }


def test_mtls_builds_a_tls_config_with_the_files_contents(tmp_path: Path) -> None:
    ca = pem(tmp_path / "ca.pem", body="CA")
    cert = pem(tmp_path / "client.pem", body="CLIENT")
    key = pem(tmp_path / "client.key", "PRIVATE KEY", body="KEY")
    settings = Settings(
        temporal_address="temporal.internal:7233",
        temporal_namespace="incidents",
        temporal_tls_ca_path=ca,
        temporal_tls_cert_path=cert,
        temporal_tls_key_path=key,
        temporal_tls_server_name="frontend.temporal.internal",
    )
    tls = tls_config_for(settings)
    assert tls == TLSConfig(
        server_root_ca_cert=ca.read_bytes(),
        client_cert=cert.read_bytes(),
        client_private_key=key.read_bytes(),
        domain="frontend.temporal.internal",
    )
    assert temporal_notice(settings) == (
        "Temporal: temporal.internal:7233, namespace incidents (mTLS)"
    )


def test_cloud_api_key_alone_means_tls_with_the_system_trust_store() -> None:
    settings = Settings(**{**CLUSTER, "TEMPORAL_API_KEY": "secret-key"})
    assert tls_config_for(settings) is True
    assert "API key" in temporal_notice(settings)
    assert "secret-key" not in temporal_notice(settings)


def test_embedded_and_plain_cluster_connections_stay_plaintext() -> None:
    assert tls_config_for(Settings()) is False
    assert tls_config_for(Settings(temporal_address="127.0.0.1:7233")) is False


# --- secrets from files -----------------------------------------------------------------------


def test_secret_files_are_read_and_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jira").write_text("jira-api-token\n")
    (tmp_path / "pd").write_text("R0UT1NG\n")
    (tmp_path / "api").write_text("cloud-key\n")
    monkeypatch.setenv("JIRA_TOKEN_FILE", str(tmp_path / "jira"))
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY_FILE", str(tmp_path / "pd"))
    monkeypatch.setenv("TEMPORAL_API_KEY_FILE", str(tmp_path / "api"))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "cloud:7233")
    settings = load_settings()
    assert settings.jira_token.get_secret_value() == "jira-api-token"
    assert settings.pagerduty_routing_key.get_secret_value() == "R0UT1NG"
    assert settings.temporal_api_key == SecretStr("cloud-key")
    assert settings.temporal_tls_enabled


def test_plain_and_file_secret_with_different_values_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jira").write_text("new-token\n")
    message = problems(monkeypatch, JIRA_TOKEN="old-token", JIRA_TOKEN_FILE=str(tmp_path / "jira"))
    assert "JIRA_TOKEN and JIRA_TOKEN_FILE are both set" in message
    assert "new-token" not in message and "old-token" not in message


def test_missing_or_empty_secret_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").write_text("\n")
    message = problems(
        monkeypatch,
        JIRA_TOKEN_FILE=str(tmp_path / "absent"),
        PAGERDUTY_ROUTING_KEY_FILE=str(tmp_path / "empty"),
    )
    assert f"JIRA_TOKEN_FILE: cannot read {tmp_path / 'absent'}" in message
    assert f"PAGERDUTY_ROUTING_KEY_FILE: {tmp_path / 'empty'} is empty" in message


def test_children_of_the_stack_accept_the_resolved_secret_beside_the_inherited_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`incident-desk up` passes JIRA_TOKEN on while the child still inherits JIRA_TOKEN_FILE."""
    (tmp_path / "jira").write_text("from-the-mount\n")
    monkeypatch.setenv("JIRA_TOKEN_FILE", str(tmp_path / "jira"))
    parent = load_settings()
    env = settings_env(parent)
    assert env["JIRA_TOKEN"] == "from-the-mount"
    assert "JIRA_TOKEN_FILE" not in env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().jira_token.get_secret_value() == "from-the-mount"


# --- the config file --------------------------------------------------------------------------


def test_toml_config_file_uses_the_variable_names_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "incident-desk.toml"
    config.write_text(
        'TEMPORAL_ADDRESS = "temporal.internal:7233"\n'
        'TEMPORAL_NAMESPACE = "incidents"\n'
        'jira_url = "https://acme.atlassian.net"\n'
        'JIRA_USER = "desk@acme.example"\n'
        'JIRA_TOKEN = "api-token"\n'
    )
    monkeypatch.setenv("INCIDENT_DESK_CONFIG", str(config))
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "incidents-staging")
    settings = load_settings()
    assert settings.temporal_target == "temporal.internal:7233"
    assert settings.temporal_namespace == "incidents-staging"
    assert settings.jira_base_url == "https://acme.atlassian.net"


def test_yaml_config_file_is_checked_like_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "incident-desk.yaml"
    config.write_text(f"TEMPORAL_TLS_CERT_PATH: {pem(tmp_path / 'c.pem')}\n")
    message = problems(monkeypatch, INCIDENT_DESK_CONFIG=str(config))
    assert "TEMPORAL_TLS_KEY_PATH" in message


def test_missing_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = problems(monkeypatch, INCIDENT_DESK_CONFIG=str(tmp_path / "nope.toml"))
    assert message.startswith("INCIDENT_DESK_CONFIG:")


def test_wrong_type_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problems(monkeypatch, INCIDENT_DESK_WORKER_HEALTH_PORT="eighty")
    assert "INCIDENT_DESK_WORKER_HEALTH_PORT" in message


def test_worker_refuses_to_start_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": "temporal.internal:7233",
        "TEMPORAL_TLS_CERT_PATH": str(pem(tmp_path / "c.pem")),
    }
    done = subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "configuration error" in done.stderr
    assert "TEMPORAL_TLS_KEY_PATH" in done.stderr
