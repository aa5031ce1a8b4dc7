"""Webhook tier throughput: accepted events/s through Apache with 1 and 2 workers, end to end.

Starts geard (TCP_NODELAY), zuul-scheduler, two zuul-webhook workers and two Apache instances
(one balancing over one worker, one over both), all on loopback, then for each setup sends
EVENTS signed deliveries with CONCURRENCY in flight and prints:

- accept/s: deliveries answered 200 per second of the stream;
- p50/p99 ms: request latency of the 200s, as the load generator sees it;
- e2e/s: deliveries per second from the first send until the scheduler has recorded the last;
- 200->sched p50/p99: from a delivery's 200 to the scheduler recording it (DeliveryStore);
- CPU ms per event of each process group (workers, Apache, geard, scheduler, this client).

Usage: python bench/webhook.py [EVENTS] [CONCURRENCY]   (defaults 3000, 16; max 20000)
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.process import ManagedProcess, ProcessGroup, wait_for  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from tests.webhook.conftest import deliveries_db, start_worker  # noqa: E402
from tests.webhook.load import LoadGenerator  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _processed_at(db: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT delivery, processed_at FROM deliveries"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def _cpu_seconds(groups: dict[str, list[ManagedProcess]]) -> dict[str, float]:
    """CPU time (user+system) of every process in each group's process groups (Apache's
    children included); ``client`` is this process."""
    by_pgid = {p.pid: name for name, procs in groups.items() for p in procs}
    totals = dict.fromkeys(groups, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = by_pgid.get(int(fields[2]))  # field 5 of stat: pgrp
        if name is not None:
            totals[name] += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    own = os.times()
    totals["client"] = own.user + own.system
    return totals


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


async def _round(name: str, url: str, db: Path, events: int, concurrency: int,
                 groups: dict[str, list[ManagedProcess]]) -> dict:
    ids = [str(uuid.uuid4()) for _ in range(events)]
    load = LoadGenerator(url, concurrency=concurrency)
    cpu_before = _cpu_seconds(groups)
    began_wall = time.time()
    began = time.perf_counter()
    outcomes = await load.run(ids)
    stream_s = time.perf_counter() - began
    accepted = [o for o in outcomes.values() if o.status == 200]
    wanted = {o.delivery for o in accepted}
    if not accepted:
        statuses = sorted({o.status for o in outcomes.values()})
        raise SystemExit(f"{name}: no delivery was accepted (statuses {statuses})")

    def done() -> dict[str, float] | None:
        seen = _processed_at(db)
        return seen if wanted <= seen.keys() else None

    seen = await asyncio.to_thread(wait_for, done, 120, 0.02, f"{name}: events processed")
    cpu_after = _cpu_seconds(groups)
    last = max(seen[d] for d in wanted)
    lags = [seen[o.delivery] - o.accepted_at for o in accepted]
    latencies = [o.latency for o in accepted]
    return {
        "setup": name, "sent": events, "ok": len(accepted), "concurrency": concurrency,
        "accept_s": len(accepted) / stream_s,
        "p50": statistics.median(latencies) * 1000, "p99": _pct(latencies, 99) * 1000,
        "e2e_s": len(accepted) / (last - began_wall),
        "lag50": statistics.median(lags) * 1000, "lag99": _pct(lags, 99) * 1000,
        "cpu": {k: (cpu_after[k] - cpu_before[k]) * 1000 / len(accepted) for k in cpu_after},
    }


def _print(rows: list[dict]) -> None:
    print(f"webhook tier, {rows[0]['sent']} signed deliveries per setup, loopback")
    print(f"{'setup':<22} {'conc':>4} {'ok':>5} {'accept/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'e2e/s':>6} {'200->sched p50/p99 ms':>22}")
    for r in rows:
        print(f"{r['setup']:<22} {r['concurrency']:>4} {r['ok']:>5} {r['accept_s']:>8.0f} "
              f"{r['p50']:>7.1f} {r['p99']:>7.1f} {r['e2e_s']:>6.0f} "
              f"{r['lag50']:>13.1f} / {r['lag99']:>6.1f}")
    names = list(rows[0]["cpu"])
    print(f"\nCPU ms per accepted event: {'setup':<22} " + " ".join(f"{n:>9}" for n in names)
          + f" {'total':>7}")
    for r in rows:
        print(f"{'':<27}{r['setup']:<22} " + " ".join(f"{r['cpu'][n]:>9.2f}" for n in names)
              + f" {sum(r['cpu'].values()):>7.2f}")
    one, two = rows[1], rows[2]
    print("\nratio 2 workers / 1 worker via Apache: "
          f"accept/s x{two['accept_s'] / one['accept_s']:.2f}, "
          f"e2e/s x{two['e2e_s'] / one['e2e_s']:.2f}, p99 x{two['p99'] / one['p99']:.2f}")


async def main() -> None:
    events = min(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, 20000)
    concurrency = min(int(sys.argv[2]) if len(sys.argv) > 2 else 16, 256)
    base = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    base.chmod(0o755)
    procs = ProcessGroup()
    try:
        stack = Stack(base, procs)
        geard = await asyncio.to_thread(stack.gearman, True)
        scheduler = await asyncio.to_thread(stack.scheduler, geard)
        workers = [await asyncio.to_thread(start_worker, stack, geard, f"webhook-{i}")
                   for i in (1, 2)]
        members = [f"127.0.0.1:{w.port}" for w in workers]
        sched = f"127.0.0.1:{scheduler.port}"
        one = await asyncio.to_thread(stack.apache, zuul={"scheduler": sched,
                                                          "webhook": members[:1]})
        two = await asyncio.to_thread(stack.apache, zuul={"scheduler": sched,
                                                          "webhook": members})
        groups = {"workers": workers, "apache": [one, two], "geard": [geard],
                  "scheduler": [scheduler]}
        db = deliveries_db(stack)
        url_one, url_two = f"{one.url}/zuul/webhook/github", f"{two.url}/zuul/webhook/github"
        await _round("warm-up", url_two, db, 200, concurrency, groups)
        load_before = os.getloadavg()[0]
        rows = [await _round(name, url, db, events, conc, groups) for name, url, conc in (
            ("1 worker, direct", f"{workers[0].url}/webhook/github", concurrency),
            ("1 worker via Apache", url_one, concurrency),
            ("2 workers via Apache", url_two, concurrency),
            ("2 workers via Apache", url_two, 4),
        )]
        _print(rows)
        print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}"
              f" on {os.cpu_count()} CPUs, shared with the load generator (and other users)")
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
