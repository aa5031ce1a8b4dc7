"""Webhook worker memory under unauthenticated maximum-size bodies, through Apache.

Starts geard, one zuul-webhook worker (``max_body_bytes`` 8 MiB, other settings default) and
Apache in front, then sends ROUNDS rounds of CONCURRENT concurrent 8 MiB bodies with a wrong
signature, plus one signed delivery per round, and prints the worker's RSS (psutil, peak
sampled every 10 ms) before, at the peak of and after each round.

``--pythonpath DIR`` runs the worker with ``PYTHONPATH=DIR`` first, to measure another
version of the code (e.g. ``git archive <commit> zuul | tar -x -C DIR``).

Usage: python bench/webhook_memory.py [--pythonpath DIR] [ROUNDS] [CONCURRENT]
       (defaults 3, 16; at most 10 rounds of 64)
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.process import ProcessGroup  # noqa: E402
from tests.harness.stack import Stack  # noqa: E402
from tests.webhook.conftest import SECRET, fixture_body, send, worker_config  # noqa: E402
from tests.webhook.flood import PeakRSS, flood  # noqa: E402

MAX_BODY = 8 * 1024 * 1024
MIB = 1024 * 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythonpath", help="run the worker with this PYTHONPATH")
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("concurrent", nargs="?", type=int, default=16)
    args = parser.parse_args()
    rounds, concurrent = min(args.rounds, 10), min(args.concurrent, 64)
    base = Path(tempfile.mkdtemp(prefix="bench-webhook-memory-"))
    base.chmod(0o755)
    procs = ProcessGroup()
    try:
        stack = Stack(base, procs)
        geard = await asyncio.to_thread(stack.gearman, True)
        conf = worker_config(stack, geard.conf(), "webhook-1", connections={
            "github": {"secret": SECRET, "max_body_bytes": MAX_BODY}})
        env = {"PYTHONPATH": args.pythonpath} if args.pythonpath else None
        worker = await asyncio.to_thread(stack.service, "webhook-1", "zuul-webhook", conf,
                                         None, None, env)
        apache = await asyncio.to_thread(stack.apache, zuul={
            "scheduler": "127.0.0.1:9", "webhook": [f"127.0.0.1:{worker.port}"]})
        url = f"{apache.url}/zuul/webhook/github"
        body = b'{"pad": "' + b"x" * (MAX_BODY - 11) + b'"}'
        signed = fixture_body("push")
        code = args.pythonpath or "this checkout"
        print(f"webhook worker RSS, {rounds} rounds of {concurrent} concurrent "
              f"{MAX_BODY // MIB} MiB unsigned bodies via Apache; code: {code}")
        print(f"{'round':>5} {'before MiB':>10} {'peak MiB':>9} {'after MiB':>9} "
              f"{'statuses':>12} {'signed':>6}")
        with PeakRSS(worker.pid) as rss:
            start = rss.rss()
            for index in range(rounds):
                before = rss.rss()
                rss.peak = before
                floods = asyncio.create_task(flood(url, body, concurrent))
                accepted = await asyncio.to_thread(send, url, signed, "push",
                                                   str(uuid.uuid4()))
                statuses = await floods
                after = rss.rss()
                counts = ",".join(f"{s}x{statuses.count(s)}" for s in sorted(set(statuses)))
                print(f"{index + 1:>5} {before / MIB:>10.1f} {rss.peak / MIB:>9.1f} "
                      f"{after / MIB:>9.1f} {counts:>12} {accepted.status:>6}")
        print(f"growth over all rounds: peak {(rss.peak - start) / MIB:.1f} MiB, "
              f"end {(rss.rss() - start) / MIB:.1f} MiB (start {start / MIB:.1f} MiB)")
    finally:
        procs.stop_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
