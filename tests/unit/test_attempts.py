"""The attempt runner (spec §5) against a scripted provider, on an injected clock."""

from __future__ import annotations

import ast
import asyncio
import inspect
import random
from typing import Any

import pytest

import gateway.resilience.attempts as attempts_module
from gateway.config.schema import ResilienceSection
from gateway.errors import InvalidRequest, NoMemberAvailable
from gateway.observability.record import RequestRecord
from gateway.providers.base import UpstreamConnectError, UpstreamTimeout
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.table import Member
from tests.support.scripted_provider import Canned, ScriptedProvider, Wait, error_body
from tests.unit.test_cooldowns import T0, Clock, clocked_store

BODY: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
OK_STREAM = [b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n', b"data: [DONE]\n\n"]


def members(*names: str, **windows: int) -> list[Member]:
    return [
        Member(alias=n, provider="p", upstream_model=n, context_window=windows.get(n))
        for n in names
    ]


def new_record(stream: bool = False) -> RequestRecord:
    return RequestRecord(request_id="req_1", started=0.0, route="chat", stream=stream)


def setup(**settings: Any) -> tuple[AttemptRunner, ScriptedProvider, Clock]:
    clock = Clock()
    provider = ScriptedProvider()
    config = ResilienceSection(
        **{"cooldown_s": 30, "max_cooldown_s": 300, "retry_backoff_s": 0, **settings}
    )
    runner = AttemptRunner({"p": provider}, clocked_store(clock), config, random.Random(7))
    return runner, provider, clock


def fail(status: int, **headers: str) -> Canned:
    return Canned(status, headers, error_body(f"status {status}"))


def outcomes(record: RequestRecord) -> list[tuple[str, str]]:
    return [(a.alias, a.outcome) for a in record.attempts]


async def test_first_success_ends_the_plan() -> None:
    runner, provider, _ = setup()
    provider.set("b", fail(503))
    record = new_record()
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.member.alias == "a" and served.status == 200
    assert provider.calls == ["a"]
    assert provider.bodies[0]["model"] == "a"  # the member's upstream name goes up


async def test_failover_in_order_and_parking() -> None:
    runner, provider, _ = setup()
    provider.set("a", UpstreamConnectError("refused"))
    provider.set("b", UpstreamTimeout("slow"))
    provider.set("c", fail(429, **{"retry-after": "12"}))
    record = new_record()
    served = await runner.run(members("a", "b", "c", "d"), BODY, record, 10)
    assert served.member.alias == "d"
    assert provider.calls == ["a", "b", "c", "d"]
    assert outcomes(record) == [
        ("a", "connect_error"),
        ("b", "timeout"),
        ("c", "rate_limited"),
        ("d", "success"),
    ]
    assert runner.state.cooldowns.active() == {"p/a": T0 + 30, "p/b": T0 + 30, "p/c": T0 + 12}


async def test_parked_members_are_skipped_until_they_expire() -> None:
    runner, provider, clock = setup()
    runner.state.park("p/a", T0 + 5, "test")
    record = new_record()
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.member.alias == "b"
    assert provider.calls == ["b"]
    assert record.skipped == ["a:parked"]
    clock.t = T0 + 5
    served = await runner.run(members("a", "b"), BODY, new_record(), 10)
    assert served.member.alias == "a"


async def test_max_attempts_bounds_the_plan() -> None:
    runner, provider, _ = setup(max_attempts=3)
    names = [f"m{i}" for i in range(50)]
    for name in names:
        provider.set(name, fail(500))
    record = new_record()
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members(*names), BODY, record, 10)
    assert provider.calls == ["m0", "m1", "m2"]
    assert caught.value.status == 503
    assert len(record.attempts) == 3
    assert caught.value.message.endswith("m2 → upstream_5xx (500); stopped after max_attempts=3")


