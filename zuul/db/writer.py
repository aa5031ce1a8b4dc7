"""Build history writes off the scheduler's hot path, committed in batches.

The scheduler hands every history write (buildset started or ended, build ended, system
event) to :meth:`HistoryWriter.submit`, which returns at once with a future. One task takes
everything submitted so far and applies it in one transaction in a worker thread
(:meth:`zuul.db.history.BuildHistory.apply`); what is submitted meanwhile forms the next
batch. So under load a processing pass's writes share one commit instead of one commit (and
one lock round) each, and the event loop never waits for the database. Writes are applied in
the order they were submitted; a caller that must know its row is stored awaits the future.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from zuul.db.history import BuildHistory, HistoryOp, Write

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # writes per transaction


class HistoryWriter:
    """Queues history writes and commits them in batches, in order, in a thread."""

    def __init__(self, history: BuildHistory, max_batch: int = MAX_BATCH) -> None:
        self.history = history
        self.max_batch = max_batch
        self.batches = 0  # transactions committed (for tests and the bench)
        self._pending: list[tuple[Write, asyncio.Future[None], str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, op: HistoryOp, *args: Any, context: str = "") -> asyncio.Future[None]:
        """Queue one write; the future is done once it is committed (or failed).

        A failed write is logged here, with ``context`` (the event and build it belongs
        to), so a caller that does not need to know need not await the future.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((op, args), future, context))
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:self.max_batch]
                del self._pending[:self.max_batch]
                await self._commit(batch)
            self._idle.set()

    async def _commit(self, batch: list[tuple[Write, asyncio.Future[None], str]]) -> None:
        try:
            errors = await asyncio.to_thread(self.history.apply, [w for w, _f, _c in batch])
        except Exception as exc:  # noqa: BLE001 - every caller gets the error
            errors = [exc] * len(batch)
        self.batches += 1
        for (write, future, context), error in zip(batch, errors, strict=True):
            if error is not None:
                log.error("History write %s%s failed: %s", write[0].value,
                          f" ({context})" if context else "", error)
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
                future.exception()  # retrieved: nobody needs to await it

    async def drain(self) -> None:
        """Return once everything submitted so far is committed."""
        while self._pending or not self._idle.is_set():
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
                self._wake.set()
            await self._idle.wait()

    async def close(self) -> None:
        """Commit what is pending, then stop the writing task."""
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
