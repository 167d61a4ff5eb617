"""The Responses door's stream rules, the embeddings usage reader, the mock's vectors,
and the local affinity book."""

from __future__ import annotations

import base64
import struct

import orjson

from gateway.doors.embeddings.response import embeddings_usage
from gateway.doors.responses.stream import ResponsesRelay, responses_head
from gateway.observability.record import RequestRecord
from gateway.pipeline.affinity import AffinityRecorder
from gateway.providers.mock.embeddings import embeddings
from gateway.providers.mock.responses import stream_events
from gateway.providers.sse import StreamHead
from gateway.state.affinity import AffinityBook, Holder
from gateway.state.memory import MemoryStateStore


def ev(name: str, **payload: object) -> bytes:
    return (
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **payload}) + b"\n\n"
    )


def test_head_waits_through_the_preamble_and_fails_on_an_early_error() -> None:
    created = ev("response.created", response={"id": "r1"})
    assert responses_head(created) is StreamHead.MORE
    assert responses_head(created + ev("response.in_progress")) is StreamHead.MORE
    assert responses_head(created + ev("error", message="x")) is StreamHead.FAILED
    assert responses_head(created + ev("response.failed")) is StreamHead.FAILED
    assert responses_head(created + ev("response.output_item.added")) is StreamHead.COMMIT
    # Without `event:` lines the type is read from the data.
    bare = b'data: {"type":"response.created"}\n\ndata: {"type":"error"}\n\n'
    assert responses_head(bare) is StreamHead.FAILED


def test_relay_passes_bytes_through_and_reads_id_and_usage() -> None:
    events = b"".join(stream_events({"model": "m", "input": "hi"}, "a b c d", 3))
    relay = ResponsesRelay()
    out = b"".join(relay.feed(events[i : i + 7]) for i in range(0, len(events), 7))
    out += relay.finish()
    assert out == events
    assert relay.complete
    assert relay.response_id is not None and relay.response_id.startswith("resp_mock")
    assert relay.usage is not None and relay.usage.output_tokens > 0
    cut = ResponsesRelay(remember_id=False)
    cut.feed(events[: events.index(b"event: response.completed")])
    assert not cut.complete and cut.response_id is None


def test_head_decides_at_the_first_output_event_in_any_framing() -> None:
    created = ev("response.created", response={"id": "r1"})
    delta = ev("response.output_text.delta", delta="hi")
    # What follows the first output event is not the opening's concern.
    assert responses_head(created + delta + b"data: {not json\n\n") is StreamHead.COMMIT
    crlf = (created + ev("error", message="x")).replace(b"\n", b"\r\n")
    assert responses_head(crlf) is StreamHead.FAILED
    assert responses_head(b": keep-alive\n" + created) is StreamHead.MORE


def test_relay_tells_a_marker_in_text_from_a_terminal_event() -> None:
    usage = {"input_tokens": 3, "output_tokens": 5}
    created = ev("response.created", response={"id": "resp_1"})
    # Output text may say anything, the names of events included.
    delta = ev("response.output_text.delta", delta='an error: "response.completed"')
    done = ev("response.completed", response={"id": "resp_1", "usage": usage})
    relay = ResponsesRelay()
    assert relay.feed(created + delta) == created + delta
    assert not relay.complete and relay.usage is None and relay.response_id == "resp_1"
    assert relay.feed(done) == done
    assert relay.complete and relay.usage is not None and relay.usage.output_tokens == 5


def test_relay_reads_events_framed_with_crlf_or_typed_only_in_their_data() -> None:
    usage = {"input_tokens": 3, "output_tokens": 5}
    stream = (
        ev("response.created", response={"id": "resp_2"})
        + ev("response.output_text.delta", delta="hi")
        + ev("response.completed", response={"id": "resp_2", "usage": usage})
    )
    crlf = stream.replace(b"\n", b"\r\n")
    bare = b"".join(line + b"\n" for line in stream.split(b"\n") if not line.startswith(b"event:"))
    for framed in (crlf, bare):
        relay = ResponsesRelay()
        out = b"".join(relay.feed(framed[i : i + 5]) for i in range(0, len(framed), 5))
        assert out + relay.finish() == framed
        assert relay.complete and relay.response_id == "resp_2"
        assert relay.usage is not None and relay.usage.input_tokens == 3


def test_embeddings_usage_is_read_from_the_tail() -> None:
    body = embeddings({"model": "m", "input": ["ab", "cd"] * 8, "encoding_format": "base64"})
    usage = embeddings_usage(body)
    assert usage is not None and usage.input_tokens == 16 and usage.output_tokens == 0
    assert embeddings_usage(b'{"data": []}') is None


def test_mock_vectors_are_deterministic_and_base64_decodes_to_them() -> None:
    floats = orjson.loads(embeddings({"input": "same", "dimensions": 5}))
    again = orjson.loads(embeddings({"input": ["same"], "dimensions": 5}))
    assert floats["data"][0]["embedding"] == again["data"][0]["embedding"]
    packed = orjson.loads(
        embeddings({"input": "same", "dimensions": 5, "encoding_format": "base64"})
    )
    decoded = struct.unpack("<5f", base64.b64decode(packed["data"][0]["embedding"]))
    assert [round(v, 5) for v in decoded] == [round(v, 5) for v in floats["data"][0]["embedding"]]


def test_affinity_book_expires_and_stays_bounded() -> None:
    book = AffinityBook(max_records=2)
    holder = Holder("route", "alias", "prov", "model")
    book.put("a", holder, expires_at=100.0)
    assert book.get("a", now=99.0) == holder
    assert book.get("a", now=100.0) is None
    book.put("b", holder, 200.0)
    book.put("c", holder, 200.0)
    book.put("d", holder, 200.0)
    assert len(book) == 2 and book.get("b", now=0.0) is None
    assert Holder.decode(holder.encode()) == holder
    assert Holder.decode(b"[1, 2]") is None


async def test_recorder_remembers_made_ids_and_forgets_deleted_ones() -> None:
    state = MemoryStateStore()
    recorder = AffinityRecorder(state, ttl_s=60)

    def done(**fields: object) -> RequestRecord:
        record = RequestRecord(
            request_id="r", started=0.0, route="agent", provider="b", model="gpt-b", alias="b-m"
        )
        record.status = 200
        for name, value in fields.items():
            setattr(record, name, value)
        recorder.on_request_done(record)
        return record

    done(operation="responses", created_id="resp_1")
    done(operation="responses", created_id="resp_2")
    done(operation="responses", created_id="resp_failed", status=502)
    first, second = await state.find_holder("resp_1"), await state.find_holder("resp_2")
    assert first == Holder("agent", "b-m", "b", "gpt-b") and first is second
    assert await state.find_holder("resp_failed") is None
    done(operation="responses.delete", affinity_id="resp_1")
    assert await state.find_holder("resp_1") is None
    assert await state.find_holder("resp_2") is not None
