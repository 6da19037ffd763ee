"""What the intake server adds for operations: the codec server and request tracing.

Kept out of `intake.app` so the API routes read on their own; `create_app` calls `observe` once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from incident_desk.connection import codec_for
from intake.codec_server import mount_codec_server
from integrations.telemetry import configure_tracing

if TYPE_CHECKING:
    from intake.app import Intake


def observe(app: FastAPI, intake: Intake) -> None:
    """Mount the codec server when a key is set; trace requests when OTLP is configured.

    A bad key configuration fails here, at start-up, rather than on the first incident.
    """
    settings = intake.settings
    mount_codec_server(app, settings, codec_for(settings))
    provider = configure_tracing("incident-desk-intake", settings.otlp_endpoint)
    if provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
        intake.tracer_provider = provider
