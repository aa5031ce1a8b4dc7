"""Node request latency: our launcher, and a real Nodepool 11 launcher on the same ZooKeeper.

Starts a private TLS ZooKeeper and ``nodepool-launcher`` (loopback, temp dir) and measures, with
``zuul.nodes.NodeRequester``, the time from writing a request to holding its node (fulfilled,
locked, in-use) for SEQUENTIAL requests one after another and CONCURRENT requests at once;
each node is released after. A bare ZooKeeper create+get+delete round trip is measured in the
same run as the floor the ratios refer to. Then (if ``.venv-ext/nodepool`` exists, made by
./run-tests) the same burst against a real Nodepool 11 launcher (static driver, one host with
CONCURRENT slots) and against ours with the same static pool, side by side. The concurrent
bursts are measured MEASURED_BURSTS times per launcher, each starting once every node of the
last one was recycled, after unmeasured bursts that last until ZooKeeper's JIT has settled: a
freshly started JVM spends over a third of its CPU in its JIT compiler for tens of seconds,
which a long-running server did long ago (the tables show the JIT's share that remains, the
warm-up and each measured burst's p50).
Usage: python bench/nodepool.py [--local-only] [SEQUENTIAL [CONCURRENT]]   (defaults 200 and 50;
--local-only skips the side by side with Nodepool 11)
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodepool.zk import NodepoolStore, NodeState  # noqa: E402
from tests.harness.process import ProcessGroup  # noqa: E402
from tests.harness.servers import ZooKeeperServer  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from tests.nodepool.external import (  # noqa: E402
    EXT,
    EXTERNAL_ACL,
    RealNodepoolLauncher,
    nodepool_config,
)
from zuul.nodes import NodeRequester  # noqa: E402


class BenchZooKeeper(ZooKeeperServer):
    """The harness's ZooKeeper (TLS, one node) with a production deployment's log settings.

    ZooKeeper's administrator guide asks for the transaction log on a dedicated device
    (``dataLogDir``); ``forceSync`` stays on (every write is fsynced before it is
    acknowledged). Here tmpfs stands in for that device: the shared disk of a loaded test
    machine takes 10-100 ms per fsync, which would measure the disk, not the protocol.
    ``snapCount`` and ``preAllocSize`` are ZooKeeper's defaults, written out.
    """

    SETTINGS = "forceSync=yes\nsnapCount=100000\npreAllocSize=65536\n"

    def __init__(self, workdir: Path, log_dir: Path) -> None:
        super().__init__(workdir)
        log_dir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / "zoo.cfg"
        cfg.write_text(cfg.read_text() + f"dataLogDir={log_dir}\n" + self.SETTINGS)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def zk_counters(zookeeper: ZooKeeperServer) -> tuple[int, int]:
    """(packets received, last zxid) from ZooKeeper's ``srvr``: every request any client
    sent so far (reads, writes, pings) and the number of writes (a multi is one)."""
    tls = zookeeper.ca.identity(zookeeper.ADMIN).tls_conf()
    context = ssl.create_default_context(cafile=tls["ca"])
    context.check_hostname = False
    context.load_cert_chain(tls["cert"], tls["key"])
    with socket.create_connection(("127.0.0.1", zookeeper.port), timeout=5) as raw, \
            context.wrap_socket(raw) as conn:
        conn.sendall(b"srvr")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    text = data.decode()
    received = re.search(r"Received: (\d+)", text)
    zxid = re.search(r"Zxid: 0x([0-9a-f]+)", text)
    assert received and zxid, text
    return int(received.group(1)), int(zxid.group(1), 16) & 0xFFFFFFFF


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, every thread) of process ``pid`` so far; this process's
    own with None. Unlike latency, it hardly depends on how loaded the machine is."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jit_seconds(pid: int) -> float:
    """CPU time of a JVM's JIT compiler threads (HotSpot names them ``C1/C2 CompilerThread``)
    so far: a freshly started ZooKeeper spends much of a first burst's CPU compiling, which a
    long-running server has done long before."""
    ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if not (task / "comm").read_text().startswith(("C1 Compiler", "C2 Compiler")):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class OpCounter:
    """Per node request over a burst: ZooKeeper reads and writes (server-wide counts:
    launcher and requester; reads include lock checks and pings), and the CPU time the
    launcher and the requester (this process) spent."""

    def __init__(self, zookeeper: ZooKeeperServer) -> None:
        self.zookeeper = zookeeper
        self.launcher_pid: int | None = None
        self.burst_p50s: dict[str, list[float]] = {}
        self.warm_ups: dict[str, WarmUp] = {}
        self._sums: dict[str, tuple[list[float], int]] = {}

    def start(self) -> tuple[float, ...]:
        return (*zk_counters(self.zookeeper), cpu_seconds(self.launcher_pid),
                cpu_seconds(None), cpu_seconds(self.zookeeper.pid),
                jit_seconds(self.zookeeper.pid))

    def count(self, name: str, requests: int, before: tuple[float, ...]) -> None:
        received, zxid = zk_counters(self.zookeeper)
        writes = zxid - before[1]
        launcher_cpu = cpu_seconds(self.launcher_pid) - before[2]
        requester_cpu = cpu_seconds(None) - before[3]
        zookeeper_cpu = cpu_seconds(self.zookeeper.pid) - before[4]
        jit_cpu = jit_seconds(self.zookeeper.pid) - before[5]
        sums, total = self._sums.get(name, ([0.0] * 6, 0))
        sums = [s + v for s, v in zip(sums, (
            received - before[0] - writes, writes, launcher_cpu * 1000,
            requester_cpu * 1000, zookeeper_cpu * 1000, jit_cpu * 1000), strict=True)]
        total += requests
        self._sums[name] = (sums, total)

    @property
    def per_request(self) -> dict[str, tuple[float, ...]]:
        """Per scenario, the counts above averaged over its requests."""
        return {name: tuple(s / total for s in sums)
                for name, (sums, total) in self._sums.items()}


async def one(requester: NodeRequester, n: int, label: str = "bench") -> tuple[float, float]:
    """(request written -> fulfilled seen, whole request() until the node is in-use)."""
    began = time.perf_counter()
    nodeset = await requester.request([label], f"build-{n}")
    elapsed = time.perf_counter() - began
    await requester.release(nodeset)
    return nodeset.fulfilled_seconds, elapsed


WARMUP_WINDOW = 5  # unmeasured bursts before the measured ones, at least ...
WARMUP_LIMIT = 120.0  # ... and until ZooKeeper's JIT has settled, or this many seconds
JIT_SETTLED = 0.05  # settled: its compiler threads took under this share of its CPU
#                     over the last WARMUP_WINDOW bursts
MEASURED_BURSTS = 5  # measured bursts per launcher; the table pools their requests


async def drained(requester: NodeRequester, timeout: float = 60.0) -> None:
    """Wait until the launcher has recycled every node given out (local nodes deleted,
    static ones ready and free again), so a burst starts with the pool's full capacity."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = await asyncio.to_thread(requester.store.nodes)
        if all(n.state == NodeState.READY and not n.allocated_to for n in nodes):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes not recycled after {timeout}s")
        await asyncio.sleep(0.1)


