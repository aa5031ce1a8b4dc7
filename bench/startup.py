"""Time to start each real service the tests use, measured the way the harness starts them.

Starts ZooKeeper, geard, zuul-scheduler, nodepool-launcher and Apache (each on a free loopback
port, in a temp dir) ROUNDS times, and prints the median and max seconds from exec to ready.
Usage: python bench/startup.py [ROUNDS]
"""
from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.process import ProcessGroup  # noqa: E402
from tests.harness.servers import ZooKeeperServer  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402


def main() -> None:
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # probes while ZooKeeper starts
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    timings: dict[str, list[float]] = {}
    base = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    base.chmod(0o755)
    try:
        for i in range(min(rounds, 10)):
            work = base / f"round-{i}"
            work.mkdir()
            work.chmod(0o755)
            procs = ProcessGroup()
            try:
                zk = procs.add(ZooKeeperServer(work / "zk"))
                zk.start()
                stack = Stack(work, procs, zk, "")
                started = {"zookeeper": zk, "geard": stack.gearman()}
                started["zuul-scheduler"] = stack.scheduler(started["geard"])
                started["nodepool-launcher"] = stack.launcher()
                started["apache"] = stack.apache(
                    zuul={"scheduler": f"127.0.0.1:{started['zuul-scheduler'].port}"},
                    nodepool={"launcher": f"127.0.0.1:{started['nodepool-launcher'].port}"})
                for name, proc in started.items():
                    timings.setdefault(name, []).append(proc.startup_seconds or 0.0)
            finally:
                procs.stop_all()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'service':<20} {'median s':>9} {'max s':>7}  (n={rounds})")
    for name, values in timings.items():
        print(f"{name:<20} {statistics.median(values):>9.3f} {max(values):>7.3f}")
    total = sum(statistics.median(v) for v in timings.values())
    print(f"{'all, sequential':<20} {total:>9.3f}")


if __name__ == "__main__":
    main()
