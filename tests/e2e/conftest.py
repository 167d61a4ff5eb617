"""Fixtures of the ``/v1/messages`` end-to-end tests: one gateway per module, in front
of a fake Anthropic and a fake OpenAI-compatible upstream, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_process import GatewayProcess
from tests.support.messages_setup import ANTHROPIC_KEY, messages_config


@pytest.fixture(scope="module")
def claude_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key=ANTHROPIC_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def messages_gateway(
    claude_server: FakeAnthropic, openai_server: FakeUpstream, tmp_path_factory: Any
) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("messages")
    config = messages_config(claude_server, openai_server.base_url)
    proc = GatewayProcess(config, workdir, env={"ANTHROPIC_TEST_KEY": ANTHROPIC_KEY + "\n"})
    yield proc.start()
    proc.stop()


@pytest.fixture
def fakes(
    claude_server: FakeAnthropic, openai_server: FakeUpstream
) -> tuple[FakeAnthropic, FakeUpstream]:
    claude_server.reset()
    openai_server.reset()
    return claude_server, openai_server