async def test_a_thousand_member_plan_runs_iteratively() -> None:
    runner, provider, _ = setup(max_attempts=1000)
    names = [f"m{i}" for i in range(1000)]
    for name in names:
        provider.set(name, fail(503))
    record = new_record()
    with pytest.raises(NoMemberAvailable):
        await runner.run(members(*names), BODY, record, 10)
    assert provider.calls == names
    assert len(runner.state.cooldowns) == 1000


def test_the_attempt_loop_has_no_recursion() -> None:
    """No function or method in the module calls itself, directly."""
    tree = ast.parse(inspect.getsource(attempts_module))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            assert name != node.name, f"{node.name} calls itself"


async def test_member_retries_use_jittered_exponential_backoff() -> None:
    runner, provider, _ = setup(member_retries=3, retry_backoff_s=0.01)
    provider.set("a", fail(503), fail(503), fail(503), Canned())
    record = new_record()
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.member.alias == "a"
    assert provider.calls == ["a", "a", "a", "a"]
    assert len(runner.state.cooldowns) == 0
    waits = [runner._retry_wait(n, None) for n in (1, 2, 3)]
    for n, wait in enumerate(waits, start=1):
        base = 0.01 * 2 ** (n - 1)
        assert 0.5 * base <= wait <= 1.5 * base
    assert runner._retry_wait(1, 0.7) == 0.7  # a short Retry-After is waited for as given


async def test_member_retries_never_exceed_max_attempts() -> None:
    runner, provider, _ = setup(member_retries=5, max_attempts=2)
    provider.set("a", fail(500))
    with pytest.raises(NoMemberAvailable):
        await runner.run(members("a", "b"), BODY, new_record(), 10)
    assert provider.calls == ["a", "a"]


async def test_long_retry_after_is_not_waited_for() -> None:
    runner, provider, _ = setup(member_retries=2, max_retry_wait_s=2)
    provider.set("a", fail(429, **{"retry-after": "3"}))
    served = await runner.run(members("a", "b"), BODY, new_record(), 10)
    assert served.member.alias == "b"
    assert provider.calls == ["a", "b"]
    assert runner.state.cooldowns.active() == {"p/a": T0 + 3}


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_client_errors_return_at_once(status: int) -> None:
    runner, provider, _ = setup()
    provider.set("a", fail(status))
    record = new_record()
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.status == status
    assert served.body == error_body(f"status {status}")
    assert provider.calls == ["a"]
    assert outcomes(record) == [("a", "client_error")]


CONTEXT = Canned(400, {}, error_body("maximum context length is 8192", "context_length_exceeded"))


async def test_context_length_escalates_past_smaller_and_unknown_windows() -> None:
    runner, provider, _ = setup()
    provider.set("small", CONTEXT)
    plan = members("small", "tiny", "unknown", "big", tiny=1000, small=8192, big=100_000)
    record = new_record()
    served = await runner.run(plan, BODY, record, 10)
    assert served.member.alias == "big"
    assert provider.calls == ["small", "big"]
    assert record.skipped == ["tiny:smaller_context", "unknown:smaller_context"]
    assert len(runner.state.cooldowns) == 0


async def test_context_length_with_nothing_larger_returns_the_upstream_400() -> None:
    runner, provider, _ = setup()
    provider.set("small", CONTEXT)
    served = await runner.run(members("small", "tiny", small=8192, tiny=10), BODY, new_record(), 1)
    assert served.status == 400
    assert served.body == CONTEXT.body
    assert provider.calls == ["small"]


async def test_context_length_with_the_larger_member_parked_is_a_503() -> None:
    runner, provider, _ = setup()
    provider.set("small", CONTEXT)
    runner.state.park("p/big", T0 + 9, "test")
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("small", "big", small=8192, big=100_000), BODY, new_record(), 1)
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "9"


async def test_pre_send_size_check() -> None:
    runner, provider, _ = setup()
    record = new_record()
    served = await runner.run(members("a", "b", a=4000, b=16000), BODY, record, 5000)
    assert served.member.alias == "b"
    assert provider.calls == ["b"]
    assert record.skipped == ["a:too_small"]
    with pytest.raises(InvalidRequest) as caught:
        await runner.run(members("a", "b", a=4000, b=16000), BODY, new_record(), 20000)
    assert caught.value.code == "context_length_exceeded"
    assert provider.calls == ["b"]


