"""Scheduler durability: recovery time after kill -9, ZooKeeper writes per event, events/s.

Starts a TLS ZooKeeper, geard and zuul-scheduler (real processes on loopback) and prints:

1. events/s over gearman into the scheduler, pipeline state in memory (no ``zookeeper``
   section) and in ZooKeeper, EVENTS pull_request events each enqueuing one item whose
   ``noop`` job ends at once (no reporters): submitted all at once, timed until the last
   is answered; plus the scheduler's ZooKeeper znode writes and transactions per event;
2. for 10, 100 and 1,000 queued items (jobs waiting for nodes no launcher provides): the
   time from ``kill -9`` of the scheduler to every item back in its status, and the part of
   it after the new process first answered (the rest is process start: Python imports).

Usage: python bench/recovery.py [EVENTS]   (default 2000, max 20000)
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gear
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.http import get  # noqa: E402
from tests.harness.process import ProcessGroup, wait_for  # noqa: E402
from tests.harness.servers import HTTPService, ZooKeeperServer  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402

TENANT = {
    "tenants": [{
        "name": "bench",
        "pipelines": [{"name": "check", "manager": "independent",
                       "trigger": {"github": [{"event": "pull_request",
                                               "action": ["opened"]}]}}],
        "jobs": [{"name": "wait", "playbook": "playbooks/none.yaml",
                  "nodeset": ["no-such-label"]}],
        "projects": [{"name": "org/fast", "connection": "github",
                      "pipelines": {"check": ["noop"]}},
                     {"name": "org/queued", "connection": "github",
                      "pipelines": {"check": ["wait"]}}],
    }],
    "config_repo": "config-repo",
}


def _event(project: str, number: int) -> gear.Job:
    delivery = uuid.uuid4().hex
    body = {"action": "opened", "number": number, "repository": {"full_name": project},
            "pull_request": {"number": number, "title": "t", "state": "open",
                             "head": {"sha": f"{number:040x}", "ref": "f"},
                             "base": {"ref": "main"}, "html_url": ""}}
    payload = {"connection": "github", "delivery": delivery, "event": "pull_request",
               "headers": {}, "body": json.dumps(body), "received_at": time.time()}
    return gear.Job(b"zuul:event:github", json.dumps(payload).encode())


def _send(client: gear.Client, project: str, first: int, count: int) -> float:
    """Submit ``count`` events at once; seconds until every one is answered."""
    jobs = [_event(project, first + i) for i in range(count)]
    began = time.perf_counter()
    for job in jobs:
        client.submitJob(job)
    wait_for(lambda: all(j.complete for j in jobs), 300, interval=0.005,
             what="every event answered")
    elapsed = time.perf_counter() - began
    statuses = {json.loads(b"".join(j.data))["status"] for j in jobs}
    assert statuses == {"accepted"}, statuses
    return elapsed


def _metric(url: str, name: str) -> float:
    for line in get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _count(url: str) -> int:
    try:
        doc = get(url + "/api/tenant/bench/status",
                  headers={"Cache-Control": "no-cache"}).json()
    except (OSError, ValueError):
        return -1
    return sum(len(h) for p in doc["pipelines"] for q in p["change_queues"]
               for h in q["heads"])


def _scheduler(stack: Stack, zk: ZooKeeperServer | None, name: str, geard: Any,
               tenants: Path) -> HTTPService:
    conf: dict[str, Any] = {"tenant_config": str(tenants), "gearman": geard.conf(),
                            "state_dir": str(stack.workdir / f"state-{name}"),
                            "connections": {"github": {"api_url": "http://127.0.0.1:9"}}}
    if zk is not None:
        conf["zookeeper"] = {**zk.conf(f"/bench-{name}"), "session_timeout": 4.0}
        zk.create_chroot(f"/bench-{name}")
    return stack.service(f"zuul-scheduler-{name}", "zuul-scheduler", conf)


def main() -> None:
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    events = min(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, 20000)
    base = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    base.chmod(0o755)
    procs = ProcessGroup()
    try:
        zk = procs.add(ZooKeeperServer(base / "zk"))
        zk.start()
        stack = Stack(base, procs, zk, "")
        geard = stack.gearman(nodelay=True)
        (base / "config-repo" / "playbooks").mkdir(parents=True)
        (base / "config-repo" / "playbooks" / "none.yaml").write_text("- hosts: all\n")
        tenants = base / "tenant.yaml"
        tenants.write_text(yaml.safe_dump(TENANT))
        client = geard.client("bench")

        print(f"events/s over gearman ({events} pull_request events, each one item, "
              "noop job, submitted at once)")
        print(f"{'state':<12} {'events/s':>9} {'znode writes/event':>19} "
              f"{'transactions/event':>19}")
        for mode, server in (("in memory", None), ("ZooKeeper", zk)):
            scheduler = _scheduler(stack, server, mode.split()[-1].lower(), geard, tenants)
            _send(client, "org/fast", 1, 50)  # warm up
            writes = _metric(scheduler.url, "zuul_state_znode_writes_total")
            txns = _metric(scheduler.url, "zuul_state_transactions_total")
            seconds = _send(client, "org/fast", 1000, events)
            writes = _metric(scheduler.url, "zuul_state_znode_writes_total") - writes
            txns = _metric(scheduler.url, "zuul_state_transactions_total") - txns
            print(f"{mode:<12} {events / seconds:>9.0f} {writes / events:>19.2f} "
                  f"{txns / events:>19.3f}")
            scheduler.stop()

        print()
        print("kill -9 of the scheduler -> every queued item back in its status")
        print(f"{'items':>6} {'total s':>8} {'after answering s':>18}")
        scheduler = _scheduler(stack, zk, "recovery", geard, tenants)
        queued = 0
        for target in (10, 100, 1000):
            _send(client, "org/queued", 100000 + queued, target - queued)
            queued = target
            wait_for(lambda n=target: _count(scheduler.url) == n, 60, what=f"{target} items")
            scheduler.kill()
            killed = time.perf_counter()
            scheduler.start()
            answering = time.perf_counter()
            wait_for(lambda n=target: _count(scheduler.url) == n, 120, interval=0.02,
                     what=f"{target} items back")
            done = time.perf_counter()
            print(f"{target:>6} {done - killed:>8.2f} {done - answering:>18.2f}")
        client.shutdown()
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
