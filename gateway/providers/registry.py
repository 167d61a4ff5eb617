"""The provider registry: one line per kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.config.schema import ProviderSection
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.azure import AzureOpenAIProvider
from gateway.providers.base import Provider
from gateway.providers.gemini import GeminiProvider
from gateway.providers.mock import MockProvider
from gateway.providers.openai import OpenAIProvider

ProviderFactory = Callable[[str, ProviderSection], Provider]

PROVIDER_KINDS: dict[str, ProviderFactory] = {
    "openai": OpenAIProvider,
    "azure": AzureOpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "mock": MockProvider,
}


def build_providers(sections: Mapping[str, ProviderSection]) -> dict[str, Provider]:
    providers = {name: PROVIDER_KINDS[s.kind](name, s) for name, s in sections.items()}
    for name, provider in providers.items():
        provider.byok = sections[name].byok
    return providers
