"""Metric values shared by several uvicorn workers (``gateway serve --workers N``).

prometheus-client keeps each worker's values in files under
``PROMETHEUS_MULTIPROC_DIR``; a scrape sums them. Workers that died leave files behind,
which are marked dead so their live gauges stop counting.
"""

from __future__ import annotations

import atexit
import os
from typing import Any


def multiprocess_dir() -> str | None:
    """The directory prometheus-client shares values through, when several workers run."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


_exit_hook: list[int] = []


class LabelsOrSelf:
    """``labels()`` with no values gives the metric itself (prometheus-client's way)."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def labels(self, *values: str) -> Any:
        return self.metric.labels(*values) if values else self.metric


def mark_dead_workers() -> None:
    """Drop live-gauge files of workers that died (uvicorn restarts them); and ours at exit."""
    from prometheus_client import multiprocess

    path = multiprocess_dir()
    if not path or not os.path.isdir(path):
        return
    for name in os.listdir(path):
        if not name.startswith("gauge_live") or not name.endswith(".db"):
            continue
        pid_text = name.rsplit("_", 1)[-1][:-3]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            multiprocess.mark_process_dead(int(pid_text), path)  # type: ignore[no-untyped-call]
    if not _exit_hook:
        _exit_hook.append(os.getpid())
        atexit.register(multiprocess.mark_process_dead, os.getpid(), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
