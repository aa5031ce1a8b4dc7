"""Trigger events arriving over gearman, deduplicated by delivery id.

The webhook workers submit each GitHub delivery as a foreground gearman job
``zuul:event:<connection>`` (see doc/internals.rst). :class:`EventReceiver` runs a gear worker
in a thread; for each job it

1. parses and checks the payload (a bad one completes as ``rejected``: final, not retried);
2. skips a delivery id the :class:`DeliveryStore` has seen (``duplicate``);
3. hands the event to the scheduler's event loop (which returns once the items it enqueued
   are in ZooKeeper, when the pipeline state is kept there);
4. records the delivery id, then answers WORK_COMPLETE ``accepted``.

Events are handed to the event loop in the order geard hands them out, in batches (one
wake-up of the loop for whatever arrived meanwhile), and processed in that order up to their
first wait. A batch is answered once all its events are handled and ``settle()`` returned
(the scheduler's: its items are in ZooKeeper), while the next batch is already handled; the
ids of a batch are recorded in one transaction. Up to ``MAX_IN_FLIGHT`` events, and
``MAX_IN_FLIGHT_BYTES`` of their payloads, are in progress at once (one event is always
let in, however large). (``receivers`` > 1 gear workers, each its own connection and thread, take
jobs at once rather than one geard round trip each, but then events of different receivers
have no order; the scheduler keeps one.)
A crash before step 4 leaves the job unanswered: geard sends WORK_FAIL to the webhook worker,
which keeps its spool file and submits again; a crash after step 4 makes the resubmission a
``duplicate``. Either way each delivery is processed once.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gear
import prometheus_client

from zuul.lib import gearman

log = logging.getLogger(__name__)

FUNCTION_PREFIX = "zuul:event:"
MAX_IN_FLIGHT = 1024  # events handed to the scheduler and not answered yet ...
MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024  # ... and their payloads' bytes
RECEIVERS = 1  # gear workers (connections, threads) taking event jobs: more lose the order
ANSWER_BATCH = 512  # events answered per dedup transaction at most

EVENTS = prometheus_client.Counter(
    "zuul_trigger_events_total", "Trigger events received over gearman", ["connection", "status"])


class InvalidEvent(ValueError):
    """A gearman job whose payload is not a usable trigger event."""


@dataclass(frozen=True)
class TriggerEvent:
    """One webhook delivery as the scheduler sees it."""

    connection: str
    delivery: str
    event: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0

    @property
    def action(self) -> str | None:
        """The payload's ``action`` (``opened``, ``created``...), if any."""
        action = self.body.get("action")
        return action if isinstance(action, str) else None

    @classmethod
    def from_job(cls, function: str, arguments: bytes) -> TriggerEvent:
        """Parse a ``zuul:event:<connection>`` job; raise :class:`InvalidEvent` if unusable."""
        try:
            payload = json.loads(arguments)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"job arguments are not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise InvalidEvent("job arguments are not a JSON object")
        connection = function.removeprefix(FUNCTION_PREFIX)
        for key in ("delivery", "event", "body"):
            if not isinstance(payload.get(key), str) or not payload[key]:
                raise InvalidEvent(f"missing or empty '{key}'")
        try:
            body = json.loads(payload["body"])
        except ValueError as exc:
            raise InvalidEvent(f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidEvent("body is not a JSON object")
        raw_headers = payload.get("headers")
        headers = raw_headers if isinstance(raw_headers, dict) else {}
        received = payload.get("received_at")
        return cls(connection=connection, delivery=payload["delivery"], event=payload["event"],
                   body=body, headers={str(k): str(v) for k, v in headers.items()},
                   received_at=float(received) if isinstance(received, (int, float)) else 0.0)


class DeliveryStore:
    """Delivery ids already processed: a bounded window persisted in SQLite.

    Keeps the newest ``window`` ids. WAL journal with ``synchronous=NORMAL``: a committed id
    survives the process being killed (it is in the WAL), though not necessarily power loss.
    Thread-safe; each call uses one short transaction.
    """

    def __init__(self, path: Path, window: int = 100_000) -> None:
        self.path = path
        self.window = window
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " delivery TEXT NOT NULL UNIQUE, connection TEXT NOT NULL, event TEXT NOT NULL,"
            " processed_at REAL NOT NULL)")
        self._inserts = 0

    def seen(self, delivery: str) -> bool:
        """True when ``delivery`` is in the window."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM deliveries WHERE delivery = ?",
                                   (delivery,)).fetchone()
        return row is not None

    def record(self, event: TriggerEvent) -> bool:
        """Record ``event``'s delivery id; False when it was already there."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO deliveries (delivery, connection, event, processed_at)"
                " VALUES (?, ?, ?, ?)", (event.delivery, event.connection, event.event,
                                         time.time()))
            inserted = cursor.rowcount == 1
            self._inserts += inserted
            if self._inserts >= max(1, self.window // 10):
                self._inserts = 0
                self._db.execute(
                    "DELETE FROM deliveries WHERE seq <= "
                    "(SELECT MAX(seq) FROM deliveries) - ?", (self.window,))
        return inserted

    def record_many(self, events: list[TriggerEvent]) -> list[bool]:
        """Record several delivery ids in one transaction; for each, False if already there."""
        inserted: list[bool] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                now = time.time()
                for event in events:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO deliveries (delivery, connection, event,"
                        " processed_at) VALUES (?, ?, ?, ?)",
                        (event.delivery, event.connection, event.event, now))
                    inserted.append(cursor.rowcount == 1)
                self._inserts += sum(inserted)
                if self._inserts >= max(1, self.window // 10):
                    self._inserts = 0
                    self._db.execute(
                        "DELETE FROM deliveries WHERE seq <= "
                        "(SELECT MAX(seq) FROM deliveries) - ?", (self.window,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return inserted

    def deliveries(self) -> list[str]:
        """Every delivery id in the window, oldest first."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT delivery FROM deliveries ORDER BY seq")]

    def close(self) -> None:
        with self._lock:
            self._db.close()


EventHandler = Callable[[TriggerEvent], Coroutine[Any, Any, None]]
Settle = Callable[[], Awaitable[None]]
Outcome = tuple[gear.WorkerJob, TriggerEvent, BaseException | None]


class InFlight:
    """The receiver's bound on events in progress: at most ``count`` of them and ``size``
    bytes of their payloads (an event larger than ``size`` alone is let in when nothing else
    is in progress, so it cannot wait forever). Memory stays bounded whatever the payloads
    are, while many small events (GitHub's usual few KiB) can share each ZooKeeper flush."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self._events = 0
        self._bytes = 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> None:
        """Wait until an event of ``size`` bytes fits, then count it in."""
        with self._changed:
            self._changed.wait_for(lambda: self._events == 0 or (
                self._events < self.count and self._bytes + size <= self.size))
            self._events += 1
            self._bytes += size

    def release(self, size: int, events: int = 1) -> None:
        """``events`` events of ``size`` bytes in all were answered."""
        with self._changed:
            self._events -= events
            self._bytes -= size
            self._changed.notify_all()


class EventReceiver:
    """A gear worker thread feeding ``zuul:event:<connection>`` jobs to the scheduler.

    Events are pipelined: the receiving thread hands each event to the event loop in the
    order geard assigns them and takes the next job at once (at most ``max_in_flight``
    unanswered, with ``max_in_flight_bytes`` of payload: :class:`InFlight`); an answering
    thread records the delivery ids of the events the scheduler finished (in one SQLite
    transaction per batch) and only then answers them. So several events share one
    ZooKeeper flush and one dedup write, and each is still answered only after its items
    are in ZooKeeper and its delivery id is recorded.
    """

    def __init__(self, gearman_conf: dict[str, Any], connections: list[str], store: DeliveryStore,
                 handler: EventHandler, loop: asyncio.AbstractEventLoop,
                 handler_timeout: float = 30.0, max_in_flight: int = MAX_IN_FLIGHT,
                 max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES,
                 receivers: int = RECEIVERS, settle: Settle | None = None) -> None:
        self.connections = list(connections)
        self.store = store
        self.handler = handler
        self.settle = settle
        self.loop = loop
        self.handler_timeout = handler_timeout
        self.workers = [gearman.Worker(f"zuul-scheduler-events-{i}")
                        for i in range(max(1, receivers))]
        for worker in self.workers:
            gearman.add_servers(worker, gearman_conf)
        self._threads = [threading.Thread(target=self._run, args=(worker,),
                                          name=f"event-receiver-{i}", daemon=True)
                         for i, worker in enumerate(self.workers)]
        self._answerer = threading.Thread(target=self._answer_loop, name="event-answerer",
                                          daemon=True)
        self._slots = InFlight(max_in_flight, max_in_flight_bytes)
        self._done: queue.Queue[list[Outcome] | None] = queue.Queue()
        # Events taken, not yet on the loop: the loop is woken once per batch of them.
        self._incoming: collections.deque[tuple[gear.WorkerJob, TriggerEvent]] = \
            collections.deque()
        self._woken = False
        self._ready: asyncio.Event | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()  # delivery ids handed over, not answered yet
        self._flight_lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        """Register the functions and start taking jobs."""
        for worker in self.workers:
            for name in self.connections:
                worker.registerFunction(FUNCTION_PREFIX + name)
        self._running = True
        for thread in self._threads:
            thread.start()
        self._answerer.start()

    def stop(self) -> None:
        """Stop taking jobs; events in progress are answered if they finish in time."""
        self._running = False
        for worker in self.workers:
            worker.shutdown()
        for thread in self._threads:
            thread.join(10)
        self._done.put(None)
        self._answerer.join(10)
        if self._consumer is not None:
            self.loop.call_soon_threadsafe(self._consumer.cancel)

    def _run(self, worker: gearman.Worker) -> None:
        while self._running:
            try:
                job = worker.getJob()
            except gear.InterruptedError:
                continue
            except Exception:  # noqa: BLE001 - keep the receiver alive
                log.exception("Error waiting for a gearman job")
                continue
            try:
                self._handle(job)
            except Exception:  # noqa: BLE001 - an unanswered job is failed and resubmitted
                log.exception("Error handling event job %s", job.handle)
                self._answer(job, None)

    def _handle(self, job: gear.WorkerJob) -> None:
        connection = job.name.removeprefix(FUNCTION_PREFIX)
        try:
            event = TriggerEvent.from_job(job.name, job.arguments)
        except InvalidEvent as exc:
            log.warning("Rejected event job on %s: %s", connection, exc)
            EVENTS.labels(connection, "rejected").inc()
            self._answer(job, {"status": "rejected", "reason": str(exc)})
            return
        with self._flight_lock:
            duplicate = event.delivery in self._in_flight or self.store.seen(event.delivery)
            if not duplicate:
                self._in_flight.add(event.delivery)
        if duplicate:
            EVENTS.labels(connection, "duplicate").inc()
            self._answer(job, {"status": "duplicate", "delivery": event.delivery})
            return
        self._slots.acquire(len(job.arguments))
        with self._flight_lock:
            self._incoming.append((job, event))
            wake, self._woken = not self._woken, True
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except BaseException:
                with self._flight_lock:
                    self._woken = False
                    lost = list(self._incoming)
                    self._incoming.clear()
                self._slots.release(sum(len(j.arguments) for j, _e in lost), len(lost))
                self._landed([e for _j, e in lost])
                raise

    # On the event loop ----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._ready is None:
            self._ready = asyncio.Event()
        if self._consumer is None or self._consumer.done():
            self._consumer = self.loop.create_task(self._consume())
        self._ready.set()

    async def _consume(self) -> None:
        """Start the handling of each batch that arrived, in order; answer it when done."""
        assert self._ready is not None
        while True:
            await self._ready.wait()
            self._ready.clear()
            with self._flight_lock:
                batch = list(self._incoming)
                self._incoming.clear()
                self._woken = False
            if not batch:
                continue
            tasks = [self.loop.create_task(self.handler(event)) for _job, event in batch]
            finishing = self.loop.create_task(self._finish(batch, tasks))
            self._batches.add(finishing)
            finishing.add_done_callback(self._batches.discard)

    async def _finish(self, batch: list[tuple[gear.WorkerJob, TriggerEvent]],
                      tasks: list[asyncio.Task[None]]) -> None:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        settled: BaseException | None = None
        if self.settle is not None:
            try:
                await self.settle()
            except Exception as exc:  # noqa: BLE001 - unanswered jobs are resubmitted
                settled = exc
        outcomes: list[Outcome] = []
        for (job, event), result in zip(batch, results, strict=True):
            error = result if isinstance(result, BaseException) else settled
            outcomes.append((job, event, error))
        self._done.put(outcomes)

    # In the answering thread ----------------------------------------------------------------

    def _answer_loop(self) -> None:
        while True:
            first = self._done.get()
            if first is None:
                return
            batch = list(first)
            while len(batch) < ANSWER_BATCH:
                try:
                    more = self._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._done.put(None)  # stop after this batch
                    break
                batch.extend(more)
            try:
                self._answer_batch(batch)
            except Exception:  # noqa: BLE001 - unanswered jobs are failed and resubmitted
                log.exception("Error answering %d event job(s)", len(batch))
                for job, _event, _error in batch:
                    self._answer(job, None)
            finally:
                self._landed([event for _job, event, _error in batch])
                self._slots.release(sum(len(j.arguments) for j, _e, _x in batch),
                                    len(batch))

    def _landed(self, events: list[TriggerEvent]) -> None:
        with self._flight_lock:
            self._in_flight.difference_update(e.delivery for e in events)

    def _answer_batch(self, batch: list[Outcome]) -> None:
        done = []
        for job, event, error in batch:
            if error is not None:
                log.error("Event %s failed: %r", event.delivery, error)
                self._answer(job, None)
            else:
                done.append((job, event))
        inserted = self.store.record_many([event for _job, event in done])
        for (job, event), new in zip(done, inserted, strict=True):
            status = "accepted" if new else "duplicate"
            EVENTS.labels(event.connection, status).inc()
            self._answer(job, {"status": status, "delivery": event.delivery})

    @staticmethod
    def _answer(job: gear.WorkerJob, result: dict[str, Any] | None) -> None:
        try:
            if result is None:
                job.sendWorkFail()
            else:
                job.sendWorkComplete(json.dumps(result).encode())
        except Exception:  # noqa: BLE001 - connection gone: geard fails the job for us
            log.warning("Could not answer job %s; the submitter will retry", job.handle)
