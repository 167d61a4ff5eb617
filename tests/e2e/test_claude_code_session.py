"""A recorded Claude Code-style session replayed through ``gateway serve`` to a fake
Anthropic that enforces the real API's rules.

The session (``tests/data/claude_code_session.json``) has what Claude Code sends: the
beta endpoint (``/v1/messages?beta=true``) and its flags, system blocks and a tool
with ``cache_control``, ``metadata.user_id``, thinking enabled, streaming, and turns
that go back with the model's thinking blocks (signed) and ``tool_result``s. Every
request must reach the fake exactly as the client sent it (model aside), and the fake
refuses a request that breaks a rule: roles that do not alternate, a ``tool_use``
without its ``tool_result``, a thinking block whose signature it did not issue, more
than four cache breakpoints.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.support.fake_anthropic import FakeAnthropic, message
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_process import GatewayProcess
from tests.support.messages_setup import sdk

SESSION = json.loads((Path(__file__).parents[1] / "data" / "claude_code_session.json").read_text())
UPSTREAM_MODEL = "claude-sonnet-4-5"  # the route's member for Claude Code's dated name


def with_cache_breakpoint_last(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude Code keeps one cache breakpoint in the conversation, on the newest user
    block; older ones are taken off (the API allows four in all)."""
    out = copy.deepcopy(messages)
    for turn in out:
        if isinstance(turn["content"], list):
            for block in turn["content"]:
                block.pop("cache_control", None)
    last = out[-1]["content"]
    last[-1]["cache_control"] = {"type": "ephemeral"}
    return out


def tool_result(turn: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": turn["tool_use"]["id"],
        "content": turn["result"],
    }
    if "is_error" in turn:
        result["is_error"] = turn["is_error"]
    return result


def test_a_claude_code_session_goes_through_with_nothing_lost(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    turns = SESSION["turns"]
    claude.set(
        UPSTREAM_MODEL,
        *[
            message(
                t["text"],
                thinking=t["thinking"],
                tool_uses=[t["tool_use"]] if t["tool_use"] else [],
                piece_size=11,
            )
            for t in turns
        ],
    )
    client = sdk(messages_gateway, default_headers=SESSION["headers"])
    request = SESSION["request"]
    betas = SESSION["betas"]
    history: list[dict[str, Any]] = [{"role": "user", "content": SESSION["first_prompt"]}]

    counted = client.beta.messages.count_tokens(
        model=request["model"],
        system=request["system"],
        tools=request["tools"],
        messages=history,
        betas=betas,
    )
    assert counted.input_tokens > 0
    assert claude.hits()[-1].path == "/v1/messages/count_tokens"

    for turn in turns:
        params = {**request, "messages": with_cache_breakpoint_last(history)}
        with client.beta.messages.stream(**params, betas=betas) as stream:
            final = stream.get_final_message()
        assert not claude.refusals, claude.refusals

        sent = claude.hits()[-1]
        # Nothing lost, nothing added: the client's body with the member's model.
        assert sent.body == {
            **json.loads(json.dumps(params)),
            "model": UPSTREAM_MODEL,
            "stream": True,
        }
        assert sent.headers["anthropic-beta"] == ",".join(betas)
        assert sent.headers.get("user-agent") != SESSION["headers"]["user-agent"]

        blocks = [b.model_dump(exclude_none=True) for b in final.content]
        assert blocks[0]["type"] == "thinking"
        assert blocks[0]["thinking"] == turn["thinking"] and blocks[0]["signature"]
        if turn["tool_use"] is None:
            assert final.stop_reason == "end_turn"
            assert blocks[-1] == {"type": "text", "text": turn["text"]}
            break
        assert final.stop_reason == "tool_use"
        assert blocks[-1] == {"type": "tool_use", **turn["tool_use"]}
        # The answer goes back as it came, signature and all, followed by the result.
        history.append({"role": "assistant", "content": blocks})
        history.append({"role": "user", "content": [tool_result(turn)]})
    else:
        raise AssertionError("the session never ended")

    assert len([h for h in claude.hits() if h.path == "/v1/messages"]) == len(turns)
