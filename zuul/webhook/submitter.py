"""Pushing spooled events into the scheduler as foreground gearman jobs.

``max_in_flight`` consumer tasks take events from a queue. Each submits what is waiting (of
one connection; up to ``batch_events`` events and ``batch_bytes`` of them, one event at least)
as a ``zuul:event:<connection>`` job and waits for the scheduler's answer: under load the
events that arrive during one job's round trip share the next job, alone an event goes at
once. WORK_COMPLETE counts the job's events as answered (a spool file is removed when all its
events are), while WORK_FAIL, a lost gearman connection, a refused submission or no answer
within ``job_timeout`` make it try the job again with exponential backoff (tenacity); events
it had already delivered come back ``duplicate``.

gear is thread-based. Submissions go through a :class:`~zuul.webhook.batching.Batcher` to one
executor thread (one thread hop for all jobs waiting; one thread, because gear's submitJob
matches JOB_CREATED replies to requests in order on a connection), and gear's poll thread hands
answers to the loop with ``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import gear
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from zuul.lib import gearman
from zuul.lib.event_jobs import FUNCTION_PREFIX, EventStatus
from zuul.webhook.batching import Batcher
from zuul.webhook.metrics import JOBS, SUBMISSIONS
from zuul.webhook.spool import Spool, SpoolFile

log = logging.getLogger(__name__)

# How long a submission waits for gear to connect to a server before it counts as failed.
# gear's submitJob fails at once while no connection is up, which is the case for the
# replay right after a start (gear connects in a thread of its own).
CONNECT_WAIT = 2.0
_FINAL = tuple(EventStatus)  # compared with ==: an answer's "status" may be any JSON value


class SubmitFailed(Exception):
    """This attempt did not get the event to the scheduler; try again later."""


@dataclass(eq=False)
class SpooledEvent:
    """One event: the spool file that holds it and its gearman job arguments."""

    spool_file: SpoolFile
    arguments: bytes


@dataclass(eq=False)
class EventBatch:
    """The events of one gearman job (all of one connection), in spool order."""

    connection: str
    events: list[SpooledEvent]

    @property
    def arguments(self) -> bytes:
        """One event's JSON object as it is; several as a JSON array of them."""
        if len(self.events) == 1:
            return self.events[0].arguments
        return b"[" + b",".join(e.arguments for e in self.events) + b"]"

    @property
    def name(self) -> str:
        """The spool file(s) the events come from, for log lines."""
        names = list(dict.fromkeys(e.spool_file.name for e in self.events))
        return ", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more"


class EventJob(gear.Job):
    """A gear job that calls ``on_done`` (from gear's thread) when it ends either way."""

    def __init__(self, name: bytes, arguments: bytes, on_done: Callable[[], None]) -> None:
        super().__init__(name, arguments)
        self.on_done = on_done
        self.disconnected = False


