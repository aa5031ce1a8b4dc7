"""Scheduler durability: recovery time after kill -9, ZooKeeper writes per event, events/s.

Starts a TLS ZooKeeper, geard and zuul-scheduler (real processes on loopback) and prints:

1. events/s over gearman into the scheduler, pipeline state in memory (no ``zookeeper``
   section) and in ZooKeeper, EVENTS pull_request events each enqueuing one item whose
   ``noop`` job ends at once (no reporters): submitted all at once by ``FEEDERS`` gear
   clients in parallel (gear's submitJob waits for JOB_CREATED, so one client feeds one
   event per geard round trip), timed until the last is answered, after WARM_UP events
   (ZooKeeper's JVM compiles its hot paths during the first thousands of requests; a
   deployed one has long done so); plus ZooKeeper znode writes and transactions per event,
   and the CPU ms per event of every process on the path: the scheduler, geard, ZooKeeper
   and the feeding clients (this process). Their sum bounds events/s on this machine
   (cores x 1000 / sum); the scheduler's own CPU bounds what one scheduler can take when it
   has a core to itself, as when geard and ZooKeeper run on other hosts;
2. the same end to end through Apache: EVENTS signed GitHub deliveries (distinct pull
   requests) POSTed with 32 in flight to Apache, balanced over two ``zuul-webhook`` workers,
   which submit them over gearman to the scheduler; accept/s (200s per second of the stream)
   and e2e/s (from the first POST until the scheduler has recorded the last delivery);
3. for 10, 100 and 1,000 queued items (jobs waiting for nodes no launcher provides): the
   time from ``kill -9`` of the scheduler to every item back in its status, and the part of
   it after the new process first answered (the rest is process start: Python imports).

ZooKeeper runs with a production deployment's log settings (``bench.nodepool.BenchZooKeeper``:
the transaction log on its own device, tmpfs here, fsync on).
The machine's load average is printed with the numbers: on a shared machine events/s
follows the CPU the scheduler gets; CPU ms per event does not.

Usage: python bench/recovery.py [EVENTS]   (default 2000, max 20000)
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gear
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.nodepool import BenchZooKeeper, WarmUp, jit_seconds  # noqa: E402
from tests.harness.http import get  # noqa: E402
from tests.harness.process import ProcessGroup, proc_stats, wait_for  # noqa: E402
from tests.harness.servers import HTTPService, ZooKeeperServer  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from tests.webhook.conftest import fixture_body, start_worker  # noqa: E402
from tests.webhook.load import LoadGenerator  # noqa: E402
from zuul.lib.event_jobs import FUNCTION_PREFIX  # noqa: E402
from zuul.webhook.config import SUBMIT_SCHEMA  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
E2E_CONCURRENCY = 32
FEEDERS = 8  # gear clients submitting events at once
BATCH = SUBMIT_SCHEMA({})["batch_events"]  # events per job when batched: the workers' default
WARM_UP = 2000  # events sent (per scheduler) before measuring, at least ...
WARM_UP_LIMIT = 120.0  # ... and with ZooKeeper, until its JIT has settled (or this many s)
JIT_SETTLED = 0.05  # settled: its compiler threads took under this share of its CPU
#                     over the last warm-up batch

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


def _event(project: str, number: int) -> dict[str, Any]:
    delivery = uuid.uuid4().hex
    body = {"action": "opened", "number": number, "repository": {"full_name": project},
            "pull_request": {"number": number, "title": "t", "state": "open",
                             "head": {"sha": f"{number:040x}", "ref": "f"},
                             "base": {"ref": "main"}, "html_url": ""}}
    return {"connection": "github", "delivery": delivery, "event": "pull_request",
            "headers": {}, "body": json.dumps(body), "received_at": time.time()}


def _job(events: list[dict[str, Any]]) -> gear.Job:
    """One event's job (a JSON object), or a batch's (an array), as the workers send."""
    return gear.Job(f"{FUNCTION_PREFIX}github".encode(),
                    json.dumps(events[0] if len(events) == 1 else events).encode())


def _statuses(job: gear.Job) -> list[str]:
    answer = json.loads(b"".join(job.data))
    return [s["status"] for s in answer["statuses"]] if "statuses" in answer \
        else [answer["status"]]


def _send(clients: list[gear.Client], project: str, first: int, count: int,
          per_job: int = 1) -> float:
    """Submit ``count`` events at once, ``per_job`` to a gearman job, spread over
    ``clients`` submitting in parallel (gear's submitJob waits for each JOB_CREATED: one
    client alone would feed one job per geard round trip); seconds until every one is
    answered."""
    events = [_event(project, first + i) for i in range(count)]
    jobs = [_job(events[i:i + per_job]) for i in range(0, count, per_job)]
    began = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(lambda c: [c[1].submitJob(job) for job in jobs[c[0]::len(clients)]],
                      enumerate(clients)))
    wait_for(lambda: all(j.complete for j in jobs), 300, interval=0.005,
             what="every event answered")
    elapsed = time.perf_counter() - began
    statuses = {status for j in jobs for status in _statuses(j)}
    assert statuses == {"accepted"}, statuses
    return elapsed


def _warm_up(clients: list[gear.Client], zookeeper_pid: int | None) -> WarmUp:
    """Unmeasured events before a measurement: a batch of WARM_UP, and with ZooKeeper more
    batches until its JIT compiler has settled (a freshly started JVM spends much of its
    first minute's CPU compiling, which a deployed server did long ago), at most
    WARM_UP_LIMIT seconds. ``bursts`` of the result counts the batches sent."""
    began = time.monotonic()
    warm = WarmUp()
    while True:
        cpu = jit = 0.0
        if zookeeper_pid is not None:
            cpu, jit = _cpu_seconds(zookeeper_pid), jit_seconds(zookeeper_pid)
        # Alternately one and BATCH events to a job: both shapes are measured.
        _send(clients, "org/fast", warm.bursts * WARM_UP + 1, WARM_UP,
              BATCH if warm.bursts % 2 else 1)
        warm.bursts += 1
        warm.seconds = time.monotonic() - began
        if zookeeper_pid is None:
            return warm
        warm.jit_share = ((jit_seconds(zookeeper_pid) - jit)
                          / max(_cpu_seconds(zookeeper_pid) - cpu, 1e-6))
        if warm.jit_share < JIT_SETTLED or warm.seconds > WARM_UP_LIMIT:
            return warm


def _gearman_row(mode: str, per_job: int, scheduler: HTTPService, geard: Any,
                 zk: ZooKeeperServer, clients: list[gear.Client], first: int,
                 events: int) -> None:
    """Measure and print one row of the over-gearman table."""
    writes = _metric(scheduler.url, "zuul_state_znode_writes_total")
    txns = _metric(scheduler.url, "zuul_state_transactions_total")
    pids = {"scheduler": scheduler.pid, "geard": geard.pid, "zk": zk.pid}
    cpu = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    feeders = time.process_time()
    jit = jit_seconds(zk.pid)
    seconds = _send(clients, "org/fast", first, events, per_job)
    ms = {name: (_cpu_seconds(pid) - cpu[name]) * 1000 / events for name, pid in pids.items()}
    jit_ms = (jit_seconds(zk.pid) - jit) * 1000 / events
    ms["feeders"] = (time.process_time() - feeders) * 1000 / events
    writes = _metric(scheduler.url, "zuul_state_znode_writes_total") - writes
    txns = _metric(scheduler.url, "zuul_state_transactions_total") - txns
    total = sum(ms.values())
    print(f"{mode:<12} {per_job:>7} {events / seconds:>9.0f} {writes / events:>13.2f} "
          f"{txns / events:>13.3f}   {'':>13} {ms['scheduler']:>9.2f} "
          f"{ms['geard']:>6.2f} {ms['zk']:>9.2f} {jit_ms:>6.2f} {ms['feeders']:>8.2f} "
          f"{total:>6.2f}   {(os.cpu_count() or 1) * 1000 / total:>14.0f} "
          f"{1000 / ms['scheduler']:>9.0f}", flush=True)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _pr_body(project: str, number: int) -> bytes:
    """A GitHub ``pull_request`` ``opened`` delivery for ``project`` #``number``."""
    body = json.loads(fixture_body("pull_request"))
    body["action"], body["number"] = "opened", number
    body["repository"]["full_name"] = project
    body["pull_request"].update(number=number, body="", state="open")
    body["pull_request"]["head"]["sha"] = f"{number:040x}"
    body["pull_request"]["base"]["ref"] = "main"
    return json.dumps(body).encode()


def _recorded(db: Path) -> set[str]:
    """The delivery ids the scheduler has recorded as processed."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return set()
    try:
        return {row[0] for row in conn.execute("SELECT delivery FROM deliveries")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def _group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid`` (Apache's
    children are in its group)."""
    return sum((int(fields[11]) + int(fields[12])) / TICKS
               for _pid, fields in proc_stats() if int(fields[2]) == pgid)


def _end_to_end(stack: Stack, geard: Any, zk: ZooKeeperServer | None, scheduler: HTTPService,
                db: Path, name: str, first: int, events: int) -> tuple[float, float,
                                                                        dict[str, float]]:
    """POST ``events`` deliveries through Apache and two workers; (accept/s, e2e/s,
    CPU ms per event of each process on the path)."""
    workers = [start_worker(stack, geard, f"webhook-{name}-{i}") for i in (1, 2)]
    apache = stack.apache(zuul={"scheduler": [f"127.0.0.1:{scheduler.port}"],
                                "webhook": [f"127.0.0.1:{w.port}" for w in workers]})
    url = f"{apache.url}/zuul/webhook/github"
    payloads = [("pull_request", _pr_body("org/fast", first + i)) for i in range(events)]
    warm = LoadGenerator(url, E2E_CONCURRENCY, payloads=payloads[:200])
    warm_ids = [uuid.uuid4().hex for _ in range(200)]
    asyncio.run(warm.run(warm_ids))
    wait_for(lambda: set(warm_ids) <= _recorded(db), 60, what="warm-up recorded")
    load = LoadGenerator(url, E2E_CONCURRENCY,
                         payloads=[("pull_request", _pr_body("org/fast", first + 1000 + i))
                                   for i in range(events)])
    ids = [uuid.uuid4().hex for _ in range(events)]
    groups = {"apache": apache.pid, "workers": None, "geard": geard.pid,
              "scheduler": scheduler.pid, "zk": zk.pid if zk is not None else None}

    def cpu_now() -> dict[str, float]:
        now = {k: _group_cpu(pid) for k, pid in groups.items() if pid is not None}
        now["workers"] = sum(_cpu_seconds(w.pid) for w in workers)
        now["client"] = time.process_time()
        return now

    cpu = cpu_now()
    began_wall, began = time.time(), time.perf_counter()
    outcomes = asyncio.run(load.run(ids))
    stream = time.perf_counter() - began
    accepted = {o.delivery for o in outcomes.values() if o.status == 200}
    assert len(accepted) == events, f"{events - len(accepted)} deliveries not accepted"
    wait_for(lambda: accepted <= _recorded(db), 300, interval=0.05,
             what="every delivery recorded by the scheduler")
    e2e = time.time() - began_wall
    after = cpu_now()
    ms = {k: (after[k] - cpu[k]) * 1000 / events for k in after}
    for process in (apache, *workers):
        process.stop()
    return events / stream, events / e2e, ms


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
    txn_log = Path(tempfile.mkdtemp(prefix="bench-recovery-txnlog-",
                                    dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    procs = ProcessGroup()
    try:
        zk = procs.add(BenchZooKeeper(base / "zk", txn_log))
        zk.start()
        stack = Stack(base, procs, zk, "")
        geard = stack.gearman(nodelay=True)
        (base / "config-repo" / "playbooks").mkdir(parents=True)
        (base / "config-repo" / "playbooks" / "none.yaml").write_text("- hosts: all\n")
        tenants = base / "tenant.yaml"
        tenants.write_text(yaml.safe_dump(TENANT))
        clients = [geard.client(f"bench-{i}") for i in range(FEEDERS)]

        load = os.getloadavg()[0]
        print(f"events/s over gearman ({events} pull_request events, each one item, "
              f"noop job, submitted at once by {FEEDERS} clients, one or {BATCH} to a job, "
              f"after {WARM_UP})")
        print(f"{'state':<12} {'per job':>7} {'events/s':>9} {'znode writes':>13} "
              f"{'transactions':>13}   CPU ms/event: {'scheduler':>9} {'geard':>6} "
              f"{'ZooKeeper':>9} {'of it JIT':>9} {'feeders':>8} {'sum':>6}   "
              f"{'bound: machine':>14} {'scheduler':>9}")
        for mode, server in (("in memory", None), ("ZooKeeper", zk)):
            scheduler = _scheduler(stack, server, mode.split()[-1].lower(), geard, tenants)
            warm = _warm_up(clients, zk.pid if server is not None else None)
            first = warm.bursts * WARM_UP + 1
            for per_job in (1, BATCH):
                _gearman_row(mode, per_job, scheduler, geard, zk, clients, first, events)
                first += events
            scheduler.stop()
        warmed = (f"{warm.bursts} batches in {warm.seconds:.0f} s, "
                  f"the last one's JIT share {warm.jit_share:.0%}")
        print("(znode writes and transactions per event; bound: events/s if the sum of the "
              "CPU per event were all the machine's cores did, and if the scheduler had "
              "one core to itself; with ZooKeeper, warm-up batches of "
              f"{WARM_UP} events until its JIT compiler took under {JIT_SETTLED:.0%} of its "
              f"CPU in one: {warmed})")

        print()
        print(f"end to end through Apache ({events} signed pull_request deliveries, "
              f"{E2E_CONCURRENCY} in flight, 2 webhook workers -> gearman -> scheduler)")
        print(f"{'state':<12} {'accept/s':>9} {'e2e/s':>9}   CPU ms/event: {'Apache':>6} "
              f"{'workers':>7} {'geard':>6} {'scheduler':>9} {'ZooKeeper':>9} {'client':>6} "
              f"{'sum':>6}   {'bound: machine':>14}")
        for mode, server in (("in memory", None), ("ZooKeeper", zk)):
            name = "e2e-" + mode.split()[-1].lower()
            scheduler = _scheduler(stack, server, name, geard, tenants)
            db = stack.workdir / f"state-{name}" / "deliveries.db"
            accept, e2e, ms = _end_to_end(stack, geard, server, scheduler, db, name, 200000,
                                          events)
            total = sum(ms.values())
            print(f"{mode:<12} {accept:>9.0f} {e2e:>9.0f}   {'':>13} {ms['apache']:>6.2f} "
                  f"{ms['workers']:>7.2f} {ms['geard']:>6.2f} {ms['scheduler']:>9.2f} "
                  f"{ms.get('zk', 0.0):>9.2f} {ms['client']:>6.2f} {total:>6.2f}   "
                  f"{(os.cpu_count() or 1) * 1000 / total:>14.0f}")
            scheduler.stop()
        print("(client: the load generator, this process; bound: events/s if the sum of "
              "the CPU per event were all the machine's cores did)")
        print()
        print("kill -9 of the scheduler -> every queued item back in its status")
        print(f"{'items':>6} {'total s':>8} {'after answering s':>18}")
        scheduler = _scheduler(stack, zk, "recovery", geard, tenants)
        queued = 0
        for target in (10, 100, 1000):
            _send(clients, "org/queued", 100000 + queued, target - queued)
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
        for each in clients:
            each.shutdown()
        print(f"\nload average (1 min) before/after: {load:.1f}/{os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs (shared with other users)")
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(txn_log, ignore_errors=True)


if __name__ == "__main__":
    main()
