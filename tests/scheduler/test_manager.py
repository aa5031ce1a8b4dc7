"""Pipeline queue logic in-process (the e2e tests cover the same paths with real builds)."""
from __future__ import annotations

from zuul.scheduler.manager import PipelineManager
from zuul.scheduler.model import (
    FAILURE,
    SUCCESS,
    Build,
    Change,
    Job,
    MergeState,
    PipelineConfig,
    QueueItem,
)

JOB = Job("unit", None, [], 60, True)


class Hooks:
    """Records what the manager asks for; builds finish when the test says so."""

    def __init__(self) -> None:
        self.started: list[tuple[str, Build]] = []
        self.canceled: list[Build] = []
        self.reports: list[tuple[str, str]] = []

    def start_build(self, manager: PipelineManager, item: QueueItem, build: Build) -> None:
        self.started.append((item.change.id, build))

    def cancel_build(self, build: Build) -> None:
        self.canceled.append(build)

    def acquire_semaphores(self, manager: PipelineManager, item: QueueItem,
                           build: Build) -> bool:
        return True

    def report(self, manager: PipelineManager, item: QueueItem, action: str) -> None:
        self.reports.append((item.change.id, action))

    def prepare(self, manager: PipelineManager, item: QueueItem) -> None:
        item.merge_state = MergeState.READY  # nothing to merge in these tests

    def merge_change(self, manager: PipelineManager, item: QueueItem) -> None:
        item.merged, item.merging = True, False


def _manager(dependent: bool = True, window: int = 20) -> tuple[PipelineManager, Hooks]:
    hooks = Hooks()
    config = PipelineConfig("gate" if dependent else "check",
                            "dependent" if dependent else "independent", "", [], {}, window)
    return PipelineManager("t", config, hooks), hooks


def _change(n: int, project: str = "org/p") -> Change:
    return Change(project, "github", f"refs/pull/{n}/head", f"{n:040x}", number=n)


def _finish(item: QueueItem, result: str) -> None:
    for build in item.builds.values():
        build.result = result


def test_gate_reset_restarts_items_behind_a_failure() -> None:
    manager, hooks = _manager()
    a, b, c = (manager.enqueue(_change(n), [JOB]) for n in (1, 2, 3))
    assert a and b and c
    manager.process()
    assert len(hooks.started) == 3 and c.base is b
    first_c = c.builds["unit"]
    _finish(b, FAILURE)
    manager.process()
    assert c.base is a and first_c in hooks.canceled and first_c.canceled
    assert c.builds["unit"] is not first_c  # restarted
    _finish(a, SUCCESS)
    manager.process()
    # a reported; b (failing, complete) reported next; c keeps its new build.
    assert hooks.reports[-2:] == [(a.change.id, "success"), (b.change.id, "failure")]
    assert manager.items == [c] and c.base is None and len(hooks.canceled) == 1
    _finish(c, SUCCESS)
    manager.process()
    assert hooks.reports[-1] == (c.change.id, "success") and not manager.queues


def test_window_dequeue_and_promote() -> None:
    manager, hooks = _manager(window=2)
    a, b, c = (manager.enqueue(_change(n), [JOB]) for n in (1, 2, 3))
    assert a and b and c
    manager.process()
    assert [i.active for i in (a, b, c)] == [True, True, False] and not c.builds
    first_b = b.builds["unit"]
    manager.dequeue(a)
    manager.process()
    assert b.base is None and c.active and first_b in hooks.canceled
    assert b.builds["unit"] is not first_b
    manager.promote([c])
    manager.process()
    assert manager.items == [c, b] and b.base is c
    assert manager.enqueue(_change(2), [JOB]) is None  # already queued


def test_independent_supersedes_old_revision() -> None:
    manager, hooks = _manager(dependent=False)
    old = manager.enqueue(_change(1), [JOB])
    manager.process()
    new = manager.enqueue(Change("org/p", "github", "refs/pull/1/head", "f" * 40, number=1),
                          [JOB])
    assert old is not None and new is not None and old.dequeued
    assert manager.items == [new] and old.builds == {} and len(hooks.canceled) == 1
