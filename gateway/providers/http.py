"""What the provider kinds that speak HTTP share: a client sized from the provider's
section, and the per-request headers: the request id that lets both sides' logs be
joined, and the trace context when tracing is on."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.schema import ProviderSection
from gateway.providers.base import UpstreamRequest
from gateway.transport import HttpTransport


def transport_for(section: ProviderSection) -> HttpTransport:
    return HttpTransport(
        timeout_s=section.timeout_s,
        connect_timeout_s=section.connect_timeout_s,
        max_connections=section.max_connections,
    )


def upstream_headers(headers: dict[str, str], upstream: UpstreamRequest) -> Mapping[str, str]:
    request_id = upstream.request_id
    extra = upstream.headers
    if extra:
        headers = {**headers, **extra}
    return {**headers, "X-Request-Id": request_id} if request_id else headers
