"""Pushing spooled events into the scheduler as foreground gearman jobs.

``max_in_flight`` consumer tasks take spool entries from a queue. Each submits its entry as a
``zuul:event:<connection>`` job and waits for the scheduler's answer; WORK_COMPLETE removes
the spool file, while WORK_FAIL, a lost gearman connection, a refused submission or no answer
within ``job_timeout`` make it try again with exponential backoff (tenacity). gear is
thread-based: submissions run in one executor thread (gear's submitJob matches JOB_CREATED
replies to requests in order, so one connection must not be used by two submitting threads
at once) and gear's poll thread hands answers to the loop with ``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gear
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from zuul.lib import gearman
from zuul.webhook.metrics import SUBMISSIONS
from zuul.webhook.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

FUNCTION_PREFIX = "zuul:event:"
FINAL_STATUSES = ("accepted", "duplicate", "rejected")


class SubmitFailed(Exception):
    """This attempt did not get the event to the scheduler; try again later."""


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
    """Background delivery of spool entries to the scheduler over gearman."""

    def __init__(self, spool: Spool, servers: list[str], conf: dict[str, Any]) -> None:
        self.spool = spool
        self.servers = servers
        self.conf = conf
        self.queue: asyncio.Queue[SpoolEntry] = asyncio.Queue()
        self.client: EventClient | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gear-submit")
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, backlog: list[SpoolEntry]) -> None:
        """Connect to gearman and start delivering, beginning with ``backlog`` (replay)."""
        self.client = EventClient(client_id="zuul-webhook")
        gearman.add_servers(self.client, self.servers)
        for entry in backlog:
            self.queue.put_nowait(entry)
        if backlog:
            log.info("Replaying %d spooled events", len(backlog))
        self._tasks = [asyncio.create_task(self._consume(), name=f"submit-{i}")
                       for i in range(self.conf["max_in_flight"])]

    def enqueue(self, entry: SpoolEntry) -> None:
        """Deliver a freshly spooled entry."""
        self.queue.put_nowait(entry)

    async def stop(self) -> None:
        """Stop delivering; whatever is still spooled is replayed at the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.client is not None:
            await asyncio.to_thread(self.client.shutdown)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def connected(self) -> bool:
        """True when at least one gearman server connection is up."""
        return self.client is not None and bool(self.client.active_connections)

    async def _consume(self) -> None:
        while True:
            entry = await self.queue.get()
            try:
                await self._deliver(entry)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep consuming; the file stays for a replay
                log.exception("Giving up on %s until the next start", entry.name)

    def _log_retry(self, state: RetryCallState) -> None:
        entry: SpoolEntry = state.args[0]
        SUBMISSIONS.labels(entry.connection, "retry").inc()
        outcome = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.log(logging.WARNING if state.attempt_number == 1 else logging.DEBUG,
                "Event %s not delivered (%s); attempt %d, retrying in %.1fs",
                entry.name, outcome, state.attempt_number, wait)

    async def _deliver(self, entry: SpoolEntry) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(SubmitFailed),
            wait=wait_exponential_jitter(initial=self.conf["retry_initial"],
                                         max=self.conf["retry_max"]),
            before_sleep=self._log_retry, reraise=True)
        status = await retrying(self._submit_once, entry)
        SUBMISSIONS.labels(entry.connection, status).inc()
        await asyncio.to_thread(self.spool.remove, entry)

    async def _submit_once(self, entry: SpoolEntry) -> str:
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        job = await loop.run_in_executor(
            self._pool, self._submit_blocking, entry,
            lambda: loop.call_soon_threadsafe(_resolve, answered))
        try:
            await asyncio.wait_for(answered, self.conf["job_timeout"])
        except TimeoutError:
            raise SubmitFailed(f"no answer within {self.conf['job_timeout']}s") from None
        if job.disconnected:
            raise SubmitFailed("gearman connection lost")
        if job.failure:
            raise SubmitFailed("the job failed (WORK_FAIL)")
        return self._status(entry, job)

    def _submit_blocking(self, entry: SpoolEntry, on_done: Callable[[], None]) -> EventJob:
        assert self.client is not None
        arguments = self.spool.read(entry)
        job = EventJob((FUNCTION_PREFIX + entry.connection).encode(), arguments, on_done)
        try:
            self.client.submitJob(job, timeout=5)
        except gear.GearmanError as exc:
            raise SubmitFailed(f"submission refused: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any gear failure is a retry
            raise SubmitFailed(f"submission failed: {exc!r}") from None
        return job

    @staticmethod
    def _status(entry: SpoolEntry, job: EventJob) -> str:
        try:
            answer = json.loads(b"".join(job.data))
            status = answer.get("status") if isinstance(answer, dict) else None
        except ValueError:
            status = None
        if status not in FINAL_STATUSES:
            log.warning("Unexpected answer for %s: %r; treating it as delivered",
                        entry.name, job.data)
            return "unknown"
        if status == "rejected":
            log.warning("The scheduler rejected %s: %s", entry.name, answer.get("reason"))
        return status
