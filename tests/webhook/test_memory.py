"""Worker memory under unauthenticated maximum-size bodies, through real Apache.

16 concurrent bodies of exactly ``max_body_bytes`` with a wrong signature, three rounds: the
worker's peak RSS (psutil, sampled every 10 ms) grows by less than the bound doc/webhook.rst
states, ``max_body_readers x max_body_bytes`` plus a fixed allowance for the interpreter's
and aiohttp's own buffers, and a signed delivery sent during each round is accepted.
"""
from __future__ import annotations

import asyncio
import uuid

from tests.harness.stack import Stack
from tests.webhook.conftest import fixture_body, send, start_worker
from tests.webhook.flood import PeakRSS, flood

MAX_BODY = 8 * 1024 * 1024
READERS = 4
CONCURRENT = 16
ROUNDS = 3
# Allocator slack, 16 connections' read buffers, the HMAC and JSON work of a signed delivery.
ALLOWANCE = 24 * 1024 * 1024
BOUND = READERS * MAX_BODY + ALLOWANCE


async def test_unsigned_floods_stay_under_the_memory_bound(stack: Stack) -> None:
    geard = await asyncio.to_thread(stack.gearman, True)
    worker = await asyncio.to_thread(
        start_worker, stack, geard, max_body_readers=READERS,
        connections={"github": {"secret": "webhook-test-secret", "max_body_bytes": MAX_BODY}})
    apache = await asyncio.to_thread(stack.apache, zuul={
        "scheduler": "127.0.0.1:9", "webhook": [f"127.0.0.1:{worker.port}"]})
    url = f"{apache.url}/zuul/webhook/github"
    body = b'{"pad": "' + b"x" * (MAX_BODY - 11) + b'"}'
    assert len(body) == MAX_BODY
    signed = fixture_body("push")
    with PeakRSS(worker.pid) as rss:
        baseline = rss.rss()
        for round_ in range(ROUNDS):
            floods = asyncio.create_task(flood(url, body, CONCURRENT))
            delivery = str(uuid.uuid4())
            accepted = await asyncio.to_thread(send, url, signed, "push", delivery)
            statuses = await floods
            assert accepted.status == 200, (round_, accepted.text)
            assert statuses == [401] * CONCURRENT, (round_, statuses)
    growth = rss.peak - baseline
    print(f"worker RSS baseline {baseline / 2**20:.1f} MiB, peak {rss.peak / 2**20:.1f} MiB, "
          f"growth {growth / 2**20:.1f} MiB, bound {BOUND / 2**20:.0f} MiB")
    assert growth < BOUND, f"RSS grew by {growth / 2**20:.1f} MiB, over {BOUND / 2**20} MiB"
    assert worker.running()
