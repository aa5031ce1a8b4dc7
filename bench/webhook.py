"""Webhook tier throughput: accepted events/s through Apache with 1 and 2 workers, end to end.

Starts geard, zuul-scheduler, two zuul-webhook workers and two Apache instances (one
balancing over one worker, one over both), all on loopback, then for each setup sends EVENTS
signed deliveries with CONCURRENCY in flight and prints:

- accept/s: deliveries answered 200 per second of the stream;
- p50/p99 accept: request latency of the 200s;
- e2e/s: deliveries per second from the first send until the scheduler has recorded the last;
- 200->sched p50/p99: from a delivery's 200 to the scheduler recording it (DeliveryStore).

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

from tests.harness.process import ProcessGroup, wait_for  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from tests.webhook.conftest import deliveries_db, start_worker  # noqa: E402
from tests.webhook.load import LoadGenerator  # noqa: E402


def _processed_at(db: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT delivery, processed_at FROM deliveries"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


async def _round(name: str, url: str, db: Path, events: int, concurrency: int) -> dict:
    ids = [str(uuid.uuid4()) for _ in range(events)]
    load = LoadGenerator(url, concurrency=concurrency)
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

    seen = await asyncio.to_thread(wait_for, done, 120, 0.05, f"{name}: events processed")
    last = max(seen[d] for d in wanted)
    lags = [seen[o.delivery] - o.accepted_at for o in accepted]
    latencies = [o.latency for o in accepted]
    return {
        "setup": name, "sent": events, "ok": len(accepted),
        "accept_s": len(accepted) / stream_s,
        "p50": statistics.median(latencies) * 1000, "p99": _pct(latencies, 99) * 1000,
        "e2e_s": len(accepted) / (last - began_wall),
        "lag50": statistics.median(lags) * 1000, "lag99": _pct(lags, 99) * 1000,
    }


def _print(rows: list[dict], concurrency: int) -> None:
    print(f"webhook tier, {rows[0]['sent']} signed deliveries per setup, {concurrency} in "
          "flight (4 where the setup says so), loopback")
    print(f"{'setup':<24} {'ok':>6} {'accept/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'e2e/s':>7} {'200->sched p50 ms':>18} {'p99 ms':>7}")
    for r in rows:
        print(f"{r['setup']:<24} {r['ok']:>6} {r['accept_s']:>9.0f} {r['p50']:>7.1f} "
              f"{r['p99']:>7.1f} {r['e2e_s']:>7.0f} {r['lag50']:>18.1f} {r['lag99']:>7.1f}")
    base = rows[1]
    for r in rows[2:3]:
        print(f"ratio {r['setup']} / {base['setup']}: "
              f"accept/s x{r['accept_s'] / base['accept_s']:.2f}, "
              f"e2e/s x{r['e2e_s'] / base['e2e_s']:.2f}, p99 accept x{r['p99'] / base['p99']:.2f}")


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
        db = deliveries_db(stack)
        await _round("warm-up", f"{two.url}/zuul/webhook/github", db, 200, concurrency)
        load_before = os.getloadavg()[0]
        rows = [
            await _round("1 worker, direct", f"{workers[0].url}/webhook/github", db, events,
                         concurrency),
            await _round("1 worker via Apache", f"{one.url}/zuul/webhook/github", db, events,
                         concurrency),
            await _round("2 workers via Apache", f"{two.url}/zuul/webhook/github", db, events,
                         concurrency),
            await _round("2 workers via Apache, 4", f"{two.url}/zuul/webhook/github", db,
                         events, 4),
        ]
        _print(rows, concurrency)
        print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}"
              f" on {os.cpu_count()} CPUs; the load generator shares them")
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
