"""The request log's timestamp: ISO 8601 UTC with microseconds, and the right time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from gateway.observability.logging import RequestLogger


def test_timestamp_is_iso8601_utc_and_current() -> None:
    logger = RequestLogger()
    before = time.time()
    first = logger._timestamp()
    second = logger._timestamp()  # same second: the cached date part is reused
    after = time.time()
    for stamp in (first, second):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before - 1e-6 <= parsed.timestamp() <= after + 1e-6
    assert first <= second
