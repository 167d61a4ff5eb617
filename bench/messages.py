"""The /v1/messages door: Anthropic pass-through and translation to an OpenAI-compatible
member, against instant mocks, beside the chat door's numbers of the same run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.harness import start_mock

if TYPE_CHECKING:
    from bench.run import Bench

MESSAGES = {
    "model": "bench-claude",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello."}],
}
TRANSLATED = {**MESSAGES, "model": "bench"}
PATH = "/v1/messages"


def messages_config(config: dict[str, Any], anthropic_port: int) -> dict[str, Any]:
    """The chat bench's config plus an Anthropic provider and a route on it."""
    config["providers"]["claude"] = {
        "kind": "anthropic",
        "base_url": f"http://127.0.0.1:{anthropic_port}/v1",
        "api_key_env": "BENCH_KEY",
        "max_connections": 10000,
        "timeout_s": 60,
    }
    config["models"]["bench-claude-model"] = {
        "provider": "claude",
        "model": "claude-upstream",
        "price": {"input": 3.0, "output": 15.0, "cached_input": 0.3},
    }
    config["routes"]["bench-claude"] = {"pool": ["bench-claude-model"]}
    return config


def run_messages(bench: Bench, chat_config: dict[str, Any], load_cpu: int) -> None:
    mock = start_mock("anthropic", "bench.mock_anthropic", bench.workdir, load_cpu)
    print("gateway, /v1/messages", flush=True)
    try:
        gw = bench.start_gateway("gateway-messages", messages_config(chat_config, mock.port))
        try:
            bench.load("messages_native_c64", gw.port, MESSAGES, 64, path=PATH)
            bench.load(
                "messages_native_stream_c64", gw.port, {**MESSAGES, "stream": True}, 64, path=PATH
            )
            bench.load("messages_translated_c64", gw.port, TRANSLATED, 64, path=PATH)
            bench.load(
                "messages_translated_stream_c64",
                gw.port,
                {**TRANSLATED, "stream": True},
                64,
                path=PATH,
            )
        finally:
            gw.stop()
    finally:
        mock.stop()


def messages_targets(results: dict[str, Any], check: Any) -> None:
    """The door's throughput beside the chat door's (context: no goal of its own)."""
    chat = results["runs"].get("gateway_memory_c64")
    for name, label in (
        ("messages_native_c64", "messages pass-through / chat req/s (context)"),
        ("messages_translated_c64", "messages translated / chat req/s (context)"),
    ):
        run = results["runs"].get(name)
        if run and chat:
            check(label, round(run["rps"] / chat["rps"], 3), "(no goal)", None)
