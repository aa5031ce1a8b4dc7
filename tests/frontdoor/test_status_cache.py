"""status.json through Apache, polled the way browsers poll it, while the queue changes and
while it is still: every 200 carries the whole document the scheduler served for its ETag.

The scheduler's ETag is the BLAKE2b-96 digest of the identity body (``-gzip`` appended for the
compressed variant; doc/internals.rst), so each body is checked against its own ETag.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from tests.frontdoor.conftest import TENANT, HeldScheduler
from tests.harness.stack import Stack

BROWSER = {"Accept-Encoding": "gzip, deflate, br", "Cache-Control": "max-age=0"}
# aiohttp would send its own Accept-Encoding (gzip, deflate) when none is given.
PLAIN = {"Accept-Encoding": "identity"}
POLL_INTERVAL = 0.2
PHASE_SECONDS = 7.0


@dataclass
class Browser:
    """One poller: its headers, whether it revalidates with If-None-Match, what it saw."""

    headers: dict[str, str]
    conditional: bool
    errors: list[str] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    etags: set[str] = field(default_factory=set)

    def check(self, status: int, headers: aiohttp.typedefs.LooseHeaders, body: bytes,
              sent_etag: str | None) -> str | None:
        """Record one answer; return its ETag when it was a 200."""
        etag = headers.get("ETag", "")
        self.seen[f"{status} {headers.get('X-Cache', 'no X-Cache').split()[0]}"] += 1
        if status == 304:
            if sent_etag is None or sent_etag != etag:
                self.errors.append(f"304 for If-None-Match {sent_etag!r}, ETag {etag!r}")
            return None
        if status != 200:
            self.errors.append(f"status {status}: {body[:200]!r}")
            return None
        wants_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        packed = headers.get("Content-Encoding") == "gzip"
        if packed != wants_gzip:
            self.errors.append(f"Content-Encoding {headers.get('Content-Encoding')!r} for "
                               f"Accept-Encoding {self.headers.get('Accept-Encoding')!r}")
            return etag
        try:
            raw = gzip.decompress(body) if packed else body
            json.loads(raw)
        except (OSError, EOFError, ValueError) as exc:
            self.errors.append(f"200 with {len(body)} bytes that are not JSON ({exc}), "
                               f"ETag {etag}, X-Cache {headers.get('X-Cache')}")
            return etag
        digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
        expected = f'"{digest}-gzip"' if packed else f'"{digest}"'
        if etag != expected:
            self.errors.append(f"body of {len(raw)} bytes is not the one of ETag {etag}")
        self.etags.add(etag)
        return etag

    async def poll(self, url: str, until: float) -> None:
        etag: str | None = None
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            while time.monotonic() < until:
                headers = dict(self.headers)
                sent = etag if self.conditional else None
                if sent:
                    headers["If-None-Match"] = sent
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                    got = self.check(response.status, response.headers, body, sent)
                etag = got or etag
                await asyncio.sleep(POLL_INTERVAL)


async def drive(url: str, sched: HeldScheduler, browsers: list[Browser]) -> None:
    """Browsers poll for two phases: the queue changing twice a second, then still."""
    start = time.monotonic()
    until = start + 2 * PHASE_SECONDS

    async def change_queue() -> None:
        number = 0
        while time.monotonic() < start + PHASE_SECONDS:
            number += 1
            await asyncio.to_thread(sched.enqueue, number)
            if number % 3 == 0:
                await asyncio.to_thread(sched.dequeue, number - 1)
            await asyncio.sleep(0.5)

    await asyncio.gather(change_queue(), *(b.poll(url, until) for b in browsers))


def test_every_status_200_through_apache_has_its_body(stack: Stack,
                                                      held_scheduler: HeldScheduler) -> None:
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}"})
    url = f"{apache.url}/zuul/api/tenant/{TENANT}/status"
    browsers = [Browser(BROWSER, True) for _ in range(4)]
    browsers += [Browser(BROWSER, False),                       # fresh page loads
                 Browser({"Accept-Encoding": "gzip"}, True),   # another gzip variant key
                 Browser(PLAIN, True), Browser(PLAIN, False)]  # no compression
    asyncio.run(drive(url, held_scheduler, browsers))

    errors = [f"browser {i}: {e}" for i, b in enumerate(browsers) for e in b.errors]
    assert not errors, "\n".join(errors[:20])
    seen = sum((b.seen for b in browsers), Counter())

    # The polls crossed many expiries and revalidations of Apache's copy and were mostly
    # answered from it, conditional ones included (Apache drops the validators).
    hits = seen["200 HIT"]
    to_scheduler = sum(n for key, n in seen.items() if not key.endswith(" HIT"))
    assert hits > 5 * to_scheduler, seen
    assert to_scheduler >= 8, seen
    assert len(browsers[0].etags) >= 4, "the queue changes showed as new documents"
    assert "Server-side error" not in apache.error_log()
