"""status.json says what each item of a dependent queue is tested on (its base), also when
an item ahead fails and the items behind are rebuilt without it."""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

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
from zuul.scheduler.status import pipeline_dict

JOB = Job("unit", None, [], 60, True)


class Hooks:
    def start_build(self, manager: PipelineManager, item: QueueItem, build: Build) -> None:
        build.task = object()  # type: ignore[assignment]  # running

    def cancel_build(self, build: Build) -> None:
        build.canceled = True

    def report(self, manager: PipelineManager, item: QueueItem, action: str) -> None:
        pass

    def prepare(self, manager: PipelineManager, item: QueueItem) -> None:
        item.merge_state = MergeState.READY

    def merge_change(self, manager: PipelineManager, item: QueueItem) -> None:
        item.merged, item.merging = True, False


def _status(manager: PipelineManager) -> dict[str, Any]:
    scheduler = SimpleNamespace(managers={"t": {"gate": manager}}, estimates={})
    return pipeline_dict(scheduler, "t", "gate", time.time())  # type: ignore[arg-type]


def test_item_ahead_is_the_base_the_item_is_tested_on() -> None:
    config = PipelineConfig("gate", "dependent", "", [], {}, 20)
    manager = PipelineManager("t", config, Hooks())
    a, b, c = (manager.enqueue(Change("org/a", "github", f"refs/pull/{n}/head", f"{n:040x}",
                                      number=n), [JOB]) for n in (1, 2, 3))
    assert a is not None and b is not None and c is not None
    manager.process()
    heads = _status(manager)["change_queues"][0]["heads"]
    assert [[i["id"] for i in head] for head in heads] == [[a.uuid, b.uuid,
                                                            c.uuid]]
    assert heads[0][2]["item_ahead"] == b.uuid
    # B fails while A still runs: C is reset onto A, and the status says so.
    b.builds["unit"].result = FAILURE
    manager.process()
    assert c.base is a
    heads = _status(manager)["change_queues"][0]["heads"]
    by_id = {i["id"]: i for head in heads for i in head}
    assert by_id[c.uuid]["item_ahead"] == a.uuid
    assert by_id[a.uuid]["items_behind"] == [b.uuid, c.uuid]
    assert by_id[b.uuid]["failing_reasons"] == ["at least one job failed"]
    assert [[i["id"] for i in head] for head in heads] == [[a.uuid, b.uuid],
                                                           [c.uuid]]
    a.builds["unit"].result = SUCCESS
    manager.process()
    assert [i.uuid for i in manager.items] == [c.uuid]
