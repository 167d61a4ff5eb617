"""The README's provider presets: every snippet is a valid config, and the ones whose
wire format differs reach a local fake at the path the real API serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from gateway.config.loader import load_config_text
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_gemini import FakeGemini
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import (
    InProcessFactory,
    inprocess_gateway,  # noqa: F401  (fixture)
)

README = Path(__file__).resolve().parents[2] / "README.md"
KEYS = {
    "OPENAI_API_KEY": "sk-openai",
    "AZURE_OPENAI_API_KEY": "azure-key",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "GEMINI_API_KEY": "gemini-test-key",
    "VLLM_API_KEY": "vllm",
    "OPENROUTER_API_KEY": "or",
    "GROQ_API_KEY": "groq",
    "TOGETHER_API_KEY": "together",
    "DEEPSEEK_API_KEY": "deepseek",
    "MISTRAL_API_KEY": "mistral",
}
PRESETS = [
    "openai",
    "azure",
    "azure-v1",
    "anthropic",
    "gemini",
    "gemini-openai",
    "ollama",
    "vllm",
    "openrouter",
    "groq",
    "together",
    "deepseek",
    "mistral",
]


def readme_providers(section_name: str) -> dict[str, dict[str, Any]]:
    """The providers of the one ``yaml`` block of a README section that has them."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"<!-- section:{section_name} -->", 1)[1].split("<!-- /section:")[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    (block,) = [b for b in blocks if "providers:" in b]
    providers: dict[str, dict[str, Any]] = yaml.safe_load(block)["providers"]
    return providers


def presets() -> dict[str, dict[str, Any]]:
    return readme_providers("providers")


def config_for(providers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    models = {f"m-{name}": {"provider": name, "model": "some-model"} for name in providers}
    return {
        "server": {"api_keys_env": None},
        "providers": providers,
        "models": models,
        "routes": {f"via-{name}": {"pool": [f"m-{name}"]} for name in providers},
    }


def test_every_preset_is_a_valid_provider_section() -> None:
    found = presets()
    assert list(found) == PRESETS
    text = yaml.safe_dump(config_for(found))
    config = load_config_text(text, "README presets", KEYS)
    # The kind's default address, filled in by the schema.
    assert config.providers["gemini"].base_url == "https://generativelanguage.googleapis.com"
    assert config.providers["azure-v1"].headers == {"api-key": "azure-key"}


def test_the_byok_example_is_valid() -> None:
    example = readme_providers("byok")
    config = load_config_text(yaml.safe_dump(config_for(example)), "README byok", KEYS)
    modes = {name: section.byok for name, section in config.providers.items()}
    assert modes == {"openai": "allowed", "gemini": "required", "ollama": "off"}


def on_fake(preset: dict[str, Any], base: str) -> dict[str, Any]:
    """The preset with its scheme and host swapped for a fake's, its path kept."""
    url = preset.get("base_url")
    path = urlsplit(url).path if url else ""
    return {**preset, "base_url": base.rstrip("/") + path}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeGemini, FakeAnthropic]]:
    gemini, anthropic = FakeGemini().start(), FakeAnthropic().start()
    yield gemini, anthropic
    gemini.stop()
    anthropic.stop()


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("gemini", "/v1beta/models/some-model:generateContent"),
        ("anthropic", "/v1/messages"),
        ("gemini-openai", "/v1beta/openai/chat/completions"),
    ],
)
def test_presets_with_their_own_wire_format_reach_the_fakes(
    fakes: tuple[FakeGemini, FakeAnthropic],
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    path: str,
) -> None:
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    gemini, anthropic = fakes
    servers: dict[str, Any] = {
        "gemini": gemini,
        "anthropic": anthropic,
        "gemini-openai": fake_upstream,
    }
    server = servers[name]
    host = f"http://127.0.0.1:{server.port}"
    gw = inprocess_gateway(config_for({name: on_fake(presets()[name], host)}))

    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": f"via-{name}", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert [hit.path for hit in server.hits()][-1] == path
