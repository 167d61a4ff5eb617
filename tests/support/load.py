"""Steady client load on running gateways: clients in a loop, paced to stay light,
counting answers and failures until stopped."""

from __future__ import annotations

import threading

import httpx

MESSAGES = [{"role": "user", "content": "still there?"}]


class Load:
    """One client per (base URL, stream?) pair; a streamed answer counts only when it
    ends with ``[DONE]``."""

    def __init__(self, base_urls: list[str], streams: tuple[bool, ...] = (False, True)) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url, stream), daemon=True)
            for url in base_urls
            for stream in streams
        ]

    def _one(self, client: httpx.Client, base_url: str, stream: bool) -> None:
        body = {"model": "chat", "messages": MESSAGES, "stream": stream}
        try:
            with client.stream("POST", base_url + "/chat/completions", json=body) as r:
                data = r.read()
            good = r.status_code == 200 and (not stream or data.endswith(b"data: [DONE]\n\n"))
            outcome = None if good else f"{r.status_code}: {data[:200]!r}"
        except httpx.HTTPError as exc:
            outcome = repr(exc)
        with self._lock:
            if outcome is None:
                self.ok += 1
            else:
                self.failures.append(outcome)

    def _run(self, base_url: str, stream: bool) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self._one(client, base_url, stream)
                self._stop.wait(0.01)  # pacing: about 50 requests/s per client

    def served(self) -> int:
        with self._lock:
            return self.ok + len(self.failures)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
