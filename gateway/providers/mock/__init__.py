"""The built-in ``mock`` provider: deterministic answers with no network and no key,
with configurable latency and injected failures."""

from gateway.providers.mock.provider import MockProvider

__all__ = ["MockProvider"]
