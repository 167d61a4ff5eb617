"""What the provider kinds that speak HTTP share: a client sized from the provider's
section, the request id that lets both sides' logs be joined, the trace context when
tracing is on, and a user's own key (BYOK) in place of the gateway's."""

from __future__ import annotations

import os
from collections.abc import Mapping

from gateway.config.schema import GatewayConfig, ProviderSection
from gateway.providers.base import UpstreamRequest
from gateway.transport import HttpTransport
from gateway.transport.proxy import parse_proxy, proxy_from_env


def transport_for(section: ProviderSection) -> HttpTransport:
    return HttpTransport(
        timeout_s=section.timeout_s,
        connect_timeout_s=section.connect_timeout_s,
        max_connections=section.max_connections,
        proxy=parse_proxy(section.proxy) if section.proxy else None,
    )


def env_key(section: ProviderSection) -> str | None:
    """The gateway's key for this provider, from the variable ``api_key_env`` names."""
    if not section.api_key_env:
        return None
    # A key file mounted as an env var often ends in a newline.
    key = os.environ.get(section.api_key_env, "").strip()
    return key or None


def with_user_key(
    headers: Mapping[str, str], upstream: UpstreamRequest, key_header: str, key_prefix: str = ""
) -> Mapping[str, str]:
    """``headers`` with the request id and, when the request brought one, the user's
    key replacing the gateway's."""
    if upstream.api_key is not None:
        lowered = key_header.lower()
        headers = {k: v for k, v in headers.items() if k.lower() != lowered}
        headers[key_header] = key_prefix + upstream.api_key
    request_id = upstream.request_id
    return {**headers, "X-Request-Id": request_id} if request_id else headers


def request_headers(
    headers: dict[str, str], upstream: UpstreamRequest, key_header: str, key_prefix: str = ""
) -> Mapping[str, str]:
    """The headers of one upstream request: the provider's, those the request carries
    (the trace context), the request id and, when the request brought one, the user's
    key replacing the gateway's."""
    extra = upstream.headers
    return with_user_key(
        {**headers, **extra} if extra else headers, upstream, key_header, key_prefix
    )


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
