"""What the provider kinds that speak HTTP share: a client sized from the provider's
section, and the request id that lets both sides' logs be joined."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.schema import ProviderSection
from gateway.transport import HttpTransport


def transport_for(section: ProviderSection) -> HttpTransport:
    return HttpTransport(
        timeout_s=section.timeout_s,
        connect_timeout_s=section.connect_timeout_s,
        max_connections=section.max_connections,
    )


def with_request_id(headers: dict[str, str], request_id: str) -> Mapping[str, str]:
    return {**headers, "X-Request-Id": request_id} if request_id else headers
