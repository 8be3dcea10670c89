"""OpenTelemetry traces: a span per API request, per execution and per node execution.

Off by default. The standard variables turn it on, as every OpenTelemetry SDK reads them:
``OTEL_TRACES_EXPORTER=otlp`` or an endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); ``OTEL_SERVICE_NAME`` (default ``workbench-<role>``),
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_BSP_*`` and the rest are the
SDK's own. ``OTEL_SDK_DISABLED=true`` keeps it off. Spans are exported over OTLP/HTTP (protobuf) in
the background by a batch processor, never on a request's or a run's path.

Call sites ask :data:`ENABLED` first, so an untraced process pays one attribute read per span site.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
ENABLED = False
"""Whether this process exports traces (set by :func:`configure`)."""
_tracer: Any = None
_provider: Any = None


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for trace export."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return "otlp" in [e.strip() for e in exporter.split(",")]
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(role: str, env: Mapping[str, str] = os.environ) -> bool:
    """Start exporting traces when the environment asks for it (once per process); returns whether
    traces are exported."""
    global ENABLED, _tracer, _provider
    if _provider is not None or not wanted(env):
        return ENABLED
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or f"workbench-{role}"
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    _tracer = trace.get_tracer("workbench")
    ENABLED = True
    log.info("tracing: exporting spans over OTLP as %s", name)
    return True


def shutdown() -> None:
    """Export what is buffered and stop (a process's end)."""
    global ENABLED, _provider, _tracer
    if _provider is not None:
        try:
            _provider.force_flush(5000)
            _provider.shutdown()
        except Exception:
            log.warning("tracing: flushing spans at stop failed", exc_info=True)
    ENABLED = False
    _provider = _tracer = None


def force_flush(timeout_ms: int = 5000) -> None:
    """Export the finished spans now (tests, short-lived commands)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A span around the block (the current one's child), or nothing when tracing is off. An
    exception leaving the block marks the span as an error."""
    if not ENABLED or _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=dict(attributes or {})) as current:
        yield current


def set_attributes(current: Any, attributes: Mapping[str, Any]) -> None:
    """Add attributes to a span from :func:`span` (no-op for None)."""
    if current is not None:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)
