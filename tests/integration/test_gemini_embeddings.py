"""Embeddings on the ``gemini`` kind: OpenAI's ``/v1/embeddings`` mapped to Gemini's
``batchEmbedContents`` against the fake Gemini, with the openai SDK as the client."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.test_gemini_provider import gemini_config
from tests.support.fake_gemini import FakeGemini, embed_answer
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)


@pytest.fixture(autouse=True)
def _gemini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_TEST_KEY", "gemini-test-key")


@pytest.fixture
def gw(
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> InProcessGateway:
    config: dict[str, Any] = gemini_config(fake_gemini, fake_upstream.base_url)
    config["models"]["gemini-embed"] = {
        "provider": "google",
        "model": "gemini-embedding-001",
        "type": "embeddings",
        "price": {"input": 0.15},
    }
    config["routes"]["embed"] = {"pool": ["gemini-embed"]}
    return inprocess_gateway(config)


def test_embeddings_map_to_batch_embed_contents(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    texts = ["first text", "a second, longer text"]
    floats = client.embeddings.create(
        model="embed", input=texts, dimensions=3, encoding_format="float"
    )
    expected = embed_answer(
        "gemini-embedding-001",
        {
            "requests": [
                {"content": {"parts": [{"text": t}]}, "outputDimensionality": 3} for t in texts
            ]
        },
    )
    assert [d.embedding for d in floats.data] == [e["values"] for e in expected["embeddings"]]
    assert [d.index for d in floats.data] == [0, 1]
    # Gemini reports no tokens for embeddings: estimated at four characters a token.
    assert floats.usage.prompt_tokens == 3 + 6
    (hit,) = fake_gemini.hits()
    assert hit.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert hit.headers["x-goog-api-key"] == "gemini-test-key"
    assert hit.body["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": texts[1]}]},
        "outputDimensionality": 3,
    }
    # The SDK's default: base64 float32 vectors, decoded by the SDK to the same values.
    decoded = client.embeddings.create(model="embed", input="first text", dimensions=3)
    assert decoded.data[0].embedding == pytest.approx(expected["embeddings"][0]["values"])
    record = gw.wait_for_records(2)[-1]
    assert record.operation == "embeddings" and record.cost_pico_usd == 3 * 150_000


def test_token_arrays_are_refused_before_any_call(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    response = httpx.post(
        gw.base_url + "/embeddings", json={"model": "embed", "input": [[1, 2, 3]]}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_input"
    assert fake_gemini.hits() == []
