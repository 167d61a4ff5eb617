"""``config/demo.yaml`` — what ``make run`` serves — answers the real ``openai`` SDK with
the built-in mock provider: no API key, no Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.support.fake_upstream import free_port
from tests.support.gateway_process import GatewayProcess

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
DEMO_TEXT = DEMO.read_text()
SETTINGS: dict[str, Any] = yaml.safe_load(DEMO_TEXT)
REPLY: str = SETTINGS["providers"]["mock"]["mock"]["reply"]
SLOW_REPLY: str = SETTINGS["providers"]["mock-slow"]["mock"]["reply"]
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # One gateway (the real `gateway serve` on the demo text) for the whole module:
    # starting it is the slow part, and no test here depends on another one.
    proc = GatewayProcess(DEMO_TEXT, tmp_path_factory.mktemp("demo"), name="demo")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def sdk(demo: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=demo.base_url, api_key="anything", max_retries=0)


def test_chat_non_streaming(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "mock-small-1"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers["x-gateway-route"] == "chat"
    assert raw.headers["x-gateway-provider"] == "mock"
    assert raw.headers["x-gateway-model"] == "mock-small"
    assert raw.headers["x-gateway-attempts"] == "1"
    assert float(raw.headers["x-gateway-cost-usd"]) > 0
    assert raw.headers["x-request-id"]


def test_chat_streaming(sdk: openai.OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_streaming_with_usage(sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="chat",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    (usage_chunk,) = [c for c in chunks if c.usage is not None]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.total_tokens > 0


def test_premium_profile_header_picks_the_large_model(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, extra_headers={"X-Gateway-Profile": "premium"}
    )
    assert raw.parse().model == "mock-large-1"
    assert raw.headers["x-gateway-model"] == "mock-large"


def test_slow_stream_demo(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(model="stream-demo", messages=MESSAGES, stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == SLOW_REPLY
    assert len([p for p in pieces if p]) > 1


def test_summarize_falls_back_from_the_flaky_mock(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="summarize", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == REPLY
    assert raw.headers["x-gateway-model"] == "mock-small"
    assert raw.headers["x-gateway-attempts"] == "2"
    # The flaky member is now parked (Retry-After 5s): the next request skips it.
    again = sdk.chat.completions.with_raw_response.create(model="summarize", messages=MESSAGES)
    assert again.headers["x-gateway-model"] == "mock-small"
    assert again.headers["x-gateway-attempts"] == "1"
    streamed = sdk.chat.completions.create(model="summarize", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == REPLY


def test_catalog_alias_and_direct_model(sdk: openai.OpenAI) -> None:
    pinned = sdk.chat.completions.with_raw_response.create(model="mock-large", messages=MESSAGES)
    assert pinned.parse().model == "mock-large-1"
    direct = sdk.chat.completions.with_raw_response.create(
        model="mock/any-upstream-name", messages=MESSAGES
    )
    assert direct.parse().model == "any-upstream-name"
    assert direct.headers["x-gateway-provider"] == "mock"


def test_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="gpt-5-turbo", messages=MESSAGES)
    assert raised.value.code == "model_not_found"


def test_models_list(sdk: openai.OpenAI) -> None:
    ids = {m.id for m in sdk.models.list()}
    assert {"chat", "summarize", "moderation", "stream-demo"} <= ids
    assert {"mock-small", "mock-large"} <= ids


def test_embeddings_route_answers_deterministic_vectors(sdk: openai.OpenAI) -> None:
    first = sdk.embeddings.create(model="embed", input=["alpha", "beta"])
    again = sdk.embeddings.create(model="embed", input="alpha", encoding_format="float")
    assert len(first.data) == 2 and len(first.data[0].embedding) == 8
    assert first.data[0].embedding == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert first.data[0].embedding != first.data[1].embedding
    assert len(sdk.embeddings.create(model="embed", input="x", dimensions=3).data[0].embedding) == 3


def test_responses_route_on_the_mock(sdk: openai.OpenAI) -> None:
    made = sdk.responses.create(model="assistant", input="hello")
    assert made.output_text == SETTINGS["providers"]["mock"]["mock"]["reply"]
    events = list(sdk.responses.create(model="assistant", input="hello", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == made.output_text and events[-1].type == "response.completed"
    follow = sdk.responses.create(model="assistant", input="more", previous_response_id=made.id)
    assert follow.id != made.id
    assert sdk.responses.retrieve(made.id).id == made.id


def test_serve_from_environment_settings_alone(tmp_path: Path) -> None:
    """``gateway serve`` with no flags: config, host, port and keys from GATEWAY_*."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        {
            "GATEWAY_CONFIG": str(DEMO),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_API_KEYS": "sk-env-key",
            "GATEWAY_PROFILE": "premium",
        }
    )
    log = (tmp_path / "env.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve"],
        stdout=log,
        stderr=log,
        env=env,
        cwd=tmp_path,  # not the repo: the config path must come from GATEWAY_CONFIG
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "env.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.05)
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="sk-env-key", max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == REPLY
        assert raw.headers["x-gateway-model"] == "mock-large"  # GATEWAY_PROFILE=premium
        wrong = openai.OpenAI(base_url=url + "/v1", api_key="sk-other", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="chat", messages=MESSAGES)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_the_anthropic_sdk_is_served_by_the_mock_through_the_messages_door(
    demo: GatewayProcess,
) -> None:
    client = anthropic.Anthropic(base_url=demo.url, api_key="anything", max_retries=0)
    answer = client.messages.create(model="chat", max_tokens=100, messages=MESSAGES)
    assert answer.content[0].type == "text" and answer.content[0].text == REPLY
    assert answer.model == "mock-small-1"
    with client.messages.stream(model="chat", max_tokens=100, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == REPLY
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
