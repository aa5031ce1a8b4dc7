"""Trigger events arriving over gearman, deduplicated by delivery id.

The webhook workers submit GitHub deliveries as foreground gearman jobs
``zuul:event:<connection>`` (see doc/internals.rst): one event (a JSON object) or, under load,
a batch of them (a JSON array of such objects, answered with one status each).
:class:`EventReceiver` runs a gear worker in a thread; for each event of a job it

1. parses and checks the payload (a bad one is ``rejected``: final, not retried);
2. skips a delivery id the :class:`DeliveryStore` has seen (``duplicate``);
3. hands the event to the scheduler's event loop (which returns once the items it enqueued
   are in ZooKeeper, when the pipeline state is kept there);
4. records the delivery id, then answers ``accepted``.

A job is answered once all its events are: WORK_COMPLETE with the status of each, or
WORK_FAIL when any of them failed (the events that were processed are recorded first, so the
resubmitted job finds them ``duplicate``).

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
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gear
import prometheus_client

from zuul.lib import gearman
from zuul.lib.event_jobs import FUNCTION_PREFIX, MAX_EVENTS, EventStatus
from zuul.scheduler.shared_deliveries import WINDOW, SharedDeliveries

log = logging.getLogger(__name__)

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
    def from_payload(cls, connection: str, payload: Any) -> TriggerEvent:
        """One event of a job (its JSON object, decoded); raise :class:`InvalidEvent`."""
        if not isinstance(payload, dict):
            raise InvalidEvent("an event is not a JSON object")
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


def parse_job(function: str, arguments: bytes) -> tuple[list[TriggerEvent | InvalidEvent], bool]:
    """The events of a ``zuul:event:<connection>`` job, in order, each parsed or the reason
    it is unusable, and whether the job is a batch (an array, answered with ``statuses``);
    raise :class:`InvalidEvent` when the arguments as a whole are unusable (not JSON,
    neither an object nor a non-empty array, a batch over ``MAX_EVENTS`` events)."""
    try:
        payload = json.loads(arguments)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"job arguments are not JSON: {exc}") from None
    connection = function.removeprefix(FUNCTION_PREFIX)
    if isinstance(payload, dict):
        return [TriggerEvent.from_payload(connection, payload)], False
    if not isinstance(payload, list) or not payload:
        raise InvalidEvent("job arguments are neither a JSON object nor a non-empty array")
    if len(payload) > MAX_EVENTS:
        raise InvalidEvent(f"a batch of {len(payload)} events (at most {MAX_EVENTS})")
    events: list[TriggerEvent | InvalidEvent] = []
    for one in payload:
        try:
            events.append(TriggerEvent.from_payload(connection, one))
        except InvalidEvent as exc:
            events.append(exc)
    return events, True


_INSERT = ("INSERT OR IGNORE INTO deliveries (delivery, connection, event, processed_at)"
           " VALUES (?, ?, ?, ?)")


class DeliveryStore:
    """Delivery ids already processed: a bounded window persisted in SQLite.

    Keeps the newest ``window`` ids. WAL journal with ``synchronous=NORMAL``: a committed id
    survives the process being killed (it is in the WAL), though not necessarily power loss.
    Thread-safe; each call uses one short transaction. With ``shared`` (the scheduler's
    :class:`~zuul.scheduler.shared_deliveries.SharedDeliveries`, with ZooKeeper), the ids
    :meth:`record_many` inserts are published there too before it returns, for the
    scheduler that takes over after this one (:meth:`merge`).
    """

    def __init__(self, path: Path, window: int = WINDOW,
                 shared: SharedDeliveries | None = None) -> None:
        self.path = path
        self.window = window
        self.shared = shared
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
        return self.record_many([event])[0]

    def record_many(self, events: list[TriggerEvent]) -> list[bool]:
        """Record several delivery ids in one transaction; for each, False if already there."""
        now = time.time()
        with self._transaction() as db:
            inserted = [db.execute(_INSERT, (e.delivery, e.connection, e.event, now)).rowcount
                        == 1 for e in events]
        if self.shared is not None:
            self.shared.publish([e.delivery for e, new in zip(events, inserted, strict=True)
                                 if new])
        return inserted

    def merge(self, deliveries: list[str], connection: str = "", event: str = "") -> int:
        """Add ids another scheduler processed (oldest first); return how many were new."""
        now = time.time()
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(_INSERT, [(d, connection, event, now) for d in deliveries])
            return db.total_changes - before

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; at its end, every window/10 inserted ids, the ids
        beyond the window are forgotten (in the same transaction)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                before = self._db.total_changes
                yield self._db
                self._inserts += self._db.total_changes - before
                if self._inserts >= max(1, self.window // 10):
                    self._inserts = 0
                    self._db.execute("DELETE FROM deliveries WHERE seq <= "
                                     "(SELECT MAX(seq) FROM deliveries) - ?", (self.window,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
Answer = dict[str, Any]


class JobAnswer:
    """A gearman job's events on their way: the job is answered once every one of them is.

    The receiving thread resolves what it decides itself (``rejected``, ``duplicate``) before
    it hands the other events over; after that only the answering thread resolves them, so
    no lock is needed.
    """

    __slots__ = ("job", "batch", "answers", "pending", "failed", "size")

    def __init__(self, job: gear.WorkerJob, batch: bool, count: int) -> None:
        self.job = job  # (_answer sends on the socket it arrived on, or not at all)
        self.batch = batch
        self.answers: list[Answer | None] = [None] * count
        self.pending = count  # events not answered yet
        self.failed = False
        self.size = 0  # payload bytes handed over (the in-flight slots it holds)

    def resolve(self, index: int, answer: Answer | None) -> bool:
        """Event ``index`` ended (None: it failed); True when that was the job's last."""
        if answer is None:
            self.failed = True
        self.answers[index] = answer
        self.pending -= 1
        return self.pending == 0

    def send(self) -> None:
        """WORK_FAIL if an event failed; otherwise WORK_COMPLETE with its status(es)."""
        if self.failed:
            _answer(self.job, None)
        elif self.batch:
            _answer(self.job, {"statuses": self.answers})
        else:
            _answer(self.job, self.answers[0])


