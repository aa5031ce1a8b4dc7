"""Console line latency: from the executor writing a line to the browser's websocket receiving
it, through Apache and directly, with the streamer told of new data (inotify).

Starts ``zuul-log-streamer`` and Apache in front of it (loopback, temp dir), opens one viewer
through Apache and one directly on the same running build, then writes LINES console lines
the way the executor does (``ConsoleLog.write``: one flushed line each) at random intervals
of 2-20 ms, each carrying the time it was written, and prints the latency percentiles.

``--pythonpath DIR`` runs the streamer with ``PYTHONPATH=DIR`` first, to measure another
version (e.g. the polling streamer: ``git archive 26f1403 zuul | tar -x -C DIR``).

Usage: python bench/console_latency.py [--pythonpath DIR] [LINES]  (default 1000, max 10000)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.ports import free_port  # noqa: E402
from tests.harness.process import ProcessGroup  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from zuul.executor.console import ConsoleLog, write_build_json  # noqa: E402

TENANT = "bench"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


async def viewer(session: aiohttp.ClientSession, url: str, build: str,
                 latencies: dict[int, float], started: asyncio.Event) -> None:
    """Receive the build's console; record now - written time of every probe line."""
    async with session.ws_connect(url) as ws:
        await ws.send_json({"uuid": build, "logfile": "console.log"})
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time()
            for line in msg.data.splitlines():
                payload = line.rpartition(" | ")[2]
                if payload == "warm-up":
                    started.set()
                elif payload.startswith("probe "):
                    _, index, written = payload.split()
                    latencies[int(index)] = (now - float(written)) * 1000


async def measure(log_root: Path, urls: dict[str, str],
                  lines: int) -> dict[str, dict[int, float]]:
    build = uuid.uuid4().hex
    console = ConsoleLog(log_root / build, {"uuid": build, "tenant": TENANT})
    results: dict[str, dict[int, float]] = {name: {} for name in urls}
    rng = random.Random(42)
    async with aiohttp.ClientSession() as session:
        ready = {name: asyncio.Event() for name in urls}
        tasks = [asyncio.create_task(viewer(session, url, build, results[name], ready[name]))
                 for name, url in urls.items()]
        async with asyncio.timeout(30):
            while not all(event.is_set() for event in ready.values()):
                console.write("warm-up")
                await asyncio.sleep(0.05)
        for index in range(lines):
            console.write(f"probe {index} {time.time():.6f}")
            await asyncio.sleep(rng.uniform(0.002, 0.020))
        console.close()
        write_build_json(console.log_dir, {"uuid": build, "tenant": TENANT, "result": "SUCCESS",
                                           "start_time": 0, "end_time": time.time()})
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythonpath", help="run the streamer with this PYTHONPATH")
    parser.add_argument("lines", nargs="?", type=int, default=1000)
    args = parser.parse_args()
    lines = min(args.lines, 10000)
    base = Path(tempfile.mkdtemp(prefix="bench-console-latency-"))
    base.chmod(0o755)
    log_root = base / "logs"
    log_root.mkdir(mode=0o755)
    procs = ProcessGroup()
    try:
        stack = Stack(base, procs)
        env = {"PYTHONPATH": args.pythonpath} if args.pythonpath else None
        streamer = stack.service("zuul-log-streamer", "zuul-log-streamer",
                                 {"log_root": str(log_root)}, env=env)
        apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{free_port()}",
                                    "streamer": f"127.0.0.1:{streamer.port}",
                                    "log_root": str(log_root)})
        path = f"/api/tenant/{TENANT}/console-stream"
        urls = {"through Apache": apache.url.replace("http", "ws", 1) + "/zuul" + path,
                "direct": streamer.url.replace("http", "ws", 1) + path}
        results = asyncio.run(measure(log_root, urls, lines))
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)
    print(f"console line written -> received, {lines} lines at random 2-20 ms intervals, "
          f"streamer: {args.pythonpath or 'this checkout'} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'viewer':<24} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    apache, direct = results["through Apache"], results["direct"]
    # The same line seen by both viewers: what Apache adds on top of the streamer.
    added = [apache[i] - direct[i] for i in apache.keys() & direct.keys()]
    rows = [*((name, list(values.values())) for name, values in results.items()),
            ("Apache minus direct", added)]
    for name, values in rows:
        print(f"{name:<24} {len(values):>6} {statistics.median(values):>8.2f} "
              f"{percentile(values, 90):>8.2f} {percentile(values, 99):>8.2f} "
              f"{max(values):>8.2f}")
    print("(target: through Apache p99 < 10 ms)")


if __name__ == "__main__":
    main()