class EventClient(gearman.Client):
    """A gear client (TCP_NODELAY) that reports job endings to :class:`EventJob`."""

    @staticmethod
    def _notify(job: Any) -> None:
        if isinstance(job, EventJob):
            job.on_done()

    def handleWorkComplete(self, packet: gear.Packet) -> gear.Job:  # noqa: N802 - gear's API
        """WORK_COMPLETE: the scheduler answered."""
        job = super().handleWorkComplete(packet)
        self._notify(job)
        return job

    def handleWorkFail(self, packet: gear.Packet) -> gear.Job:  # noqa: N802 - gear's API
        """WORK_FAIL: the scheduler failed or disconnected; the job is retried."""
        job = super().handleWorkFail(packet)
        self._notify(job)
        return job

    def handleWorkException(self, packet: gear.Packet) -> gear.Job:  # noqa: N802
        """WORK_EXCEPTION: treated like WORK_FAIL."""
        job = super().handleWorkException(packet)
        self._notify(job)
        return job

    def handleDisconnect(self, job: gear.Job) -> gear.Job:  # noqa: N802 - gear's API
        """The gearman server went away with the job: it is lost there, so retry."""
        if isinstance(job, EventJob):
            job.disconnected = True
        self._notify(job)
        return job


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Submitter:
    """Background delivery of spooled events to the scheduler over gearman."""

    def __init__(self, spool: Spool, gearman_conf: dict[str, Any], conf: dict[str, Any]) -> None:
        self.spool = spool
        self.gearman_conf = gearman_conf
        self.conf = conf
        self._waiting: collections.deque[SpooledEvent] = collections.deque()
        self._arrived = asyncio.Event()  # set when _waiting may have events
        self.client: EventClient | None = None
        self._unanswered: dict[SpoolFile, int] = {}
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gear-submit")
        self._submissions: Batcher[EventJob, None] = Batcher(self._io, self._submit_jobs)
        self._removals: Batcher[SpoolFile, None] = Batcher(self._io, self._remove_files)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, backlog: list[tuple[SpoolFile, list[bytes]]]) -> None:
        """Connect to gearman and start delivering, beginning with ``backlog`` (replay)."""
        self.client = EventClient(client_id="zuul-webhook")
        gearman.add_servers(self.client, self.gearman_conf)
        for spool_file, events in backlog:
            self.add(spool_file, events)
        if backlog:
            log.info("Replaying %d spooled events", sum(f.events for f, _ in backlog))
        self._tasks = [asyncio.create_task(self._consume(), name=f"submit-{i}")
                       for i in range(self.conf["max_in_flight"])]

    def add(self, spool_file: SpoolFile, events: Sequence[bytes]) -> None:
        """Deliver the events of a freshly written (or replayed) spool file."""
        self._unanswered[spool_file] = self._unanswered.get(spool_file, 0) + len(events)
        self._waiting.extend(SpooledEvent(spool_file, arguments) for arguments in events)
        self._arrived.set()

    async def stop(self) -> None:
        """Stop delivering; whatever is still spooled is replayed at the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.client is not None:
            await asyncio.to_thread(self.client.shutdown)
        self._io.shutdown(wait=True, cancel_futures=True)

    async def _take(self) -> EventBatch:
        """The next job's events: the first waiting, and whatever else waits that fits."""
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        first = self._waiting.popleft()
        events = [first]
        size = len(first.arguments)
        connection = first.spool_file.connection
        while len(events) < self.conf["batch_events"] and self._waiting:
            following = self._waiting[0]  # the next job's first event, if it does not fit
            size += len(following.arguments) + 1
            if following.spool_file.connection != connection or size > self.conf["batch_bytes"]:
                break
            events.append(self._waiting.popleft())
        return EventBatch(connection, events)

    async def _consume(self) -> None:
        while True:
            batch = await self._take()
            try:
                await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep consuming; the file stays for a replay
                log.exception("Giving up on events of %s until the next start", batch.name)

    def _log_retry(self, state: RetryCallState) -> None:
        batch: EventBatch = state.args[0]
        SUBMISSIONS.labels(batch.connection, "retry").inc(len(batch.events))
        outcome = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.log(logging.WARNING if state.attempt_number == 1 else logging.DEBUG,
                "%d event(s) from %s not delivered (%s); attempt %d, retrying in %.1fs",
                len(batch.events), batch.name, outcome, state.attempt_number, wait)

    async def _deliver(self, batch: EventBatch) -> None:
        try:
            statuses = await self._submit_once(batch)
        except SubmitFailed as exc:
            # The common case above skips tenacity's ~0.1 ms per call; failures get its
            # retry policy (an immediate second attempt, then exponential backoff).
            SUBMISSIONS.labels(batch.connection, "retry").inc(len(batch.events))
            log.debug("First attempt for %d event(s) of %s failed: %s", len(batch.events),
                      batch.name, exc)
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(SubmitFailed),
                wait=wait_exponential(multiplier=self.conf["retry_initial"],
                                      max=self.conf["retry_max"])
                + wait_random(0, self.conf["retry_initial"]),
                before_sleep=self._log_retry, reraise=True)
            statuses = await retrying(self._submit_once, batch)
        removable = []
        for event, status in zip(batch.events, statuses, strict=True):
            SUBMISSIONS.labels(batch.connection, status).inc()
            spool_file = event.spool_file
            self._unanswered[spool_file] -= 1
            if self._unanswered[spool_file] == 0:
                del self._unanswered[spool_file]
                removable.append(spool_file)
        if removable:
            await asyncio.gather(*(self._removals.call(f) for f in removable))

    async def _submit_once(self, batch: EventBatch) -> list[str]:
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        def on_done() -> None:
            loop.call_soon_threadsafe(_resolve, answered)

        job = EventJob((FUNCTION_PREFIX + batch.connection).encode(), batch.arguments, on_done)
        JOBS.labels(batch.connection).inc()
        await self._submissions.call(job)
        try:
            await asyncio.wait_for(answered, self.conf["job_timeout"])
        except TimeoutError:
            raise SubmitFailed(f"no answer within {self.conf['job_timeout']}s") from None
        if job.disconnected:
            raise SubmitFailed("gearman connection lost")
        if job.failure:
            raise SubmitFailed("the job failed (WORK_FAIL)")
        return self._statuses(batch, job)

    def _submit_jobs(self, jobs: Sequence[EventJob]) -> list[SubmitFailed | None]:
        assert self.client is not None
        try:
            self.client.waitForServer(timeout=CONNECT_WAIT)
        except gear.TimeoutError:
            return [SubmitFailed(f"no gearman server connected within {CONNECT_WAIT}s")
                    for _job in jobs]
        results: list[SubmitFailed | None] = []
        for job in jobs:
            try:
                self.client.submitJob(job, timeout=5)
                results.append(None)
            except Exception as exc:  # noqa: BLE001 - any gear failure means retry
                results.append(SubmitFailed(f"submission failed: {exc!r}"))
        return results

    def _remove_files(self, spool_files: Sequence[SpoolFile]) -> list[None]:
        for spool_file in spool_files:
            self.spool.remove(spool_file)
        return [None] * len(spool_files)

    @staticmethod
    def _statuses(batch: EventBatch, job: EventJob) -> list[str]:
        """Each event's final status from the scheduler's answer (a batch's ``statuses``,
        one event's object, or one object for a whole job it refused)."""
        try:
            answer = json.loads(b"".join(job.data))
        except ValueError:
            answer = None
        answers: list[Any] = [answer] * len(batch.events)
        if isinstance(answer, dict) and "statuses" in answer:
            answers = answer["statuses"] if isinstance(answer["statuses"], list) else []
        if len(answers) != len(batch.events):
            answers = [None] * len(batch.events)
        statuses = []
        for event, one in zip(batch.events, answers, strict=True):
            status = one.get("status") if isinstance(one, dict) else None
            if status not in _FINAL:
                log.warning("Unexpected answer for an event of %s: %r; treating it as "
                            "delivered", event.spool_file.name, one if one is not None
                            else job.data)
                status = "unknown"
            elif status == EventStatus.REJECTED:
                log.warning("The scheduler rejected an event of %s: %s",
                            event.spool_file.name, one.get("reason"))
            statuses.append(status)
        return statuses
