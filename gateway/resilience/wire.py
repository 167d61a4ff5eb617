"""What the attempt loop must know of a door's wire format, and nothing more.

- ``StreamOpening``: how much of a stream is held back before the plan commits to the
  member, and whether that opening is an error (a failover point, spec §5). For chat
  it is the first SSE event; Anthropic's Messages API sends ``message_start`` before
  it can fail with an ``overloaded_error`` event, so its opening runs to the first
  event after it.
- ``Bridge``: how a member that cannot serve the door's operation natively serves it
  anyway, through another operation it can serve (a Messages request sent to an
  OpenAI-compatible member as a chat request, and its answer translated back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.providers.base import UpstreamResponse
from gateway.providers.sse import END_OVERLAP, HeadCheck, StreamHead, has_event_end, last_event_end


class OpeningReader(Protocol):
    def feed(self, piece: bytes) -> bool:
        """Take the next piece of the body; ``True`` once the opening is complete."""
        ...


class StreamOpening(Protocol):
    def reader(self) -> OpeningReader: ...

    def error_status(self, opening: bytes) -> int | None:
        """The status an error in the opening stands for (500, 529...), else ``None``."""
        ...


class _FirstEventReader:
    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, piece: bytes) -> bool:
        # Only the new piece (with the overlap for an end split across reads) is
        # searched, so a giant first event costs linear time.
        window = self._tail + piece
        if has_event_end(window):
            return True
        self._tail = window[-END_OVERLAP:]
        return False


class FirstEventOpening:
    """OpenAI-style SSE: the opening is the first whole event; an error event is
    ``data: {"error": ...}``."""

    _ERROR_PREFIXES = (b'data: {"error"', b'data:{"error"')

    def reader(self) -> OpeningReader:
        return _FirstEventReader()

    def error_status(self, opening: bytes) -> int | None:
        return 500 if opening.startswith(self._ERROR_PREFIXES) else None


class _HeadCheckReader:
    """Holds whole events until the door's ``HeadCheck`` stops asking for more."""

    __slots__ = ("_check", "_pieces", "_tail")

    def __init__(self, check: HeadCheck) -> None:
        self._check = check
        self._pieces: list[bytes] = []
        self._tail = b""

    def feed(self, piece: bytes) -> bool:
        self._pieces.append(piece)
        window = self._tail + piece
        self._tail = window[-END_OVERLAP:]
        if not has_event_end(window):
            return False
        head = b"".join(self._pieces)
        self._pieces = [head]
        # The door judges whole events only; a partial one after them waits its turn.
        return self._check(head[: last_event_end(head)]) is not StreamHead.MORE


class HeadCheckOpening:
    """An opening a door decides event by event (the Responses API's stream waits
    for the events that say whether the response failed before any output)."""

    def __init__(self, check: HeadCheck) -> None:
        self._check = check

    def reader(self) -> OpeningReader:
        return _HeadCheckReader(self._check)

    def error_status(self, opening: bytes) -> int | None:
        end = last_event_end(opening)
        whole = opening[:end] if end > 0 else opening
        return 500 if self._check(whole) is StreamHead.FAILED else None


async def read_opening(response: UpstreamResponse, opening: StreamOpening) -> bytes:
    """Read until the opening is complete; ``b""`` if the body ends first. A response
    that turned into a refusal (a translating kind saw an error event: its status is
    now 4xx/5xx) is returned as read. Pieces are kept in a list and joined once."""
    reader = opening.reader()
    pieces: list[bytes] = []
    while True:
        piece = await response.read_chunk()
        if response.status >= 400:
            return b"".join([*pieces, piece])
        if not piece:
            return b""
        pieces.append(piece)
        if reader.feed(piece):
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class Bridge(Protocol):
    #: The operation the member serves natively, through which the bridge goes.
    operation: str

    def request(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The member's body for the door's (options-merged) body."""
        ...

    def response(self, response: UpstreamResponse, stream: bool) -> UpstreamResponse:
        """The member's answer, read as the door's wire format."""
        ...


@dataclass(frozen=True, slots=True)
class WireFormat:
    opening: StreamOpening
    #: Ways to serve the door's operation through members that lack it, in order of
    #: preference.
    bridges: tuple[Bridge, ...] = ()

    def bridge_to(self, operations: frozenset[str]) -> Bridge | None:
        for bridge in self.bridges:
            if bridge.operation in operations:
                return bridge
        return None


CHAT_WIRE = WireFormat(FirstEventOpening())

#: Client headers a door forwards to members that serve its operation natively.
ForwardedHeaders = Mapping[str, str]
