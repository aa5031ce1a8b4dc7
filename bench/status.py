"""Status JSON: (a) build time with N queued items; (b) GET status req/s and p99 latency
through Apache vs. the scheduler port vs. Apache serving the same bytes as a static file;
(c) 50 dashboards polling through Apache: the scheduler's request rate, and every body checked.

(a) runs in-process on a Scheduler holding N items (gate, window 1, one job each).
(b) starts real geard + zuul-scheduler + Apache (loopback), enqueues N changes through the
admin API into a gate whose head runs a long job (so nothing moves), then loads each target
for SECONDS with CONCURRENCY connections, side by side in one run. (b) and (c) run against
two Apaches in front of the same scheduler: the generated vhost (status cached by
mod_cache_disk) and the same vhost with ``status_cache: {enabled: false}``.
Usage: python bench/status.py [ITEMS=1000] [SECONDS=5] [CONCURRENCY=8]
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.http import get, request  # noqa: E402
from tests.harness.process import ProcessGroup, wait_for  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from zuul.db.history import BuildHistory  # noqa: E402
from zuul.scheduler.model import Change  # noqa: E402
from zuul.scheduler.scheduler import Scheduler  # noqa: E402
from zuul.scheduler.status import status_document  # noqa: E402

AB = shutil.which("ab")
ROUNDS = 3
SECRET = "bench-secret-of-at-least-32-bytes-long"
TENANT = {"tenants": [{
    "name": "bench",
    "pipelines": [{"name": "gate", "manager": "dependent", "window": 1}],
    "jobs": [{"name": "hold", "playbook": "hold.yaml", "timeout": 3600}],
    "projects": [{"name": "org/project", "pipelines": {"gate": ["hold"]}}]}]}
DASHBOARDS = 50
DASHBOARD_INTERVAL = 5.0   # the dashboard's status refresh (zuul/web/static/js/status.js)
DASHBOARD_SECONDS = 20.0
# What Chromium sends for the dashboard's fetch(url, {cache: 'no-cache'}).
BROWSER = {"Accept-Encoding": "gzip, deflate, br", "Cache-Control": "max-age=0"}
PLAYBOOK = "- hosts: all\n  gather_facts: false\n  tasks:\n" \
           "    - ansible.builtin.wait_for: {timeout: 3000}\n"


def write_tenant(work: Path) -> Path:
    (work / "hold.yaml").write_text(PLAYBOOK)
    path = work / "tenant.yaml"
    path.write_text(yaml.safe_dump(TENANT))
    return path


def bench_build(work: Path, items: int) -> tuple[float, float, int]:
    """Median and max ms to build + serialise status.json with ``items`` queued."""
    sched = Scheduler(str(write_tenant(work)), {"github": {}},
                      BuildHistory(f"sqlite:///{work / 'bench.db'}"))
    sched.load_layout()
    for i in range(items):
        change = Change("org/project", "github", f"refs/pull/{i}/head", f"{i:040x}", number=i,
                        url=f"https://github.com/org/project/pull/{i}")
        sched.enqueue("bench", "gate", change)
    manager = sched.managers["bench"]["gate"]
    for index, item in enumerate(manager.items):
        item.active = index < 1
    timings = []
    size = 0
    for _ in range(30):
        began = time.perf_counter()
        body = json.dumps(status_document(sched, "bench"), separators=(",", ":")).encode()
        timings.append((time.perf_counter() - began) * 1000)
        size = len(body)
    return statistics.median(timings), max(timings), size


async def load(url: str, seconds: float, concurrency: int, headers: dict[str, str]
               ) -> tuple[float, float, float]:
    """req/s, median and p99 latency (ms) of GET ``url``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append((time.perf_counter() - began) * 1000)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies), p99


