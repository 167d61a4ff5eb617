"""``server.watch_config``: reload when the config file changes.

The file is polled once a second for its identity after symlinks are followed
(device, inode, size, modification time). That catches an edit in place, an editor's
write-and-rename, and the swap Kubernetes makes when a ConfigMap changes: the
mounted ``config.yaml`` is a symlink through ``..data``, and ``..data`` is replaced
atomically with a link to a new directory, so the resolved file is a new inode.
Polling works on every filesystem (inotify misses changes behind symlinks and on
network mounts) and one ``stat`` a second costs nothing measurable.

A change goes through ``Reloader.reload``, the same validation as SIGHUP: an
invalid file is logged and the running config stays. The setting is read from the
current config at every tick, so a reload can turn watching on or off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from gateway.reload import Reloader
from gateway.runtime import Gateway

POLL_INTERVAL_S = 1.0

FileIdentity = tuple[int, int, int, int]


def file_identity(path: str) -> FileIdentity | None:
    try:
        st = os.stat(path)  # follows symlinks: the file the gateway would read
    except OSError:
        return None  # between a delete and a create: look again next tick
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ConfigWatcher:
    def __init__(
        self, gateway: Gateway, reloader: Reloader, interval_s: float = POLL_INTERVAL_S
    ) -> None:
        self.gateway = gateway
        self.reloader = reloader
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.reloader.path is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._watch(self.reloader.path), name="config-watch"
            )

    async def _watch(self, path: str) -> None:
        # Unknown at first: the file may have changed since it was loaded, and a reload
        # of the same content is a no-op (the reloader compares digests).
        seen: FileIdentity | None = None
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.gateway.snapshot.config.server.watch_config:
                seen = None
                continue
            current = file_identity(path)
            if current is None or current == seen:
                continue
            seen = current
            await self.reloader.reload_logged()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
