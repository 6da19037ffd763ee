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
