"""Pipeline managers: the queue logic of independent and dependent pipelines.

Before its builds start, every item's speculative future state is prepared by the merger
(``hooks.prepare``): a merge conflict fails the item without a build. A dependent pipeline
tests each item on top of the nearest non-failing item ahead of it (its *base*). When an
item's base changes - the item ahead failed, was dequeued or was promoted past - its builds
are canceled and started again: Zuul's gate reset. Items are reported from the head of a
dependent queue only, in order; when the pipeline's success reporter merges
(``merge: true``), the head item is merged (``hooks.merge_change``) before it is reported,
and a refused merge fails it, so the items behind reset. An item that ``needs`` (Depends-On)
a change waits for it ahead in the same queue and fails if it fails. In an independent
pipeline every item stands alone and is reported as soon as its jobs are done.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from zuul.scheduler.model import (
    SKIPPED,
    SUCCESS,
    Build,
    Change,
    ChangeQueue,
    Job,
    MergeState,
    PipelineConfig,
    QueueItem,
)

log = logging.getLogger(__name__)


class PipelineHooks(Protocol):
    """What a manager needs from the scheduler: start/cancel builds, report items."""

    def start_build(self, manager: PipelineManager, item: QueueItem, build: Build) -> None: ...

    def cancel_build(self, build: Build) -> None: ...

    def report(self, manager: PipelineManager, item: QueueItem, action: str) -> None: ...

    def prepare(self, manager: PipelineManager, item: QueueItem) -> None: ...

    def merge_change(self, manager: PipelineManager, item: QueueItem) -> None: ...

    def acquire_semaphores(self, manager: PipelineManager, item: QueueItem,
                           build: Build) -> bool: ...


class PipelineManager:
    """The live queues of one pipeline of one tenant."""

    def __init__(self, tenant: str, config: PipelineConfig, hooks: PipelineHooks) -> None:
        self.tenant = tenant
        self.config = config
        self.hooks = hooks
        self.queues: list[ChangeQueue] = []

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def merges(self) -> bool:
        """True when a success reporter of this (dependent) pipeline merges the change."""
        return self.config.dependent and any(
            opts.get("merge") for opts in self.config.reporters.get("success", {}).values())

    @property
    def items(self) -> list[QueueItem]:
        """Every item of every queue, in queue order."""
        return [item for queue in self.queues for item in queue.items]

    def find(self, predicate: Callable[[Change], bool]) -> list[QueueItem]:
        """Items whose change satisfies ``predicate``."""
        return [item for item in self.items if predicate(item.change)]

    def _queue_for(self, change: Change, queue_name: str | None) -> ChangeQueue:
        if self.config.dependent:
            name = queue_name or self.config.name
        else:
            name = change.project
        for queue in self.queues:
            if queue.name == name:
                return queue
        queue = ChangeQueue(name=name, window=self.config.window if self.config.dependent
                            else 0)
        self.queues.append(queue)
        return queue

    def enqueue(self, change: Change, jobs: list[Job], queue_name: str | None = None,
                event_id: str = "") -> QueueItem | None:
        """Add an item for ``change``; None when it is already there.

        In an independent pipeline a new revision of a pull request supersedes (dequeues)
        the items of its older revisions.
        """
        # One pass over the queued items (this runs for every trigger event).
        superseded = []
        for queue in self.queues:
            for queued in queue.items:
                other = queued.change
                if other.project != change.project:
                    continue
                if other.id == change.id:
                    return None
                if other.number == change.number and change.number is not None \
                        and not self.config.dependent:
                    superseded.append(queued)
        for old in superseded:
            self.dequeue(old)
        item = QueueItem(change=change, pipeline=self.config.name, jobs=list(jobs),
                         event_id=event_id)
        self._queue_for(change, queue_name).items.append(item)
        log.info("Event %s: enqueued %s %s in %s/%s (buildset %s)", event_id or "-",
                 change.project, change.id, self.tenant, self.name, item.buildset_uuid)
        return item

    def dequeue(self, item: QueueItem) -> None:
        """Remove ``item`` at once, canceling its running builds (items behind reset)."""
        for build in item.reset():
            self.hooks.cancel_build(build)
        item.dequeued = True
        for queue in self.queues:
            if item in queue.items:
                queue.items.remove(item)
        self._drop_empty_queues()

    def promote(self, items: list[QueueItem]) -> None:
        """Move ``items`` to the head of their queue(s), in the given order."""
        for queue in self.queues:
            chosen = [i for i in items if i in queue.items]
            if chosen:
                queue.items = chosen + [i for i in queue.items if i not in chosen]

    def _drop_empty_queues(self) -> None:
        self.queues = [q for q in self.queues if q.items]

    def process(self) -> None:
        """One pass over every queue: fix bases, start builds, report finished items."""
        for queue in self.queues:
            if self.config.dependent:
                self._process_dependent(queue)
            else:
                self._process_independent(queue)
        self._drop_empty_queues()

    def _launch(self, item: QueueItem) -> None:
        if item.error is not None:
            return
        if not item.reported_start:
            item.reported_start = True
            self.hooks.report(self, item, "start")
        if item.merge_state is MergeState.NEW:
            item.merge_state = MergeState.PENDING
            self.hooks.prepare(self, item)  # may finish at once (nothing to merge)
        if item.merge_state is not MergeState.READY or len(item.builds) == len(item.jobs):
            return  # not ready, or every job has its build already
        for job in item.jobs:
            if job.name in item.builds:
                continue
            deps = [item.builds.get(name) for name in job.dependencies]
            if any(dep is None or dep.result is None for dep in deps):
                continue  # waits for its dependencies
            build = Build(job=job, buildset_uuid=item.buildset_uuid)
            if any(dep is not None and dep.result != SUCCESS for dep in deps):
                build.result = SKIPPED  # a dependency failed: Zuul skips the job
                item.builds[job.name] = build
                continue
            if job.semaphores and not self.hooks.acquire_semaphores(self, item, build):
                continue  # waits for a semaphore
            item.builds[job.name] = build
            self.hooks.start_build(self, item, build)

    def _finish(self, queue: ChangeQueue, item: QueueItem, remove: bool = True) -> None:
        """Report ``item``; take it out of ``queue`` unless the caller does (``remove``)."""
        result = item.overall_result()
        self.hooks.report(self, item, "success" if result == SUCCESS else "failure")
        if remove:
            queue.items.remove(item)
        for other in queue.items if self.config.dependent else ():
            # The item merged (or was reported): items built on it keep their builds.
            if other.base is item:
                other.base = item.base
            if result == SUCCESS:
                other.needs = [c for c in other.needs if not _same(c, item.change)]
        log.info("Event %s: reported %s %s in %s/%s: %s", item.event_id or "-",
                 item.change.project, item.change.id, self.tenant, self.name, result)

    def _process_independent(self, queue: ChangeQueue) -> None:
        finished: set[int] = set()
        for item in list(queue.items):
            if not (item.active and item.base_set):  # (each assignment is a Python call)
                item.active = True
                item.base_set = True
            self._launch(item)
            if item.complete:
                self._finish(queue, item, remove=False)
                finished.add(id(item))
        if finished:  # one pass, however many items ended (not one list.remove each)
            queue.items = [i for i in queue.items if id(i) not in finished]

    def _fail(self, item: QueueItem, error: str) -> None:
        """Fail ``item`` without (more) builds: cancel what runs."""
        log.info("Item %s %s in %s/%s fails: %s", item.change.project, item.change.id,
                 self.tenant, self.name, error)
        item.error = error
        for build in item.builds.values():
            if build.result is None:
                self.hooks.cancel_build(build)

    def _check_needs(self, queue: ChangeQueue, index: int, item: QueueItem) -> None:
        """Fail ``item`` if a change it depends on is not ahead of it, or failed."""
        if item.error is not None:
            return
        ahead = queue.items[:index]
        for need in item.needs:
            found = [i for i in ahead if _same(i.change, need)]
            if not found:
                self._fail(item, f"depends on {need.url or need.id}, which is neither merged "
                                 "nor ahead of it in the queue")
                return
            if found[-1].failing:
                self._fail(item, f"depends on {need.url or need.id}, which failed")
                return

    def _process_dependent(self, queue: ChangeQueue) -> None:
        nnfi: QueueItem | None = None
        for index, item in enumerate(queue.items):
            if item.base_set and item.base is not nnfi:
                log.info("Resetting %s %s in %s/%s: its base changed", item.change.project,
                         item.change.id, self.tenant, self.name)
                for build in item.reset():
                    self.hooks.cancel_build(build)
            self._check_needs(queue, index, item)
            item.base = nnfi
            item.base_set = True
            item.active = index < queue.window
            if item.active:
                self._launch(item)
            if not item.failing:
                nnfi = item
        while queue.items and queue.items[0].complete:
            head = queue.items[0]
            if self.merges and not head.failing and head.merged is None:
                if not head.merging:
                    head.merging = True
                    self.hooks.merge_change(self, head)
                break  # reported once the merge answered
            self._finish(queue, head)


def _same(a: Change, b: Change) -> bool:
    """True when ``a`` and ``b`` are the same pull request (any revision) or ref."""
    if a.number is not None or b.number is not None:
        return a.project == b.project and a.number == b.number
    return a.project == b.project and a.ref == b.ref
