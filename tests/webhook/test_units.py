"""The pure parts on their own: signatures, identity headers, group commit.

The end-to-end tests cover the same code through real processes; these pin the edge cases.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from multidict import CIMultiDict

from zuul.lib.web import JSONHTTPError
from zuul.webhook.batching import Batcher
from zuul.webhook.verify import check_signature, check_single, delivery_identity, sign

CONN = {"secret": "s3cret", "allow_sha1": False}
BODY = b'{"action": "opened"}'


def _status(call: object, *args: object) -> int | None:
    try:
        call(*args)  # type: ignore[operator]
    except JSONHTTPError as exc:
        return exc.status
    return None


def test_signatures() -> None:
    good = {"X-Hub-Signature-256": sign("s3cret", BODY)}
    assert _status(check_signature, CONN, good, BODY) is None
    assert _status(check_signature, CONN, good, BODY + b" ") == 401
    assert _status(check_signature, CONN, {"X-Hub-Signature-256": "sha1=" + "0" * 40},
                   BODY) == 401
    assert _status(check_signature, CONN, {"X-Hub-Signature-256": "sha256=é"}, BODY) == 401
    sha1 = {"X-Hub-Signature": sign("s3cret", BODY, "sha1")}
    assert _status(check_signature, CONN, sha1, BODY) == 401
    assert _status(check_signature, {**CONN, "allow_sha1": True}, sha1, BODY) is None
    # A present SHA-256 signature decides, even when a good SHA-1 one is there too.
    both = {**sha1, "X-Hub-Signature-256": sign("other", BODY)}
    assert _status(check_signature, {**CONN, "allow_sha1": True}, both, BODY) == 401


def test_identity_headers() -> None:
    ok = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "72d3162e-cc78-11e3"}
    assert delivery_identity(ok) == ("pull_request", "72d3162e-cc78-11e3")
    for bad in ({"X-GitHub-Event": "Push"}, {"X-GitHub-Delivery": "a/b"},
                {"X-GitHub-Delivery": "x" * 129}, {"X-GitHub-Event": "push, ping"}):
        assert _status(delivery_identity, {**ok, **bad}) == 400, bad
    twice = CIMultiDict([("X-GitHub-Event", "push"), ("x-github-event", "ping")])
    assert _status(check_single, twice) == 400


async def test_batcher_groups_concurrent_calls() -> None:
    batches: list[list[int]] = []
    started, release = threading.Event(), threading.Event()

    def process(items: Sequence[int]) -> list[int | BaseException]:
        started.set()
        release.wait(5)
        batches.append(list(items))
        return [ValueError(i) if i == 3 else i * 10 for i in items]

    with ThreadPoolExecutor(1) as pool:
        batcher: Batcher[int, int] = Batcher(pool, process)
        first = asyncio.create_task(batcher.call(0))
        assert await asyncio.to_thread(started.wait, 5)   # batch [0] is in the thread
        rest = [asyncio.create_task(batcher.call(i)) for i in range(1, 5)]
        release.set()
        assert await first == 0
        results = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[0], [1, 2, 3, 4]]
    assert results[:2] == [10, 20] and isinstance(results[2], ValueError) and results[3] == 40


@pytest.mark.parametrize("size", [1, 300])
async def test_batcher_splits_at_max_batch(size: int) -> None:
    with ThreadPoolExecutor(1) as pool:
        batcher: Batcher[int, int] = Batcher(pool, lambda items: list(items), max_batch=256)
        results = await asyncio.gather(*(batcher.call(i) for i in range(size)))
    assert results == list(range(size))
