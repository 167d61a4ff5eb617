"""``server.watch_config``: the gateway follows its file, including the symlink swap
Kubernetes makes when a ConfigMap changes; an invalid file is logged and ignored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_reload import config_for, eventually, served_by
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_process import GatewayProcess


def watched(upstream: FakeUpstream, member: str) -> dict[str, Any]:
    return config_for(upstream, member) | {"server": {"watch_config": True}}


@pytest.fixture
def started() -> Any:
    processes: list[GatewayProcess] = []
    yield processes
    for process in processes:
        process.stop()


def test_an_edited_file_is_reloaded_and_an_invalid_one_is_ignored(
    fake_upstream: FakeUpstream, tmp_path: Path, started: list[GatewayProcess]
) -> None:
    gw = GatewayProcess(watched(fake_upstream, "m1"), tmp_path)
    started.append(gw.start())
    assert served_by(gw) == "m1"

    gw.write_config(watched(fake_upstream, "m2"))
    assert eventually(lambda: served_by(gw) == "m2", 10), gw.logs()

    broken = watched(fake_upstream, "m1") | {"routes": {"chat": {"pool": ["gtp-4o"]}}}
    gw.write_config(broken)
    assert eventually(lambda: "config reload rejected" in gw.logs(), 10), gw.logs()
    assert "routes.chat.pool[0]: unknown model 'gtp-4o'" in gw.logs()
    assert served_by(gw) == "m2"  # the old config stays

    gw.write_config(watched(fake_upstream, "m1"))
    assert eventually(lambda: served_by(gw) == "m1", 10), gw.logs()


def _configmap_version(root: Path, name: str, config: dict[str, Any]) -> None:
    """What the kubelet does on a ConfigMap update: a new timestamped directory, then
    ``..data`` swapped to it with one rename."""
    version = root / name
    version.mkdir()
    (version / "config.yaml").write_text(yaml.safe_dump(config))
    link = root / "..data_tmp"
    link.symlink_to(name)
    os.replace(link, root / "..data")


def test_a_configmap_symlink_swap_is_followed(
    fake_upstream: FakeUpstream, tmp_path: Path, started: list[GatewayProcess]
) -> None:
    mount = tmp_path / "etc-gateway"
    mount.mkdir()
    _configmap_version(mount, "..2026_11_30_09_00_00.1", watched(fake_upstream, "m1"))
    (mount / "config.yaml").symlink_to("..data/config.yaml")

    gw = GatewayProcess(watched(fake_upstream, "m1"), tmp_path, workers=2)
    gw.config_path = mount / "config.yaml"
    started.append(gw.start())
    assert served_by(gw) == "m1"

    _configmap_version(mount, "..2026_11_30_09_05_00.2", watched(fake_upstream, "m2"))
    # Every worker follows the file on its own: new connections, whichever worker answers.
    assert eventually(lambda: all(served_by(gw) == "m2" for _ in range(8)), 10), gw.logs()


def test_without_the_setting_an_edit_changes_nothing(
    fake_upstream: FakeUpstream, tmp_path: Path, started: list[GatewayProcess]
) -> None:
    gw = GatewayProcess(config_for(fake_upstream, "m1"), tmp_path)
    started.append(gw.start())
    gw.write_config(config_for(fake_upstream, "m2"))
    assert not eventually(lambda: served_by(gw) == "m2", 2.5)
