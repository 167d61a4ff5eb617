from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_anthropic import anthropic_server, fake_anthropic  # noqa: F401
from tests.support.fake_gemini import fake_gemini, gemini_server  # noqa: F401  (fixtures)
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_process import GatewayProcess
from tests.support.redis_keys import drop_keys, new_prefix

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def _fake_upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fake_upstream(_fake_upstream_server: FakeUpstream) -> FakeUpstream:
    _fake_upstream_server.reset()
    return _fake_upstream_server


@pytest.fixture
def second_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[GatewayFactory]:
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any] | str, **kw: Any) -> GatewayProcess:
        kw.setdefault("name", f"gateway{len(started)}")
        proc = GatewayProcess(config, tmp_path, **kw)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis; under CI=true a missing Redis fails the run instead of skipping."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def shared_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own, dropped afterwards."""
    prefix = new_prefix()
    yield prefix
    drop_keys(redis_url, prefix)
