"""Embeddings and Responses API rows, each against the chat path on the same mock.

One gateway, memory state, the bench's mock upstream: a 16-input embeddings batch
(16 base64 vectors of 256 floats back) vs non-streaming chat, and a Responses stream
(20 text deltas, usage in response.completed) vs the 20-chunk chat stream.

Method: each door is compared with its chat request on the same gateway in alternating
runs seconds apart (chat, embeddings; chat stream, Responses stream; three rounds), and
the ratio is the median of the rounds' ratios, which cancels the machine's drift (a row
divided by a chat row measured minutes earlier did not). Each run also records the
gateway's CPU time per request (process CPU seconds over the run / requests served):
the cost of the door's own work, whatever the machine's speed at the time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.harness import Service
from bench.rounds import CHAT_PATH, Load, alternate, median_run

if TYPE_CHECKING:
    from bench.run import Bench

CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
CHAT_STREAM = {**CHAT, "stream": True}
EMBED = {"model": "bench-embed", "input": [f"document number {i}" for i in range(16)]}
EMBED["encoding_format"] = "base64"
RESPONSES_STREAM = {"model": "bench", "input": "Say hello.", "stream": True}


@dataclass(frozen=True)
class Pair:
    """A door's request and the chat request it is compared with."""

    path: str
    body: dict[str, Any]
    chat_body: dict[str, Any]
    label: str  # for the target table and the rounds' rows


PAIRS = {
    "gateway_embeddings16_c64": Pair("/v1/embeddings", EMBED, CHAT, "embeddings16"),
    "gateway_responses_stream_c64": Pair(
        "/v1/responses", RESPONSES_STREAM, CHAT_STREAM, "responses_stream"
    ),
}
GOAL = 0.90


def endpoints_config(config: dict[str, Any]) -> dict[str, Any]:
    """The bench config plus an embeddings model and route on the same provider."""
    config = copy.deepcopy(config)
    config["models"]["bench-embed-model"] = {
        "provider": "up",
        "model": "bench-embed-upstream",
        "type": "embeddings",
        "price": {"input": 0.02},
    }
    config["routes"]["bench-embed"] = {"pool": ["bench-embed-model"]}
    return config


def load_endpoints(bench: Bench, gateway: Service) -> None:
    """The rows ``gateway_embeddings16_c64`` and ``gateway_responses_stream_c64`` (each
    the median of its rounds), and ``results["endpoints"]``: per row, the median of the
    rounds' throughput ratios to chat and the CPU per request of both."""
    summary: dict[str, Any] = {}
    for pair in PAIRS.values():
        bench.warm_up(gateway.port, pair.chat_body, 64, path=CHAT_PATH)
        bench.warm_up(gateway.port, pair.body, 64, path=pair.path)
    for row, pair in PAIRS.items():
        name = f"endpoints_{pair.label}"
        chat = Load(f"{name}_chat", pair.chat_body)
        found = alternate(bench, gateway, chat, Load(name, pair.body, pair.path))
        bench.results["runs"][row] = median_run(found.runs).as_dict()
        summary[row] = {
            "throughput_ratio": round(found.ratio, 3),
            "cpu_us_per_request": found.cpu_us,
            "chat_cpu_us_per_request": found.base_cpu_us,
        }
        print(
            f"  {pair.label} / chat: median of the rounds' ratios {found.ratio:.3f}; gateway "
            f"CPU per request {found.cpu_us} us vs chat {found.base_cpu_us} us",
            flush=True,
        )
    bench.results["endpoints"] = summary


def endpoint_targets(results: dict[str, Any], check: Any) -> None:
    """Each door's throughput against chat's on the same gateway: within 10%; the CPU
    per request ratio for context."""
    summary = results.get("endpoints") or {}
    for row, pair in PAIRS.items():
        found = summary.get(row)
        if not found:
            continue
        ratio = found["throughput_ratio"]
        check(f"{row} / chat (alternating rounds)", ratio, f">= {GOAL:.2f}", ratio >= GOAL)
        if found["chat_cpu_us_per_request"]:
            cpu = round(found["cpu_us_per_request"] / found["chat_cpu_us_per_request"], 3)
            check(f"{pair.label} / chat CPU per request (context)", cpu, "(no goal)", None)
