"""Group commit: many concurrent callers, one trip to a worker thread for all of them.

A :class:`Batcher` collects the items that callers ``await call(item)`` with while its
previous trip is under way, then hands them all to ``process(items)`` in its executor (one
thread hop, one fsync or one gearman round of submissions for the lot) and gives each caller
its own result or exception. Under load, batches grow by themselves; alone, an item goes at
once.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# process(items) returns one result per item: a value, or an exception raised at its caller.
Process = Callable[[Sequence[Item]], Sequence["Result | BaseException"]]
# after(items, results) runs on the event loop once per batch, before any caller resumes.
After = Callable[[Sequence[Item], Sequence["Result | BaseException"]], None]


class Batcher(Generic[Item, Result]):
    """Run ``process`` on batches of items in ``executor``, one batch at a time.

    ``after``, if given, sees each batch's items and results on the event loop before the
    callers are woken (for bookkeeping that must cover the whole batch at once).
    """

    def __init__(self, executor: Executor, process: Process, after: After | None = None,
                 max_batch: int = 256) -> None:
        self.executor = executor
        self.process = process
        self.after = after
        self.max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def call(self, item: Item) -> Result:
        """Process ``item`` in the next batch; return its result or raise its exception."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[:self.max_batch]
                del self._pending[:self.max_batch]
                try:
                    results = await loop.run_in_executor(
                        self.executor, self.process, [item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch + self._pending:
                        future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
                    results = [exc] * len(batch)
                if self.after is not None:
                    self.after([item for item, _ in batch], results)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = None
