"""Console-stream viewers through Apache, API latency beside them, Apache's memory.

Shared by tests/frontdoor/test_console_streams.py and bench/console_stream.py.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

from tests.harness.process import proc_stats

BATCH = 100


async def open_viewer(session: aiohttp.ClientSession, url: str, build: str,
                      **kwargs: object) -> aiohttp.ClientWebSocketResponse:
    """One console viewer of ``build``, shown to have received the log's first bytes."""
    ws = await session.ws_connect(url, **kwargs)  # type: ignore[arg-type]
    await ws.send_str(json.dumps({"uuid": build, "logfile": "console.log"}))
    msg = await ws.receive(timeout=60)
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise AssertionError(f"viewer got {msg.type} {msg.data!r} {msg.extra!r} first")
    return ws


async def open_viewers(session: aiohttp.ClientSession, url: str, build: str, count: int
                       ) -> list[aiohttp.ClientWebSocketResponse]:
    """``count`` viewers, opened ``BATCH`` at a time (Apache starts processes as they come)."""
    viewers: list[aiohttp.ClientWebSocketResponse] = []
    while len(viewers) < count:
        batch = min(BATCH, count - len(viewers))
        viewers += await asyncio.gather(*(open_viewer(session, url, build)
                                          for _ in range(batch)))
    return viewers


async def latencies(url: str, requests: int, concurrency: int = 4) -> list[float]:
    """Milliseconds of ``requests`` GETs of ``url``, each on a new connection, sorted."""
    results: list[float] = []
    connector = aiohttp.TCPConnector(force_close=True, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            began = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200, response.status
            results.append((time.perf_counter() - began) * 1000)

        for start in range(0, requests, concurrency):
            await asyncio.gather(*(one() for _ in range(min(concurrency, requests - start))))
    return sorted(results)


def percentile(ordered: list[float], pct: float) -> float:
    """The ``pct`` percentile of an already sorted list."""
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _children(pid: int) -> list[int]:
    return [child for child, fields in proc_stats() if int(fields[1]) == pid]


def _kib(pid: int, path: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def apache_memory(pid: int) -> tuple[int, int]:
    """RSS and PSS (KiB) summed over Apache's parent ``pid`` and its children."""
    pids = [pid, *_children(pid)]
    return (sum(_kib(p, "status", "VmRSS:") for p in pids),
            sum(_kib(p, "smaps_rollup", "Pss:") for p in pids))