# One event handed to the scheduler: its job, its place in the job, the event, and (once
# handled) the error that failed it.
Handed = tuple[JobAnswer, int, TriggerEvent]
Outcome = tuple[JobAnswer, int, TriggerEvent, BaseException | None]


class ReceivedJob(gear.WorkerJob):
    """A gear worker job that remembers the socket it arrived on: gear sets ``connection``
    in its poll thread as it reads the JOB_ASSIGN packet (see :func:`_answer`)."""

    received_on: Any = None

    @property
    def connection(self) -> Any:
        return self._connection

    @connection.setter
    def connection(self, value: Any) -> None:
        self._connection = value
        self.received_on = value.conn if value is not None else None


def _answer(job: gear.WorkerJob, result: Answer | None) -> None:
    """Answer ``job`` if its gearman connection is still the one it arrived on.

    gear reconnects a lost connection in place (same ``Connection``, new socket), and a
    restarted geard numbers its job handles from 1 again; an answer sent after a reconnect
    would complete whichever new job has that handle now, with another job's statuses (and
    the webhook worker would drop that job's events as delivered). geard failed the old job
    when the connection dropped, so its events are submitted again anyway.
    """
    if isinstance(job, ReceivedJob) and job.received_on is not job.connection.conn:
        log.warning("Not answering job %s: its gearman connection was re-established since "
                    "it arrived (the submitter submits it again)", job.handle)
        return
    try:
        if result is None:
            job.sendWorkFail()
        else:
            job.sendWorkComplete(json.dumps(result).encode())
    except Exception:  # noqa: BLE001 - connection gone: geard fails the job for us
        log.warning("Could not answer job %s; the submitter will retry", job.handle)


