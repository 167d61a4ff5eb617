"""The reloader in process: validation first, leases hold the old snapshot's providers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.app import AppOptions, build_gateway
from gateway.config.loader import ConfigError, config_digest, load_config, load_config_file
from gateway.providers.base import UpstreamRequest
from gateway.providers.openai import OpenAIProvider
from gateway.reload import Reloader
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream


async def wait_until(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.01)
    return bool(check())


def session_closed(provider: object) -> bool:
    assert isinstance(provider, OpenAIProvider)
    return provider._transport.closed


async def test_old_providers_close_only_after_the_last_lease(
    tmp_path: Path, fake_upstream: FakeUpstream, second_upstream: FakeUpstream
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(upstream_config(fake_upstream.base_url, ["m1"])))
    gateway = build_gateway(load_config(path), AppOptions(config_path=str(path)))
    reloader = Reloader(gateway, str(path), None)
    old = gateway.snapshot
    provider = old.providers["fake"]
    response = await provider.send(UpstreamRequest({"model": "m1", "messages": []}, False, "r"))
    await response.read()
    old.leases.acquire()  # a request still running on the old snapshot

    path.write_text(yaml.safe_dump(upstream_config(second_upstream.base_url, ["m1"])))
    result = await reloader.reload()
    assert result.changed and result.generation == 1
    assert gateway.snapshot is not old
    assert gateway.snapshot.providers["fake"] is not provider
    await asyncio.sleep(0.05)
    assert not session_closed(provider)

    old.leases.release()
    assert await wait_until(lambda: session_closed(provider))
    await reloader.aclose()
    await gateway.aclose()


async def test_invalid_file_keeps_the_running_snapshot(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    path = tmp_path / "gw.yaml"
    config = upstream_config(fake_upstream.base_url, ["m1"])
    path.write_text(yaml.safe_dump(config))
    gateway = build_gateway(load_config(path), AppOptions(config_path=str(path)))
    reloader = Reloader(gateway, str(path), None)
    before = gateway.snapshot
    config["routes"]["chat"]["force"] = ["temperature"]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as raised:
        await reloader.reload()
    assert raised.value.problems[0].startswith("routes.chat.force[0]: 'temperature'")
    assert gateway.snapshot is before and reloader.generation == 0
    await reloader.aclose()
    await gateway.aclose()


async def test_an_edit_between_loading_and_watching_is_still_picked_up(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    # A worker loads its config, spends a while building the gateway, and only then
    # starts its reloader; a ConfigMap swap can land in between.
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(upstream_config(fake_upstream.base_url, ["m1"])))
    config, digest = load_config_file(path)
    gateway = build_gateway(config, AppOptions(config_path=str(path)))
    path.write_text(yaml.safe_dump(upstream_config(fake_upstream.base_url, ["m1", "m2"])))

    reloader = Reloader(gateway, str(path), None, digest)
    result = await reloader.reload()
    assert result.changed and result.generation == 1
    assert "m2" in gateway.snapshot.config.models
    assert not (await reloader.reload()).changed  # the same text again is no change
    await reloader.aclose()
    await gateway.aclose()


def test_the_digest_is_of_the_text_the_config_was_built_from(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    path = tmp_path / "gw.yaml"
    text = yaml.safe_dump(upstream_config(fake_upstream.base_url, ["m1"]))
    path.write_text(text)
    config, digest = load_config_file(path)
    assert digest == config_digest(text)
    assert digest != config_digest(text + "\n# edited\n")
    assert load_config(path) == config