def load_ab(url: str, seconds: float, concurrency: int, headers: dict[str, str]
            ) -> tuple[float, float, float]:
    """req/s, median and p99 latency (ms) of GET ``url`` measured by ApacheBench (C)."""
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run([AB, "-k", "-q", "-c", str(concurrency), "-t", str(max(1, round(seconds))),
                          "-n", "1000000", *extra, url], capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    median = float(re.search(r"^\s+50%\s+(\d+)", out, re.M).group(1))
    p99 = float(re.search(r"^\s+99%\s+(\d+)", out, re.M).group(1))
    return rps, median, p99


def measure(url: str, seconds: float, concurrency: int, headers: dict[str, str]
            ) -> tuple[float, float, float]:
    """Load ``url`` with ab when installed (less client CPU), else with aiohttp."""
    if AB:
        return load_ab(url, seconds, concurrency, headers)
    return asyncio.run(load(url, seconds, concurrency, headers))


def body_matches_etag(body: bytes, headers: Any) -> bool:
    """True when ``body`` parses as JSON and is the document of its ETag (doc/internals.rst)."""
    try:
        raw = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
        json.loads(raw)
    except (OSError, EOFError, ValueError):
        return False
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return headers.get("ETag", "").strip('"').removesuffix("-gzip") == digest


async def dashboards(url: str, count: int, interval: float, seconds: float
                     ) -> tuple[float, float, int, int]:
    """``count`` dashboards poll ``url`` like the browser does (If-None-Match, max-age=0).

    Returns the dashboards' req/s, the req/s that reached the scheduler (answers Apache's
    cache did not serve: X-Cache not HIT), the 200s and the 200s whose body was wrong.
    """
    totals = {"requests": 0, "backend": 0, "ok": 0, "bad": 0}

    async def dashboard(offset: float) -> None:
        await asyncio.sleep(offset)
        etag = None
        deadline = time.monotonic() + seconds - offset
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            while time.monotonic() < deadline:
                headers = {**BROWSER, **({"If-None-Match": etag} if etag else {})}
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                totals["requests"] += 1
                if not response.headers.get("X-Cache", "").startswith("HIT"):
                    totals["backend"] += 1
                if response.status == 200:
                    good = body_matches_etag(body, response.headers)
                    totals["ok" if good else "bad"] += 1
                    etag = response.headers.get("ETag")
                await asyncio.sleep(interval)

    await asyncio.gather(*(dashboard(i * interval / count) for i in range(count)))
    return (totals["requests"] / seconds, totals["backend"] / seconds,
            totals["ok"] + totals["bad"], totals["bad"])


def bench_http(work: Path, items: int, seconds: float, concurrency: int) -> None:
    procs = ProcessGroup()
    try:
        stack = Stack(work, procs)
        geard = stack.gearman()
        logs = work / "logs"
        logs.mkdir(mode=0o755)
        scheduler = stack.scheduler(geard, tenant_config=str(write_tenant(work)), auth={
            "algorithm": "HS256", "secret": SECRET, "issuer": "bench", "audience": "zuul"})
        apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                    "log_root": str(logs)})
        uncached = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"},
                                status_cache={"enabled": False})
        token = jwt.encode({"iss": "bench", "aud": "zuul", "exp": int(time.time()) + 3600,
                            "zuul": {"admin": ["bench"]}}, SECRET, algorithm="HS256")
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(items):
            response = request("POST", f"{scheduler.url}/api/tenant/bench/project/org/project/"
                               "enqueue", body={"pipeline": "gate", "change": f"{i},{i:040x}"},
                               headers=headers)
            assert response.status == 200, response.text
        path = "/api/tenant/bench/status"
        wait_for(lambda: len(get(scheduler.url + path).body) > items * 100, 10,
                 what="status with every item")
        body = get(scheduler.url + path).body
        (logs / "status.json").write_bytes(body)
        (logs / "status.json").chmod(0o644)
        gz = {"Accept-Encoding": "gzip"}
        targets = [("scheduler port (direct)", scheduler.url + path, {}),
                   ("Apache -> scheduler", apache.url + "/zuul" + path, {}),
                   ("Apache, no cache", uncached.url + "/zuul" + path, {}),
                   ("Apache static file", apache.url + "/zuul/logs/status.json", {}),
                   ("gzip: direct", scheduler.url + path, gz),
                   ("gzip: Apache -> scheduler", apache.url + "/zuul" + path, gz),
                   ("gzip: Apache, no cache", uncached.url + "/zuul" + path, gz)]
        # Interleaved rounds, median per target: load from other processes hits all alike.
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, *_ in targets}
        for _ in range(ROUNDS):
            for name, url, headers in targets:
                runs[name].append(measure(url, seconds / ROUNDS, concurrency, headers))
        results = {name: sorted(r)[len(r) // 2] for name, r in runs.items()}
        gz_size = len(gzip.compress(body, 5))
        print(f"\n(b) GET status, {len(body)} bytes, {items} items, {concurrency} connections, "
              f"{seconds:.0f} s each in {ROUNDS} interleaved rounds (median round), "
              f"client: {'ab -k' if AB else 'aiohttp'}")
        print(f"gzip rows: Accept-Encoding: gzip, {gz_size} bytes on the wire; each row is "
              "compared with the direct row of the same encoding")
        print(f"{'target':<26} {'req/s':>8} {'median ms':>10} {'p99 ms':>8} {'vs direct':>10}")
        for name, (rps, median, p99) in results.items():
            direct = results["gzip: direct" if name.startswith("gzip") else targets[0][0]][0]
            print(f"{name:<26} {rps:>8.0f} {median:>10.2f} {p99:>8.2f} {rps / direct:>9.2f}x")
        print(f"\n(c) {DASHBOARDS} dashboards polling status every {DASHBOARD_INTERVAL:.0f} s "
              f"for {DASHBOARD_SECONDS:.0f} s (gzip, If-None-Match, max-age=0), queue still")
        print(f"{'target':<26} {'polls/s':>8} {'scheduler req/s':>16} {'200s':>6} "
              f"{'bad bodies':>11}")
        for name, base in (("Apache (cached)", apache.url), ("Apache, no cache", uncached.url)):
            polls, backend, oks, bad = asyncio.run(dashboards(
                base + "/zuul" + path, DASHBOARDS, DASHBOARD_INTERVAL, DASHBOARD_SECONDS))
            print(f"{name:<26} {polls:>8.1f} {backend:>16.1f} {oks:>6} {bad:>11}")
    finally:
        procs.stop_all()


def main() -> None:
    logging.disable(logging.WARNING)
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    work = Path(tempfile.mkdtemp(prefix="bench-status-"))
    work.chmod(0o755)
    try:
        median, worst, size = bench_build(work, items)
        print(f"(a) status.json with {items} queued items: build+serialise median "
              f"{median:.2f} ms, max {worst:.2f} ms, {size} bytes (target < 20 ms)")
        bench_http(work, items, min(seconds, 30), min(concurrency, 64))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