class InFlight:
    """The receiver's bound on events in progress: at most ``count`` of them and ``size``
    bytes of their payloads (a job larger than either alone is let in when nothing else
    is in progress, so it cannot wait forever). Memory stays bounded whatever the payloads
    are, while many small events (GitHub's usual few KiB) can share each ZooKeeper flush."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self._events = 0
        self._bytes = 0
        self._changed = threading.Condition()

    def acquire(self, size: int, events: int = 1) -> None:
        """Wait until ``events`` events of ``size`` bytes in all fit, then count them in."""
        with self._changed:
            self._changed.wait_for(lambda: self._events == 0 or (
                self._events + events <= self.count and self._bytes + size <= self.size))
            self._events += events
            self._bytes += size

    def release(self, size: int, events: int = 1) -> None:
        """``events`` events of ``size`` bytes in all were answered."""
        with self._changed:
            self._events -= events
            self._bytes -= size
            self._changed.notify_all()


class EventReceiver:
    """A gear worker thread feeding ``zuul:event:<connection>`` jobs to the scheduler.

    Events are pipelined: the receiving thread hands the events of each job to the event
    loop in the order geard assigns the jobs and takes the next job at once (at most
    ``max_in_flight`` events unanswered, with ``max_in_flight_bytes`` of payload:
    :class:`InFlight`); an answering thread records the delivery ids of the events the
    scheduler finished (in one SQLite transaction per batch) and only then answers their
    jobs. So several events share one ZooKeeper flush and one dedup write, and each is still
    answered only after its items are in ZooKeeper and its delivery id is recorded.
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
            worker.job_class = ReceivedJob
            gearman.add_servers(worker, gearman_conf)
        self._threads = [threading.Thread(target=self._run, args=(worker,),
                                          name=f"event-receiver-{i}", daemon=True)
                         for i, worker in enumerate(self.workers)]
        self._answerer = threading.Thread(target=self._answer_loop, name="event-answerer",
                                          daemon=True)
        self._slots = InFlight(max_in_flight, max_in_flight_bytes)
        self._done: queue.Queue[list[Outcome] | None] = queue.Queue()
        # Events taken, not yet on the loop: the loop is woken once per batch of them.
        self._incoming: collections.deque[Handed] = collections.deque()
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
                _answer(job, None)

    def _handle(self, job: gear.WorkerJob) -> None:
        connection = job.name.removeprefix(FUNCTION_PREFIX)
        try:
            events, batch = parse_job(job.name, job.arguments)
        except InvalidEvent as exc:
            log.warning("Rejected event job on %s: %s", connection, exc)
            EVENTS.labels(connection, EventStatus.REJECTED).inc()
            _answer(job, {"status": EventStatus.REJECTED, "reason": str(exc)})
            return
        answer = JobAnswer(job, batch, len(events))
        handed: list[Handed] = []
        with self._flight_lock:
            for index, event in enumerate(events):
                if isinstance(event, InvalidEvent):
                    log.warning("Rejected event %d of job %s on %s: %s", index, job.handle,
                                connection, event)
                    EVENTS.labels(connection, EventStatus.REJECTED).inc()
                    answer.resolve(index, {"status": EventStatus.REJECTED, "reason": str(event)})
                elif event.delivery in self._in_flight or self.store.seen(event.delivery):
                    EVENTS.labels(connection, EventStatus.DUPLICATE).inc()
                    answer.resolve(index, {"status": EventStatus.DUPLICATE,
                                           "delivery": event.delivery})
                else:
                    self._in_flight.add(event.delivery)
                    handed.append((answer, index, event))
        if not handed:
            answer.send()
            return
        answer.size = len(job.arguments)
        self._slots.acquire(answer.size, len(handed))
        with self._flight_lock:
            self._incoming.extend(handed)
            wake, self._woken = not self._woken, True
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except BaseException:
                with self._flight_lock:
                    self._woken = False
                    lost = list(self._incoming)
                    self._incoming.clear()
                self._release({a for a, _i, _e in lost}, len(lost))
                self._landed([e for _a, _i, e in lost])
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
            tasks = [self.loop.create_task(self.handler(event)) for _a, _i, event in batch]
            finishing = self.loop.create_task(self._finish(batch, tasks))
            self._batches.add(finishing)
            finishing.add_done_callback(self._batches.discard)

    async def _finish(self, batch: list[Handed], tasks: list[asyncio.Task[None]]) -> None:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        settled: BaseException | None = None
        if self.settle is not None:
            try:
                await self.settle()
            except Exception as exc:  # noqa: BLE001 - unanswered jobs are resubmitted
                settled = exc
        outcomes: list[Outcome] = []
        for (answer, index, event), result in zip(batch, results, strict=True):
            error = result if isinstance(result, BaseException) else settled
            outcomes.append((answer, index, event, error))
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
                log.exception("Error answering %d event(s)", len(batch))
                for answer in {a for a, _i, _e, _x in batch if a.pending}:
                    answer.pending = 0
                    _answer(answer.job, None)
            finally:
                self._landed([event for _a, _i, event, _x in batch])
                self._release({a for a, _i, _e, _x in batch if not a.pending}, len(batch))

    def _release(self, answers: set[JobAnswer], events: int) -> None:
        self._slots.release(sum(a.size for a in answers), events)

    def _landed(self, events: list[TriggerEvent]) -> None:
        with self._flight_lock:
            self._in_flight.difference_update(e.delivery for e in events)

    def _answer_batch(self, batch: list[Outcome]) -> None:
        done: list[tuple[JobAnswer, int, TriggerEvent]] = []
        complete: list[JobAnswer] = []
        for answer, index, event, error in batch:
            if error is not None:
                log.error("Event %s failed: %r", event.delivery, error)
                if answer.resolve(index, None):
                    complete.append(answer)
            else:
                done.append((answer, index, event))
        inserted = self.store.record_many([event for _a, _i, event in done])
        for (answer, index, event), new in zip(done, inserted, strict=True):
            status = EventStatus.ACCEPTED if new else EventStatus.DUPLICATE
            EVENTS.labels(event.connection, status).inc()
            if answer.resolve(index, {"status": status, "delivery": event.delivery}):
                complete.append(answer)
        for answer in complete:
            answer.send()
