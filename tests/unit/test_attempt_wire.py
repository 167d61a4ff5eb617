"""The attempt loop and a door's wire format: bridges to members of another operation,
the stream's opening, forwarded headers and the all-overloaded verdict."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gateway.doors.messages.stream import MessagesOpening
from gateway.errors import InvalidRequest, NoMemberAvailable
from gateway.providers.base import UpstreamResponse
from gateway.resilience.wire import WireFormat
from tests.support.scripted_provider import Canned
from tests.unit.test_attempts import BODY, fail, members, new_record, outcomes, setup

OVERLOADED_EVENT = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n'
)
START = b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n'
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
BLOCK = b'event: content_block_start\ndata: {"type":"content_block_start","index":0}\n\n'


class TaggingBridge:
    """Serves the test operation through chat, tagging what it translated."""

    operation = "chat"

    def __init__(self) -> None:
        self.wrapped: list[UpstreamResponse] = []

    def request(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        return {**body, "translated": True}

    def response(self, response: UpstreamResponse, stream: bool) -> UpstreamResponse:
        self.wrapped.append(response)
        return response


async def test_a_member_without_the_operation_is_served_through_a_bridge() -> None:
    runner, provider, _ = setup()
    bridge = TaggingBridge()
    record = new_record()
    record.operation = "messages"
    wire = WireFormat(MessagesOpening(), (bridge,))
    plan = [dataclasses.replace(members("a")[0], defaults={"seed": 1})]
    served = await runner.run(plan, BODY, record, 10, wire=wire, headers={"anthropic-version": "v"})
    assert served.status == 200 and len(bridge.wrapped) == 1
    # Translated first, then the member's options merged; the client's API switches
    # are for native members only.
    (sent,) = provider.requests
    assert sent.operation == "chat" and sent.headers is None
    assert sent.body["translated"] is True and sent.body["seed"] == 1


async def test_a_native_member_gets_the_forwarded_headers() -> None:
    runner, provider, _ = setup()
    provider.operations = frozenset({"chat", "messages"})
    record = new_record()
    record.operation = "messages"
    wire = WireFormat(MessagesOpening(), (TaggingBridge(),))
    await runner.run(members("a"), BODY, record, 10, wire=wire, headers={"anthropic-version": "v"})
    (sent,) = provider.requests
    assert sent.operation == "messages" and sent.headers == {"anthropic-version": "v"}
    assert "translated" not in sent.body


async def test_without_a_bridge_the_member_is_skipped() -> None:
    runner, _, _ = setup()
    record = new_record()
    record.operation = "messages"
    # No member can serve the operation at all: the client's route is wrong (400).
    with pytest.raises(InvalidRequest, match="can serve messages"):
        await runner.run(members("a"), BODY, record, 10, wire=WireFormat(MessagesOpening()))
    assert record.skipped == ["a:unsupported"]


async def test_the_opening_waits_past_message_start_and_fails_over_on_overload() -> None:
    runner, provider, _ = setup()
    provider.set("a", Canned(chunks=[START, PING, OVERLOADED_EVENT]))
    provider.set("b", Canned(chunks=[START, PING, BLOCK]))
    record = new_record(stream=True)
    record.operation = "chat"  # the scripted provider serves chat natively
    served = await runner.run(
        members("a", "b"), BODY, record, 10, wire=WireFormat(MessagesOpening())
    )
    assert served.member.alias == "b"
    assert served.first_chunk == START + PING + BLOCK
    assert outcomes(record) == [("a", "upstream_5xx"), ("b", "success")]
    assert record.attempts[0].status == 529


async def test_every_member_overloaded_says_so() -> None:
    runner, provider, _ = setup()
    provider.set("a", fail(529))
    provider.set("b", Canned(chunks=[START, OVERLOADED_EVENT]))
    record = new_record(stream=True)
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("a", "b"), BODY, record, 10, wire=WireFormat(MessagesOpening()))
    assert caught.value.all_overloaded
    # Parked for the overload: the next request still says so without calling them.
    again = new_record(stream=True)
    with pytest.raises(NoMemberAvailable) as parked:
        await runner.run(members("a", "b"), BODY, again, 10, wire=WireFormat(MessagesOpening()))
    assert parked.value.all_overloaded and again.skipped == ["a:parked", "b:parked"]


async def test_a_mix_of_failures_is_not_an_overload() -> None:
    runner, provider, _ = setup()
    provider.set("a", fail(529))
    provider.set("b", fail(500))
    with pytest.raises(NoMemberAvailable) as caught:
        await runner.run(members("a", "b"), BODY, new_record(), 10)
    assert not caught.value.all_overloaded
