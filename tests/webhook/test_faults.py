"""At-least-once end to end under faults: every 200 is processed by the scheduler once.

A bounded stream of deliveries goes through Apache to two workers while, in turn, the
scheduler is SIGKILLed and restarted, geard is stopped and restarted, and one worker is
SIGKILLed and restarted. Failed requests are redelivered with the same id, as GitHub does.
The check is by delivery id against the scheduler's persisted DeliveryStore.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from tests.harness.process import ManagedProcess, wait_for
from tests.harness.stack import Stack
from tests.webhook.conftest import (
    deliveries_db,
    processed_deliveries,
    spooled,
    start_worker,
    submissions,
)
from tests.webhook.load import LoadGenerator

EVENT_COUNT = 2000


class Faults:
    """Injects one fault when the stream reaches each threshold, restarting in the background.

    A fault begins only after the previous restart has finished, so each one happens while
    deliveries are still flowing.
    """

    def __init__(self, plan: dict[int, tuple[str, Callable[[], None], ManagedProcess]]) -> None:
        self.plan = plan
        self.restarts: list[asyncio.Task[object]] = []
        self.done: list[str] = []

    async def before_send(self, index: int) -> None:
        if index not in self.plan:
            return
        name, fault, process = self.plan[index]
        if self.restarts:
            await self.restarts[-1]
        await asyncio.to_thread(fault)
        self.done.append(name)
        self.restarts.append(asyncio.create_task(asyncio.to_thread(process.start)))


@pytest.mark.slow
async def test_every_accepted_delivery_processed_once_under_faults(stack: Stack) -> None:
    geard = await asyncio.to_thread(stack.gearman, True)
    scheduler = await asyncio.to_thread(stack.scheduler, geard)
    # A job whose answer is lost with a dying scheduler or geard is submitted again after
    # job_timeout (the scheduler's dedup makes that harmless); keep it short here.
    submit = {"retry_initial": 0.05, "retry_max": 0.5, "job_timeout": 15.0}
    workers = [await asyncio.to_thread(start_worker, stack, geard, f"webhook-{i}", submit=submit)
               for i in (1, 2)]
    apache = await asyncio.to_thread(
        stack.apache, zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                            "webhook": [f"127.0.0.1:{w.port}" for w in workers]})
    step = EVENT_COUNT // 4
    faults = Faults({
        step: ("scheduler SIGKILL", scheduler.kill, scheduler),
        2 * step: ("geard stop", geard.stop, geard),
        3 * step: ("worker SIGKILL", workers[0].kill, workers[0]),
    })
    ids = [f"fault-{i}-{uuid.uuid4()}" for i in range(EVENT_COUNT)]
    load = LoadGenerator(f"{apache.url}/zuul/webhook/github", concurrency=16, attempts=30)
    outcomes = await load.run(ids, faults.before_send)
    await asyncio.gather(*faults.restarts)
    assert faults.done == ["scheduler SIGKILL", "geard stop", "worker SIGKILL"]

    accepted = {d for d, o in outcomes.items() if o.status == 200}
    assert len(accepted) == EVENT_COUNT, Counter(o.status for o in outcomes.values())
    db = deliveries_db(stack)

    def all_processed() -> bool:
        return accepted <= set(processed_deliveries(db))

    try:
        await asyncio.to_thread(wait_for, all_processed, 120, 0.2, "every accepted delivery")
    except TimeoutError:
        missing = sorted(accepted - set(processed_deliveries(db)))
        still_spooled = {w.url: len(spooled(w)) for w in workers}
        retries = {w.url: submissions(w.url, "retry") for w in workers}
        raise AssertionError(f"{len(missing)} accepted deliveries never processed, e.g. "
                             f"{missing[:3]}; spool files left {still_spooled}; "
                             f"retries {retries}") from None
    await asyncio.to_thread(wait_for, lambda: not any(spooled(w) for w in workers), 30, 0.2,
                            "spools drained")
    processed = processed_deliveries(db)
    repeated = [d for d, n in Counter(processed).items() if n > 1]
    assert not repeated, repeated[:5]
    assert set(processed) == accepted
    # The surviving worker saw the gearman outage and retried (the faults were real).
    assert submissions(workers[1].url, "retry") > 0
