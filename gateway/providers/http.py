"""What the provider kinds that speak HTTP share: a client sized from the provider's
section, and the request id that lets both sides' logs be joined."""

from __future__ import annotations

import os
from collections.abc import Mapping

from gateway.config.schema import GatewayConfig, ProviderSection
from gateway.transport import HttpTransport
from gateway.transport.proxy import parse_proxy, proxy_from_env


def transport_for(section: ProviderSection) -> HttpTransport:
    return HttpTransport(
        timeout_s=section.timeout_s,
        connect_timeout_s=section.connect_timeout_s,
        max_connections=section.max_connections,
        proxy=parse_proxy(section.proxy) if section.proxy else None,
    )


def with_request_id(headers: dict[str, str], request_id: str) -> Mapping[str, str]:
    return {**headers, "X-Request-Id": request_id} if request_id else headers


def provider_sections(
    config: GatewayConfig, environ: Mapping[str, str] = os.environ
) -> dict[str, ProviderSection]:
    """The providers' sections, with ``server.trust_env_proxy`` applied: a provider
    without its own ``proxy`` takes the one ``HTTPS_PROXY``/``HTTP_PROXY`` name for
    its base URL, unless ``NO_PROXY`` exempts it."""
    if not config.server.trust_env_proxy:
        return dict(config.providers)
    sections = {}
    for name, section in config.providers.items():
        if section.proxy is None and section.base_url is not None:
            proxy = proxy_from_env(section.base_url, environ)
            if proxy is not None:
                section = section.model_copy(update={"proxy": proxy})
        sections[name] = section
    return sections