@dataclass
class WarmUp:
    """How the unmeasured bursts (or batches) before a measurement went: count, seconds,
    and the JIT's share of ZooKeeper's CPU in the last of them (bench/nodepool.py: over
    the last WARMUP_WINDOW)."""

    bursts: int = 0
    seconds: float = 0.0
    jit_share: float = 1.0


async def warm_up(requester: NodeRequester, concurrent: int, ops: OpCounter,
                  label: str = "bench") -> WarmUp:
    """Unmeasured bursts, each followed by the pool's recycling, until ZooKeeper's JIT has
    settled: a freshly started JVM compiles its hot paths for tens of seconds (in a burst
    just after start, over a third of its CPU), which a long-running server did long ago.
    Until the JIT's share of ZooKeeper's CPU in the last WARMUP_WINDOW bursts is under
    JIT_SETTLED (or WARMUP_LIMIT seconds passed). Each is counted as a measured one is
    (ZooKeeper's ``srvr`` over a TLS connection of its own, whose handshake code the JIT
    compiles too)."""
    zookeeper_pid = ops.zookeeper.pid
    warm = WarmUp()
    began = time.monotonic()
    window: collections.deque[tuple[float, float]] = collections.deque(maxlen=WARMUP_WINDOW)
    while True:
        cpu, jit = cpu_seconds(zookeeper_pid), jit_seconds(zookeeper_pid)
        zk_counters(ops.zookeeper)
        await asyncio.gather(*(one(requester, -2 - i, label) for i in range(concurrent)))
        zk_counters(ops.zookeeper)
        window.append((jit_seconds(zookeeper_pid) - jit, cpu_seconds(zookeeper_pid) - cpu))
        warm.jit_share = sum(j for j, _ in window) / max(sum(c for _, c in window), 1e-6)
        await drained(requester)
        warm.bursts += 1
        warm.seconds = time.monotonic() - began
        if len(window) == WARMUP_WINDOW and (warm.jit_share < JIT_SETTLED
                                             or warm.seconds > WARMUP_LIMIT):
            return warm


