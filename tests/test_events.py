"""Events over a real gearman server into the scheduler's EventReceiver."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import gear

from tests.harness.process import wait_until
from tests.harness.servers import GearmanServer
from tests.harness.stack import Stack
from zuul.lib.gearman import Client, add_servers
from zuul.scheduler.events import (
    DeliveryStore,
    EventHandler,
    EventReceiver,
    InFlight,
    Settle,
    TriggerEvent,
)


def _payload(delivery: str, body: object = None) -> dict[str, object]:
    return {"connection": "github", "delivery": delivery, "event": "pull_request",
            "headers": {"X-GitHub-Delivery": delivery},
            "body": json.dumps(body if body is not None else {"action": "opened"}),
            "received_at": time.time()}


def _submit(client: gear.Client, delivery: str, body: object = None,
            connection: str = "github") -> gear.Job:
    payload = _payload(delivery, body) | {"connection": connection}
    job = gear.Job(f"zuul:event:{connection}".encode(), json.dumps(payload).encode())
    client.submitJob(job)
    return job


async def _receiving(geard: GearmanServer, store: DeliveryStore, handler: EventHandler,
                     settle: Settle | None = None) -> tuple[EventReceiver, gear.Client]:
    """A started receiver with ``handler``, and a gear client (TLS with the harness's client
    certificate) connected to the same geard; the caller stops both."""
    receiver = EventReceiver(geard.conf(), ["github"], store, handler,
                             asyncio.get_running_loop(), settle=settle)
    receiver.start()
    client = Client("test")
    add_servers(client, geard.conf())
    await asyncio.to_thread(client.waitForServer, 10)
    return receiver, client


async def _wait_complete(jobs: list[gear.Job], timeout: float = 15) -> None:
    await wait_until(lambda: all(j.complete for j in jobs), timeout, "gearman jobs to complete")


async def test_events_processed_once_in_order(stack: Stack, tmp_path: Path) -> None:
    geard = stack.gearman()
    store = DeliveryStore(tmp_path / "deliveries.db")
    seen: list[TriggerEvent] = []

    async def handler(event: TriggerEvent) -> None:
        seen.append(event)

    receiver, client = await _receiving(geard, store, handler)
    try:
        ids = [f"d-{i}" for i in range(20)]
        jobs = [_submit(client, d) for d in ids]
        jobs.append(_submit(client, "d-3"))                      # a redelivery
        jobs.append(_submit(client, "bad", body="not an object"))  # poison
        await _wait_complete(jobs)
        results = [json.loads(b"".join(j.data))["status"] for j in jobs]
        assert results == ["accepted"] * 20 + ["duplicate", "rejected"]
        assert [e.delivery for e in seen] == ids
        assert store.deliveries() == ids
    finally:
        client.shutdown()
        receiver.stop()
        store.close()
    # The window survives a restart of the store.
    reopened = DeliveryStore(tmp_path / "deliveries.db")
    assert reopened.seen("d-19") and not reopened.seen("d-20")
    reopened.close()


def test_store_window_is_bounded(tmp_path: Path) -> None:
    store = DeliveryStore(tmp_path / "d.db", window=10)
    for i in range(35):
        assert store.record(TriggerEvent("github", f"x{i}", "push", {}))
    assert not store.record(TriggerEvent("github", "x34", "push", {}))
    kept = store.deliveries()
    assert len(kept) <= 11 and kept[-1] == "x34" and "x0" not in kept
    store.close()


async def test_failed_event_and_failed_settle_are_not_recorded(stack: Stack,
                                                               tmp_path: Path) -> None:
    """Events of one batch share one settle(): an event whose handling raised fails alone
    (WORK_FAIL: the webhook worker keeps it and submits it again); a settle() that raised
    fails its whole batch; neither is recorded, so the resubmission is accepted."""
    geard = stack.gearman()
    store = DeliveryStore(tmp_path / "deliveries.db")
    handled: list[str] = []
    fail_settle = asyncio.Event()

    async def handler(event: TriggerEvent) -> None:
        handled.append(event.delivery)
        if event.delivery == "boom":
            raise RuntimeError("handler failed")

    async def settle() -> None:
        if fail_settle.is_set():
            fail_settle.clear()
            raise RuntimeError("state not written")

    receiver, client = await _receiving(geard, store, handler, settle=settle)
    try:
        jobs = [_submit(client, d) for d in ("a", "boom", "b")]
        await _wait_complete(jobs)
        assert [j.failure for j in jobs] == [False, True, False]
        assert store.seen("a") and store.seen("b") and not store.seen("boom")

        fail_settle.set()
        lost = _submit(client, "c")
        await _wait_complete([lost])
        assert lost.failure and not store.seen("c")
        again = _submit(client, "c")  # what the webhook worker does after WORK_FAIL
        await _wait_complete([again])
        assert json.loads(b"".join(again.data))["status"] == "accepted"
        assert store.seen("c") and handled.count("c") == 2
    finally:
        client.shutdown()
        receiver.stop()
        store.close()


async def test_batch_job_answered_with_each_events_status(stack: Stack, tmp_path: Path) -> None:
    """A job carrying a JSON array of events (what a webhook worker sends under load) gets
    one status per event, in order; an event that fails fails the whole job (WORK_FAIL)
    after the others were recorded, so its resubmission finds them ``duplicate``; arguments
    that are no events at all are rejected as a whole."""
    geard = stack.gearman()
    store = DeliveryStore(tmp_path / "deliveries.db")
    handled: list[str] = []
    failing = {"boom"}

    async def handler(event: TriggerEvent) -> None:
        handled.append(event.delivery)
        if event.delivery in failing:
            raise RuntimeError("handler failed")

    receiver, client = await _receiving(geard, store, handler)

    def submit(arguments: object) -> gear.Job:
        job = gear.Job(b"zuul:event:github", json.dumps(arguments).encode())
        client.submitJob(job)
        return job

    try:
        single = submit(_payload("s"))
        mixed = submit([_payload("a"), _payload("s"), {"delivery": "x"}, _payload("b"),
                        _payload("a"), _payload("bad", body=[1])])
        one = submit([_payload("c")])
        await _wait_complete([single, mixed, one])
        assert json.loads(b"".join(single.data))["status"] == "accepted"
        answer = json.loads(b"".join(mixed.data))
        assert [s["status"] for s in answer["statuses"]] == [
            "accepted", "duplicate", "rejected", "accepted", "duplicate", "rejected"]
        assert [s.get("delivery") for s in answer["statuses"]] == [
            "a", "s", None, "b", "a", None]
        assert "missing or empty 'event'" in answer["statuses"][2]["reason"]
        assert [s["status"] for s in json.loads(b"".join(one.data))["statuses"]] == ["accepted"]
        assert handled == ["s", "a", "b", "c"]

        failed = submit([_payload("d"), _payload("boom"), _payload("e")])
        await _wait_complete([failed])
        assert failed.failure
        assert store.seen("d") and store.seen("e") and not store.seen("boom")
        failing.clear()
        again = submit([_payload("d"), _payload("boom"), _payload("e")])
        await _wait_complete([again])
        assert [s["status"] for s in json.loads(b"".join(again.data))["statuses"]] == [
            "duplicate", "accepted", "duplicate"]
        assert handled.count("d") == 1 and handled.count("boom") == 2

        refused = [submit([]), submit("text"), submit([_payload(f"m{i}") for i in range(1001)])]
        await _wait_complete(refused)
        for job in refused:
            assert json.loads(b"".join(job.data))["status"] == "rejected"
        assert not store.seen("m0")
    finally:
        client.shutdown()
        receiver.stop()
        store.close()


async def test_an_answer_from_before_a_geard_restart_completes_no_new_job(
        stack: Stack, tmp_path: Path) -> None:
    """gear reconnects in place and a restarted geard numbers its job handles from 1 again:
    the answer to a job taken before the restart must not complete the new job that has its
    handle now (that job would get another job's statuses, and the webhook worker would drop
    its events as delivered)."""
    geard = stack.gearman()
    store = DeliveryStore(tmp_path / "deliveries.db")
    release = {"old": asyncio.Event(), "new": asyncio.Event()}
    started: set[str] = set()

    async def handler(event: TriggerEvent) -> None:
        started.add(event.delivery)
        await release[event.delivery].wait()

    receiver, client = await _receiving(geard, store, handler)
    try:
        old = _submit(client, "old")
        await wait_until(lambda: "old" in started, 10, "the old event handled")
        await asyncio.to_thread(geard.stop)
        await asyncio.to_thread(geard.start)
        await asyncio.to_thread(client.waitForServer, 10)
        new = _submit(client, "new")
        await wait_until(lambda: "new" in started, 15, "the new event handled")
        assert new.handle == old.handle  # the premise: the restarted geard reused it
        release["old"].set()
        await wait_until(lambda: "old" not in receiver._in_flight, 10, "the old one answered")
        assert store.seen("old") and not new.complete
        release["new"].set()  # its answer goes after the old one's, on the same connection
        await _wait_complete([new])
        assert json.loads(b"".join(new.data)) == {"status": "accepted", "delivery": "new"}
    finally:
        client.shutdown()
        receiver.stop()
        store.close()


def test_in_flight_bounds_count_and_bytes_but_lets_a_large_event_in_alone() -> None:
    bound = InFlight(count=3, size=100)
    for size in (10, 10, 10):
        bound.acquire(size)
    entered = threading.Event()

    def fourth(size: int) -> None:
        bound.acquire(size)
        entered.set()

    waiter = threading.Thread(target=fourth, args=(10,), daemon=True)
    waiter.start()
    assert not entered.wait(0.2), "a fourth event got past a count of 3"
    bound.release(10)
    assert entered.wait(5), "the fourth event never got in after a release"
    waiter.join(5)
    for _ in range(3):
        bound.release(10)
    bound.acquire(90)
    entered.clear()
    waiter = threading.Thread(target=fourth, args=(20,), daemon=True)
    waiter.start()
    assert not entered.wait(0.2), "110 bytes got past a size of 100"
    bound.release(90)
    assert entered.wait(5)
    waiter.join(5)
    bound.release(20)
    bound.acquire(500)  # larger than the whole size: let in while nothing else is
    bound.release(500)
