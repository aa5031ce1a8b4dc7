"""A bounded stream of signed webhook deliveries over aiohttp (fault tests and the benchmark).

Loopback only. Each delivery is POSTed once, or redelivered like GitHub does (same delivery
id) on anything but 200 when ``attempts`` > 1, with tenacity's backoff between attempts.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tests.webhook.conftest import EVENTS, SECRET, fixture_body
from zuul.webhook.verify import sign


class NotAccepted(Exception):
    """The delivery got an answer other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass
class Outcome:
    """What happened to one delivery: its final status, when it was accepted, how long."""

    delivery: str
    status: int = 0
    attempts: int = 0
    accepted_at: float = 0.0   # time.time() of the 200
    latency: float = 0.0       # seconds for the attempt that got the 200


BeforeSend = Callable[[int], Awaitable[None]]


class LoadGenerator:
    """POST deliveries to ``url`` with at most ``concurrency`` requests in flight."""

    def __init__(self, url: str, concurrency: int = 16, attempts: int = 1,
                 secret: str = SECRET, payloads: list[tuple[str, bytes]] | None = None
                 ) -> None:
        """``payloads``: (event, body) pairs sent in turn (default: one fixture per event)."""
        self.url = url
        self.concurrency = concurrency
        self.attempts = attempts
        self.payloads = payloads or [(event, fixture_body(event)) for event in EVENTS]
        self.signatures = {body: sign(secret, body) for _event, body in self.payloads}

    async def run(self, deliveries: list[str], before_send: BeforeSend | None = None
                  ) -> dict[str, Outcome]:
        """Send every delivery; ``before_send(i)`` is awaited before the i-th is sent."""
        outcomes: dict[str, Outcome] = {}
        slots = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks = []
            payloads = itertools.cycle(self.payloads)
            for i, delivery in enumerate(deliveries):
                if before_send is not None:
                    await before_send(i)
                await slots.acquire()
                outcome = outcomes[delivery] = Outcome(delivery)
                event, body = next(payloads)
                task = asyncio.create_task(self._deliver(session, outcome, event, body))
                task.add_done_callback(lambda _t: slots.release())
                tasks.append(task)
            await asyncio.gather(*tasks)
        return outcomes

    async def _deliver(self, session: aiohttp.ClientSession, outcome: Outcome, event: str,
                       body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": outcome.delivery,
                   "X-Hub-Signature-256": self.signatures[body]}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type((NotAccepted, aiohttp.ClientError, TimeoutError)))
        try:
            async for attempt in retrying:
                with attempt:
                    outcome.attempts += 1
                    started = time.perf_counter()
                    async with session.post(self.url, data=body, headers=headers) as response:
                        await response.read()
                        outcome.status = response.status
                    if outcome.status != 200:
                        raise NotAccepted(outcome.status)
                    outcome.latency = time.perf_counter() - started
                    outcome.accepted_at = time.time()
        except RetryError:
            pass