async def measured_bursts(requester: NodeRequester, concurrent: int, label: str,
                          ops: OpCounter, name: str) -> list[tuple[float, float]]:
    """MEASURED_BURSTS bursts of ``concurrent`` requests, each starting with the pool
    recycled; ZooKeeper operations and CPU are counted over the bursts only."""
    done: list[tuple[float, float]] = []
    for _ in range(MEASURED_BURSTS):
        before = ops.start()
        burst_done = await asyncio.gather(*(one(requester, i, label)
                                            for i in range(concurrent)))
        ops.count(name, concurrent, before)
        ops.burst_p50s.setdefault(name, []).append(
            percentile([d[0] for d in burst_done], 50))
        done.extend(burst_done)
        await drained(requester)
    return done


async def measure(zk_conf: dict, sequential: int, concurrent: int,
                  ops: OpCounter) -> dict[str, list[float]]:
    requester = NodeRequester(zk_conf, "bench")
    await requester.start()
    try:
        floor = []
        for i in range(50):
            began = time.perf_counter()
            path = await asyncio.to_thread(requester.client.create, f"/bench-{i}", b"x")
            await asyncio.to_thread(requester.client.get, path)
            await asyncio.to_thread(requester.client.delete, path)
            floor.append(time.perf_counter() - began)
        await one(requester, -1)  # warm up
        before = ops.start()
        seq = [await one(requester, i) for i in range(sequential)]
        ops.count(f"{sequential} sequential (local)", sequential, before)
        ops.warm_ups["local"] = await warm_up(requester, concurrent, ops)
        conc = await measured_bursts(requester, concurrent, "bench", ops,
                                     f"{concurrent} concurrent (local)")
        return {"zookeeper create+get+delete": floor,
                f"{sequential} sequential: fulfilled": [s[0] for s in seq],
                f"{sequential} sequential: in-use": [s[1] for s in seq],
                f"{concurrent} concurrent: fulfilled": [c[0] for c in conc],
                f"{concurrent} concurrent: in-use": [c[1] for c in conc]}
    finally:
        await requester.stop()


async def burst(zk_conf: dict, concurrent: int, label: str, ops: OpCounter,
                name: str) -> list[float]:
    """Bursts of ``concurrent`` requests at once for ``label``: time until each is
    fulfilled."""
    requester = NodeRequester(zk_conf, "bench")
    await requester.start()
    try:
        await one(requester, -1, label)  # warm up
        ops.warm_ups[name] = await warm_up(requester, concurrent, ops, label)
        done = await measured_bursts(requester, concurrent, label, ops, name)
        return [d[0] for d in done]
    finally:
        await requester.stop()


def static_pool(zookeeper: ZooKeeperServer, concurrent: int) -> list[dict]:
    """One local host with ``concurrent`` slots (the TCP check goes to ZooKeeper's port)."""
    return [{"name": "127.0.0.1", "labels": ["burst"], "connection-type": "local",
             "connection-port": zookeeper.port, "max-parallel-jobs": concurrent}]


def side_by_side(base: Path, procs: ProcessGroup, zookeeper: ZooKeeperServer,
                 concurrent: int, ops: OpCounter) -> dict[str, list[float]]:
    """The same static burst against our launcher and a real Nodepool 11 launcher."""
    results = {}
    for name in ("ours", "real"):
        chroot = f"/{name}"
        zookeeper.create_chroot(chroot)
        conf = {**zookeeper.conf(chroot, acl=EXTERNAL_ACL), "session_timeout": 10.0}
        stack = Stack(base, procs, zookeeper, chroot)
        if name == "ours":
            ops.launcher_pid = stack.launcher(f"bench-{name}", **{
                "launcher-name": "bench-static", "zookeeper": conf,
                "labels": [{"name": "burst"}],
                "providers": [{"name": "static", "driver": "static", "pools": [
                    {"name": "main", "nodes": static_pool(zookeeper, concurrent)}]}]}).pid
        else:
            client = zookeeper.client(chroot)
            config = nodepool_config(zookeeper, chroot, base, labels=["burst"],
                                     nodes=static_pool(zookeeper, concurrent))
            real = RealNodepoolLauncher(config, NodepoolStore(client), "real-static", base)
            stack.add(real)
            ops.launcher_pid = real.pid
        results[name] = asyncio.run(burst(conf, concurrent, "burst", ops,
                                          f"{concurrent} concurrent (static, {name})"))
    return results