async def test_exhausted_answer() -> None:
    runner, provider, _ = setup()
    provider.set("a", fail(503, **{"retry-after": "40"}))
    provider.set("b", fail(429, **{"retry-after-ms": "90500"}))
    runner.state.park("p/c", T0 + 200, "test")
    record = new_record()
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("a", "b", "c"), BODY, record, 10)
    error = caught.value
    assert error.status == 503
    assert error.headers == {"Retry-After": "40"}
    assert error.message == (
        "no member of 'chat' could answer: a → upstream_5xx (503); "
        "b → rate_limited (429); c → parked"
    )


async def test_all_rate_limited_is_a_429_and_far_retry_after_says_do_not_retry() -> None:
    runner, provider, _ = setup()
    provider.set("a", fail(429, **{"retry-after": "61"}))
    provider.set("b", fail(429, **{"retry-after": "90"}))
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("a", "b"), BODY, new_record(), 10)
    error = caught.value
    assert error.status == 429
    assert error.type == "rate_limit_error"
    assert error.headers == {"Retry-After": "61", "x-should-retry": "false"}


async def test_stream_falls_over_on_an_error_event_or_an_empty_stream() -> None:
    runner, provider, _ = setup()
    provider.set("a", Canned(200, {}, chunks=[b'data: {"error":{"message":"overloaded"}}\n\n']))
    provider.set("b", Canned(200, {}, chunks=[]))
    provider.set("c", Canned(200, {}, chunks=OK_STREAM))
    record = new_record(stream=True)
    served = await runner.run(members("a", "b", "c"), BODY, record, 10)
    assert served.member.alias == "c"
    assert served.first_chunk == OK_STREAM[0]
    assert served.response is provider.responses[2]
    assert outcomes(record) == [("a", "upstream_5xx"), ("b", "connect_error"), ("c", "success")]
    assert provider.responses[0].closed and provider.responses[1].closed
    assert not provider.responses[2].closed  # handed to the relay


async def test_ttft_timeout_falls_over() -> None:
    runner, provider, _ = setup(ttft_timeout_s=0.05)
    provider.set("a", Wait())
    provider.set("b", Canned(200, {}, chunks=OK_STREAM))
    record = new_record(stream=True)
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.member.alias == "b"
    assert outcomes(record) == [("a", "ttft_timeout"), ("b", "success")]
    assert runner.state.cooldowns.active() == {"p/a": T0 + 30}


async def test_ttft_covers_a_body_that_stalls_after_the_headers() -> None:
    runner, provider, _ = setup(ttft_timeout_s=0.05)
    provider.set("a", Canned(200, {}, chunks=OK_STREAM, chunk_delay_s=5))
    provider.set("b", Canned(200, {}, chunks=OK_STREAM))
    record = new_record(stream=True)
    served = await runner.run(members("a", "b"), BODY, record, 10)
    assert served.member.alias == "b"
    assert outcomes(record) == [("a", "ttft_timeout"), ("b", "success")]
    assert provider.responses[0].closed  # the stalled upstream was let go


async def test_exhausted_message_names_members_never_called() -> None:
    runner, provider, _ = setup()
    provider.set("b", fail(500))
    runner.state.park("p/c", T0 + 10, "test")
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("a", "b", "c", a=100), BODY, new_record(), 500)
    assert caught.value.message == (
        "no member of 'chat' could answer: b → upstream_5xx (500); a → too_small; c → parked"
    )


async def test_cancellation_ends_the_plan() -> None:
    runner, provider, _ = setup()
    provider.set("a", Wait())
    record = new_record()
    task = asyncio.create_task(runner.run(members("a", "b"), BODY, record, 10))
    deadline = asyncio.get_running_loop().time() + 5
    while not provider.calls:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert provider.calls == ["a"]
    assert outcomes(record) == [("a", "client_disconnect")]
    assert len(runner.state.cooldowns) == 0
