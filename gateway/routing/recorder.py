"""Feeding finished requests into the signal board (a request observer)."""

from __future__ import annotations

from gateway.observability.record import RequestRecord
from gateway.resilience.classify import Outcome
from gateway.routing.signals import Metric, SignalBoard


class SignalRecorder:
    """Ends the served member's in-flight count and records its latency.

    The attempt loop counts a member as busy from the start of an attempt; a failed
    attempt ends there, an answered one when the request is over (a stream is busy
    until its last byte). Streams measure time to the first event; other answers
    latency per output token, so a long answer does not look slow. An answer without
    ``usage`` counts as one token.
    """

    def __init__(self, board: SignalBoard) -> None:
        self.board = board

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        key = record.in_flight_key
        if key is None:
            return
        board = self.board
        board.finished(key)
        attempt = record.attempts[-1]
        if attempt.outcome != Outcome.SUCCESS:
            return
        usage = record.usage
        tokens = usage.output_tokens if usage is not None else 0
        if tokens > 0:
            board.observe(key, Metric.OUTPUT_TOKENS, tokens)
        if record.stream:
            board.observe(key, Metric.TTFT, attempt.duration_s)
        else:
            board.observe(key, Metric.PER_TOKEN, attempt.duration_s / max(1, tokens))