def main() -> None:
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    args = [a for a in sys.argv[1:] if a != "--local-only"]
    local_only = len(args) < len(sys.argv) - 1
    sequential = min(int(args[0]) if args else 200, 1000)
    concurrent = min(int(args[1]) if len(args) > 1 else 50, 200)
    base = Path(tempfile.mkdtemp(prefix="bench-nodepool-"))
    base.chmod(0o755)
    shm = Path("/dev/shm")
    txn_log = Path(tempfile.mkdtemp(prefix="bench-nodepool-txnlog-",
                                    dir=shm if shm.is_dir() else None))
    procs = ProcessGroup()
    compared: dict[str, list[float]] = {}
    try:
        zookeeper = procs.add(BenchZooKeeper(base / "zk", txn_log))
        zookeeper.start()
        zookeeper.create_chroot("/local")
        stack = Stack(base, procs, zookeeper, "/local")
        launcher = stack.launcher(**{
            "launcher-name": "bench",
            "labels": [{"name": "bench"}],
            "providers": [{"name": "localhost", "driver": "local", "pools": [
                {"name": "main", "max-servers": concurrent, "labels": ["bench"]}]}]})
        ops = OpCounter(zookeeper)
        ops.launcher_pid = launcher.pid
        results = asyncio.run(measure(stack.zookeeper_conf(), sequential, concurrent, ops))
        if not local_only and (EXT / "nodepool" / "bin" / "nodepool-launcher").exists():
            compared = side_by_side(base, procs, zookeeper, concurrent, ops)
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(txn_log, ignore_errors=True)
    floor = statistics.median(results["zookeeper create+get+delete"])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores; ZooKeeper: transaction log on {txn_log.parent}, "
          f"{BenchZooKeeper.SETTINGS.strip().replace(chr(10), ', ')}")
    print(f"{'scenario':<34} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'p50 / zk floor':>15}")
    for name, values in results.items():
        p50 = percentile(values, 50)
        print(f"{name:<34} {len(values):>4} {p50 * 1000:>8.1f} "
              f"{percentile(values, 99) * 1000:>8.1f} {p50 / floor:>15.1f}")
    print("(fulfilled: request written -> fulfilled seen by the requester;"
          " in-use: until its node is locked and in-use. Target p50 < 150 ms, p99 < 300 ms)")
    if compared:
        print()
        print(f"{concurrent} concurrent, static pool    {'ours p50/p99 ms':>18} "
              f"{'Nodepool 11 p50/p99 ms':>24} {'p50 ratio':>10}")
        ours, real = compared["ours"], compared["real"]
        print(f"{'fulfilled':<30} {percentile(ours, 50) * 1000:>8.1f}/"
              f"{percentile(ours, 99) * 1000:<9.1f} {percentile(real, 50) * 1000:>12.1f}/"
              f"{percentile(real, 99) * 1000:<11.1f} "
              f"{percentile(real, 50) / percentile(ours, 50):>9.1f}x")
    print()
    print(f"{'per node request':<40} {'zk reads':>8} {'zk writes':>9} "
          f"{'launcher CPU ms':>15} {'requester CPU ms':>16} {'zookeeper CPU ms':>16} "
          f"{'of it JIT':>9}")
    for name, (reads, writes, launcher_ms, requester_ms, zookeeper_ms, jit_ms) \
            in ops.per_request.items():
        print(f"{name:<40} {reads:>8.1f} {writes:>9.1f} {launcher_ms:>15.1f} "
              f"{requester_ms:>16.1f} {zookeeper_ms:>16.1f} {jit_ms:>9.1f}")
    print("(ZooKeeper: server-wide srvr counts over the burst, launcher + requester; reads"
          " include lock checks, watches' re-reads and pings; a multi-op transaction is one"
          " write. CPU: user + system time of the launcher process (ours, or Nodepool 11's),"
          " of this process (our requester) and of the ZooKeeper server (Java; of it, its JIT"
          " compiler threads) over the measured bursts)")
    print()
    print(f"{'concurrent bursts':<40} {'warm-up bursts':>14} {'s':>6} {'JIT share':>10}"
          f"  p50 ms of each measured burst")
    for name, warm in ops.warm_ups.items():
        label = f"{concurrent} concurrent (local)" if name == "local" else name
        p50s = " ".join(f"{p * 1000:.0f}" for p in ops.burst_p50s.get(label, []))
        print(f"{label:<40} {warm.bursts:>14} {warm.seconds:>6.1f} {warm.jit_share:>10.0%}"
              f"  {p50s}")
    print(f"(unmeasured bursts, each followed by the pool's recycling, until ZooKeeper's JIT"
          f" compiler took under {JIT_SETTLED:.0%} of its CPU in the last {WARMUP_WINDOW}, at"
          f" most {WARMUP_LIMIT:.0f} s; then"
          f" {MEASURED_BURSTS} measured bursts, each starting with every node recycled;"
          " the tables above pool their requests)")


if __name__ == "__main__":
    main()
