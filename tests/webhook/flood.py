"""Unauthenticated floods and a worker's memory: shared by tests/webhook and bench/.

:func:`flood` POSTs the same body ``count`` times at once (bad signature, maximum size);
:class:`PeakRSS` samples a process's resident memory in a thread and keeps the peak.
"""
from __future__ import annotations

import asyncio
import threading
import uuid

import aiohttp
import psutil

BAD_SIGNATURE = "sha256=" + "0" * 64


async def flood(url: str, body: bytes, count: int, timeout: float = 120) -> list[int]:
    """POST ``body`` ``count`` times concurrently with a wrong signature; the statuses."""
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-Hub-Signature-256": BAD_SIGNATURE}
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async def one() -> int:
            async with session.post(url, data=body, headers={
                    **headers, "X-GitHub-Delivery": str(uuid.uuid4())}) as response:
                await response.read()
                return response.status
        return list(await asyncio.gather(*(one() for _ in range(count))))


class PeakRSS:
    """The highest resident set size of ``pid`` seen between start() and stop()."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakRSS:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.rss())
