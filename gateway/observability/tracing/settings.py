"""Whether to trace, and where to: the ``tracing:`` section under the ``OTEL_*`` variables.

The standard variables win over the file, as for every other setting (environment >
config file > default): ``OTEL_SDK_DISABLED=true`` turns tracing off,
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` turn it on
(unless ``tracing.enabled: false``) and pick the collector, ``OTEL_SERVICE_NAME`` names
the service, ``OTEL_TRACES_SAMPLER`` (and ``..._ARG``) the sampler, and
``OTEL_EXPORTER_OTLP_HEADERS`` the export headers; ``OTEL_BSP_SCHEDULE_DELAY`` (ms) and
``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` set the batching. Sampler, service name, endpoint and
headers are read where they are used (the SDK's sampler and resource, ``otlp_http``);
this module only decides what the configuration hands them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.schema import TracingSection

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACES_PATH = "/v1/traces"
# OpenTelemetry's BatchSpanProcessor defaults.
SCHEDULE_DELAY_MS = 5000
MAX_EXPORT_BATCH = 512


@dataclass(frozen=True, slots=True)
class TracingSettings:
    # None: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT decides (see otlp_http).
    endpoint: str | None
    headers: Mapping[str, str] | None  # None: OTEL_EXPORTER_OTLP_(TRACES_)HEADERS
    service_name: str | None  # None: OTEL_SERVICE_NAME, which the SDK reads
    sample_ratio: float | None  # None: OTEL_TRACES_SAMPLER, which the SDK reads
    timeout_s: float
    max_queue_size: int
    include_content: bool = False
    schedule_delay_s: float = SCHEDULE_DELAY_MS / 1000
    max_export_batch: int = MAX_EXPORT_BATCH


def _set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer variable; the default when unset or not one (as the SDK)."""
    try:
        value = int(env.get(name, "").strip())
    except ValueError:
        return default
    return value if value > 0 else default


def tracing_settings(
    section: TracingSection,
    env: Mapping[str, str],
    *,
    include_content: bool = False,
) -> TracingSettings | None:
    """The settings to trace with, or None when tracing is off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from_env = any(_set(env, name) for name in ENDPOINT_VARS)
    enabled = section.enabled if section.enabled is not None else from_env
    if not enabled:
        return None
    return TracingSettings(
        endpoint=None if from_env else section.endpoint.rstrip("/") + TRACES_PATH,
        # The exporter reads OTEL_EXPORTER_OTLP_HEADERS only when given none.
        headers=dict(section.headers) or None,
        service_name=None if _set(env, "OTEL_SERVICE_NAME") else section.service_name,
        sample_ratio=None if _set(env, "OTEL_TRACES_SAMPLER") else section.sample_ratio,
        timeout_s=section.timeout_s,
        max_queue_size=section.max_queue_size,
        include_content=include_content,
        schedule_delay_s=_positive(env, "OTEL_BSP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS) / 1000,
        max_export_batch=_positive(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", MAX_EXPORT_BATCH),
    )
