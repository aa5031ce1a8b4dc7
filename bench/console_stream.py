"""Console streaming: line latency through Apache vs direct, streamer memory per viewer, and
the front door under many idle streams.

Starts a real ``zuul-log-streamer`` and Apache in front of it (loopback, temp dir), writes a
running build's console log the way the executor does, and measures in one run:

1. line-written-to-received latency (p50/p99) for a viewer through Apache and one connected
   directly, both watching the same build at the same time;
2. the streamer's resident memory with 1, 100 and 1,000 concurrent viewers of one build
   (every viewer shown to receive a live line before the measurement);
3. through Apache: ``/zuul/api/info`` latency (p50/p99, new connection per request) with 0,
   100, 500 and 1,000 idle console streams open, and Apache's memory (RSS and PSS summed over
   its processes) per 100 open tunnels.

Usage: python bench/console_stream.py [LINES]   (default 400 lines, at most 5,000)
"""
from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.frontdoor.streams import (  # noqa: E402
    apache_memory,
    latencies,
    open_viewers,
)
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.process import ProcessGroup  # noqa: E402
from tests.harness.servers import raise_nofile  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from zuul.executor.console import ConsoleLog, write_build_json  # noqa: E402

VIEWER_COUNTS = (1, 100, 1000)
STREAM_COUNTS = (0, 100, 500, 1000)
API_REQUESTS = 300
LINE_INTERVAL = 0.005


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


async def open_viewer(session: aiohttp.ClientSession, url: str, build: str
                      ) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url)
    await ws.send_str(json.dumps({"uuid": build, "logfile": "console.log"}))
    return ws


async def collect_latencies(ws: aiohttp.ClientWebSocketResponse, out: list[float]) -> None:
    """Record now - written-at for every ``probe <t>`` line until the stream closes."""
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        now = time.time()
        for line in msg.data.splitlines():
            _, _, payload = line.rpartition(" | ")
            if payload.startswith("probe "):
                out.append((now - float(payload.split()[1])) * 1000)


async def latency(log_root: Path, direct_url: str, apache_url: str, lines: int
                  ) -> dict[str, list[float]]:
    build = uuid.uuid4().hex
    console = ConsoleLog(log_root / build, {"uuid": build, "tenant": "bench"})
    results: dict[str, list[float]] = {"direct": [], "apache": []}
    async with aiohttp.ClientSession() as session:
        viewers = {name: await open_viewer(session, url, build)
                   for name, url in (("direct", direct_url), ("apache", apache_url))}
        console.write("warm-up")  # both viewers attached and live before the first probe
        await asyncio.wait_for(asyncio.gather(*(wait_for_text(ws, "warm-up")
                                                for ws in viewers.values())), 30)
        readers = [asyncio.create_task(collect_latencies(ws, results[name]))
                   for name, ws in viewers.items()]
        for _ in range(lines):
            console.write(f"probe {time.time():.6f}")
            await asyncio.sleep(LINE_INTERVAL)
        console.close()
        write_build_json(console.log_dir, {"uuid": build, "result": "SUCCESS",
                                           "start_time": 0, "end_time": time.time()})
        await asyncio.wait_for(asyncio.gather(*readers), 60)
    return results


async def wait_for_text(ws: aiohttp.ClientWebSocketResponse, marker: str) -> None:
    seen = ""
    while marker not in seen:
        seen = (seen + await ws.receive_str())[-4096:]


async def memory(log_root: Path, direct_url: str, streamer_pid: int) -> list[tuple[int, int]]:
    rows = []
    for count in VIEWER_COUNTS:
        build = uuid.uuid4().hex
        console = ConsoleLog(log_root / build, {"uuid": build, "tenant": "bench"})
        console.write("history line " + "h" * 100)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            viewers = await asyncio.gather(*(open_viewer(session, direct_url, build)
                                             for _ in range(count)))
            marker = f"live marker {count}"
            console.write(marker)
            await asyncio.wait_for(asyncio.gather(*(wait_for_text(ws, marker)
                                                    for ws in viewers)), 120)
            rows.append((count, rss_kib(streamer_pid)))
            console.close()
            write_build_json(console.log_dir, {"uuid": build, "result": "SUCCESS",
                                               "start_time": 0, "end_time": time.time()})
            await asyncio.gather(*(ws.close() for ws in viewers))
    return rows


