"""Traces and metrics: OpenTelemetry across processes, Prometheus for the worker's Temporal core.

Off unless configured, and then truly off: no tracer provider, no Temporal interceptor, no
instrumented HTTP clients, so an unobserved deployment pays nothing for the capability.
A trace follows one incident from the intake request through StartWorkflow, RunWorkflow,
StartActivity and RunActivity to the outbound Jira and pager HTTP calls, because the Temporal
interceptor carries the context in workflow and activity headers.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

__all__ = [
    "configure_tracing",
    "metrics_runtime",
    "otlp_exporter",
    "temporal_interceptors",
]


def otlp_exporter(endpoint: str) -> SpanExporter:
    """gRPC (port 4317) unless OTEL_EXPORTER_OTLP_PROTOCOL says http/protobuf (port 4318)."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        # The base endpoint variable means "append the signal path"; an explicit one does not.
        return HttpExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter(endpoint=endpoint)


def configure_tracing(
    service_name: str,
    endpoint: str | None,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider | None:
    """A provider exporting to `endpoint` (or to `exporter`), with outbound HTTP instrumented.

    Returns None, having done nothing, when neither is given. Jira calls go through `requests`
    (the `jira` library) and pager calls through `httpx`; both are instrumented so the pager
    call appears as the last span of an incident's trace.
    """
    if exporter is None:
        if not endpoint:
            return None
        exporter = otlp_exporter(endpoint)
    service = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(tracer_provider=provider)
    requests_instrumentor = RequestsInstrumentor()
    if not requests_instrumentor.is_instrumented_by_opentelemetry:
        requests_instrumentor.instrument(tracer_provider=provider)
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """Client interceptors; a worker built on the client inherits the worker half."""
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer("incident_desk"))]


def metrics_runtime(bind_address: str | None) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics (and the project's) at /metrics.

    Counters get the `_total` suffix Prometheus expects; durations are in seconds.
    """
    if not bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                durations_as_seconds=True,
            )
        )
    )
