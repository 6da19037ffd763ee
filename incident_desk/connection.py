"""Settings turned into a Temporal client: the codec and tracing every process must share.

The worker, the intake server and any tool that reads incident history connect through here, so
a key configured once in the environment is used by all of them; a process that connected
without it would write plaintext history or fail to read encrypted history.
"""

from __future__ import annotations

import socket

from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from incident_desk.settings import Settings
from integrations.codec import AesGcmCodec, load_keyring
from integrations.telemetry import temporal_interceptors
from integrations.temporal import connect


def codec_for(settings: Settings) -> AesGcmCodec | None:
    """None when no key is configured: the stack then runs unencrypted, and says so."""
    spec = settings.codec_keys.get_secret_value() if settings.codec_keys else None
    keys = load_keyring(spec, settings.codec_keys_file)
    return AesGcmCodec(keys) if keys else None


def encryption_notice(settings: Settings) -> str:
    """One line for start-up output; names key ids only, never key material."""
    codec = codec_for(settings)
    if codec is None:
        return (
            "Payload encryption: OFF - history is stored in plaintext "
            "(set INCIDENT_DESK_CODEC_KEYS to encrypt)"
        )
    return (
        f"Payload encryption: ON (AES-256-GCM, encrypting with key '{codec.encrypting_key_id}', "
        f"{len(codec.key_ids)} key(s) can decrypt)"
    )


def tls_config_for(settings: Settings) -> TLSConfig | bool:
    """The files are read here, at connect time, so a certificate renewed on disk (cert-manager,
    a re-mounted secret) is picked up by the next process start without a config change.

    False is plaintext (the embedded dev server); True is TLS with the system's trust store, as
    Temporal Cloud with an API key needs; a TLSConfig carries a private CA and/or a client
    certificate for mTLS.
    """
    if not settings.temporal_tls_enabled:
        return False
    ca, cert, key = (
        settings.temporal_tls_ca_path,
        settings.temporal_tls_cert_path,
        settings.temporal_tls_key_path,
    )
    if not (ca or cert or key or settings.temporal_tls_server_name):
        return True
    return TLSConfig(
        server_root_ca_cert=ca.read_bytes() if ca else None,
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
        domain=settings.temporal_tls_server_name,
    )


def temporal_notice(settings: Settings) -> str:
    """One line for start-up logs: where we connect and how, never the key or certificates."""
    if settings.embedded_temporal:
        return f"Temporal: embedded dev server at {settings.temporal_target} (plaintext)"
    how = []
    if settings.temporal_tls_enabled:
        how.append("mTLS" if settings.temporal_tls_cert_path else "TLS")
    else:
        how.append("plaintext")
    if settings.temporal_api_key is not None:
        how.append("API key")
    return (
        f"Temporal: {settings.temporal_target}, namespace {settings.temporal_namespace} "
        f"({', '.join(how)})"
    )


async def connect_configured(
    settings: Settings,
    *,
    tracer_provider: TracerProvider | None = None,
    runtime: Runtime | None = None,
) -> Client:
    return await connect(
        settings.temporal_target,
        settings.temporal_namespace,
        codec=codec_for(settings),
        interceptors=temporal_interceptors(tracer_provider),
        runtime=runtime,
        tls=tls_config_for(settings),
        api_key=(
            settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        ),
    )


def ui_codec_args(settings: Settings) -> list[str]:
    """Dev-server flags pointing its Web UI at the intake server's codec routes, if encrypting."""
    if codec_for(settings) is None:
        return []
    return ["--ui-codec-endpoint", f"{settings.intake_base_url}/codec"]


PREFERRED_METRICS_PORT = 9464  # the port OpenTelemetry's Prometheus exporters conventionally use


def with_metrics_address(settings: Settings) -> Settings:
    """For `make run`: the configured metrics address, else 9464 if free, else any free port."""
    if settings.metrics_address:
        return settings
    with socket.socket() as probe:
        try:
            probe.bind((settings.host, PREFERRED_METRICS_PORT))
        except OSError:
            probe.bind((settings.host, 0))
        port = probe.getsockname()[1]
    return settings.model_copy(update={"metrics_address": f"{settings.host}:{port}"})