async def front_door(apache_url: str, apache_pid: int, log_root: Path
                     ) -> list[tuple[int, float, float, int, int]]:
    """API latency and Apache memory with STREAM_COUNTS idle viewers open through Apache."""
    build = uuid.uuid4().hex
    ConsoleLog(log_root / build, {"uuid": build, "tenant": "bench"}).write("history " + "h" * 100)
    url = apache_url.replace("http", "ws", 1) + "/zuul/api/tenant/bench/console-stream"
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        viewers: list[aiohttp.ClientWebSocketResponse] = []
        for count in STREAM_COUNTS:
            viewers += await open_viewers(session, url, build, count - len(viewers))
            rss, pss = apache_memory(apache_pid)
            times = await latencies(apache_url + "/zuul/api/info", API_REQUESTS)
            assert not any(ws.closed for ws in viewers)
            rows.append((count, statistics.median(times), percentile(times, 99), rss, pss))
        await asyncio.gather(*(ws.close() for ws in viewers))
    return rows


def main() -> None:
    lines = min(int(sys.argv[1]) if len(sys.argv) > 1 else 400, 5000)
    raise_nofile(4 * max(STREAM_COUNTS) + 4096)
    base = Path(tempfile.mkdtemp(prefix="bench-console-"))
    base.chmod(0o755)
    log_root = base / "logs"
    log_root.mkdir(mode=0o755)
    procs = ProcessGroup()
    try:
        stack = Stack(base, procs)
        # One client (this process) opens every viewer: lift the per-client cap.
        streamer = stack.service("zuul-log-streamer", "zuul-log-streamer",
                                 {"log_root": str(log_root),
                                  "max_streams_per_client": 2 * max(VIEWER_COUNTS)})
        apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{free_port()}",
                                    "streamer": f"127.0.0.1:{streamer.port}",
                                    "log_root": str(log_root)})
        path = "/api/tenant/bench/console-stream"
        direct_url = streamer.url.replace("http", "ws", 1) + path
        apache_url = apache.url.replace("http", "ws", 1) + "/zuul" + path
        lat = asyncio.run(latency(log_root, direct_url, apache_url, lines))
        mem = asyncio.run(memory(log_root, direct_url, streamer.pid))
        geard = stack.gearman()
        scheduler = stack.scheduler(geard)
        door = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                  "streamer": f"127.0.0.1:{streamer.port}"})
        front = asyncio.run(front_door(door.url, door.pid, log_root))
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)

    print(f"Line written -> received latency, {lines} lines every {LINE_INTERVAL * 1000:.0f} ms,"
          " both viewers on the same build at once (streamer poll interval 20 ms)")
    print(f"{'path':<16} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name in ("direct", "apache"):
        values = lat[name]
        print(f"{name:<16} {len(values):>5} {statistics.median(values):>8.2f} "
              f"{percentile(values, 99):>8.2f} {max(values):>8.2f}")
    ratio = percentile(lat["apache"], 99) / max(percentile(lat["direct"], 99), 1e-9)
    print(f"apache/direct p99 ratio: {ratio:.2f}  (target: apache p99 < 100 ms)")
    print()
    print("Streamer resident memory, N concurrent viewers of one running build (direct)")
    print(f"{'viewers':>8} {'RSS MiB':>9} {'KiB per extra viewer':>21}")
    base_count, base_rss = mem[0]
    for count, rss in mem:
        per = "" if count == base_count else f"{(rss - base_rss) / (count - base_count):.1f}"
        print(f"{count:>8} {rss / 1024:>9.1f} {per:>21}")
    print("(target: < 50 KiB per extra viewer)")
    print()
    print("Through Apache: /zuul/api/info with N idle console streams open (new connection per "
          f"request, {API_REQUESTS} requests, 4 at a time); Apache memory over all its processes")
    print(f"{'streams':>8} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} {'PSS MiB':>8}")
    for count, p50, p99, rss, pss in front:
        print(f"{count:>8} {p50:>8.1f} {p99:>8.1f} {rss / 1024:>8.1f} {pss / 1024:>8.1f}")
    first, last = front[0], front[-1]
    per = 100 / (last[0] - first[0])
    print(f"per 100 tunnels: RSS {(last[3] - first[3]) * per / 1024:.1f} MiB, "
          f"PSS {(last[4] - first[4]) * per / 1024:.1f} MiB  (target: API p99 < 50 ms)")


if __name__ == "__main__":
    main()
