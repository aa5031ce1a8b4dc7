"""Dirty tracking of pipeline state: a flush writes exactly the items that changed.

Against the session's real (TLS) ZooKeeper: 50 queued items are written once; then only the
items whose fields or builds changed are written again, an assignment of an equal value
writes nothing, and what is stored reads back equal to the items in memory.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.harness.servers import ZooKeeperServer
from zuul.lib.zk import make_client
from zuul.scheduler import zkstate
from zuul.scheduler.model import Build, Change, ChangeQueue, QueueItem
from zuul.scheduler.tenant_config import NOOP


class _Manager:
    """The part of a PipelineManager that :func:`zkstate.snapshot` reads."""

    def __init__(self, queues: list[ChangeQueue]) -> None:
        self.queues = queues


def _item(number: int) -> QueueItem:
    change = Change(project="org/p", connection="github", ref=f"refs/pull/{number}/head",
                    newrev=f"{number:040x}", oldrev="", number=number)
    return QueueItem(change=change, pipeline="check", jobs=[NOOP])


def test_flush_writes_only_changed_items(zookeeper: ZooKeeperServer, zk_chroot: str) -> None:
    client = make_client(zookeeper.conf(zk_chroot))
    client.start(30)
    try:
        items = [_item(n) for n in range(1, 51)]
        managers: dict[str, dict[str, Any]] = {
            "t": {"check": _Manager([ChangeQueue(name="org/p", window=0, items=items)])}}
        store = zkstate.PipelineStateStore(client)

        async def flush() -> int:
            return await store.flush(zkstate.snapshot(managers, []))

        async def scenario() -> list[int]:
            written = [await flush(), await flush()]
            build = Build(job=NOOP, buildset_uuid=items[3].buildset_uuid)
            items[3].builds["noop"] = build
            written.append(await flush())
            build.result = "SUCCESS"
            items[7].active = True
            written.append(await flush())
            items[7].active = True  # the same value again
            build.task = None  # not stored
            written.append(await flush())
            del items[3].builds["noop"]
            written.append(await flush())
            return written

        # The pipeline znode and 50 items; nothing; then the changed items only.
        assert asyncio.run(scenario()) == [51, 0, 1, 2, 0, 1]
        assert store.writes == 55

        loaded = zkstate.PipelineStateStore(client).load()
        (_name, _window, stored), = loaded[("t", "check")].queues
        assert [d["uuid"] for d in stored] == [i.uuid for i in items]
        for data, item in zip(stored, items, strict=True):
            assert data == json.loads(json.dumps(zkstate.item_to_dict(item)))
    finally:
        client.stop()
        client.close()
