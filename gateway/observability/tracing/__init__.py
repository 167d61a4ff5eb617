"""OpenTelemetry traces after the GenAI semantic conventions (the optional ``otel`` extra).

``settings`` decides from the config and the standard ``OTEL_*`` variables whether
tracing is on, without importing OpenTelemetry; everything else here is imported only
when it is, so a gateway without tracing loads and runs none of it.
"""
