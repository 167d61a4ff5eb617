"""The door's stream-head rule in the attempt loop: nothing commits until the door says
so, an early failure falls over, and a body that ends while waiting is a failure."""

from __future__ import annotations

from gateway.providers.sse import StreamHead
from gateway.resilience.wire import HeadCheckOpening, WireFormat
from tests.support.scripted_provider import Canned
from tests.unit.test_attempts import BODY, members, new_record, outcomes, setup


def wait_for_output(head: bytes) -> StreamHead:
    """Commit at the first event that is not `start`; fail on `bad`."""
    for event in head.split(b"\n\n"):
        if event.startswith(b"data: bad"):
            return StreamHead.FAILED
        if event and not event.startswith(b"data: start"):
            return StreamHead.COMMIT
    return StreamHead.MORE


WAIT_FOR_OUTPUT = WireFormat(HeadCheckOpening(wait_for_output))


async def test_the_head_is_held_until_the_door_commits() -> None:
    runner, provider, _ = setup()
    provider.set("a", Canned(chunks=[b"data: start\n\n", b"data: st", b"art\n\n", b"data: x\n\n"]))
    record = new_record(stream=True)
    served = await runner.run(members("a"), BODY, record, 10, wire=WAIT_FOR_OUTPUT)
    # Everything up to and including the committing event is handed over as one head.
    assert served.first_chunk == b"data: start\n\ndata: start\n\ndata: x\n\n"
    assert outcomes(record) == [("a", "success")]


async def test_a_failure_before_commit_falls_over() -> None:
    runner, provider, _ = setup()
    provider.set("a", Canned(chunks=[b"data: start\n\n", b"data: bad\n\n"]))
    provider.set("b", Canned(chunks=[b"data: start\n\ndata: ok\n\n"]))
    record = new_record(stream=True)
    served = await runner.run(members("a", "b"), BODY, record, 10, wire=WAIT_FOR_OUTPUT)
    assert served.member.alias == "b"
    assert outcomes(record) == [("a", "upstream_5xx"), ("b", "success")]


async def test_a_body_that_ends_before_commit_is_a_failure() -> None:
    runner, provider, _ = setup()
    provider.set("a", Canned(chunks=[b"data: start\n\n"]))
    provider.set("b", Canned(chunks=[b"data: ok\n\n"]))
    record = new_record(stream=True)
    served = await runner.run(members("a", "b"), BODY, record, 10, wire=WAIT_FOR_OUTPUT)
    assert served.member.alias == "b"
    assert outcomes(record)[0] == ("a", "connect_error")
