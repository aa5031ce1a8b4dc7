"""Zuul's relative priority: a request of an item further back in its queue yields to the
requests of items ahead of it (same precedence), also when the queue changes later."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

from nodepool.zk import NodepoolStore, RequestState
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, local_config, start_launcher
from zuul.nodes import NodeRequester, NodeSet
from zuul.scheduler.manager import PipelineManager
from zuul.scheduler.model import Build, Change, ChangeQueue, Job, PipelineConfig, QueueItem
from zuul.scheduler.scheduler import Scheduler


async def _queued(requester: NodeRequester, store: NodepoolStore, name: str,
                  relative_priority: int) -> tuple[asyncio.Task[NodeSet], str]:
    """Submit a request that has to wait (the pool is full); return its task and id."""
    ids: list[str] = []
    task = asyncio.create_task(requester.request(
        ["local-label"], name, relative_priority=relative_priority, submitted=ids.append))
    await eventually(lambda: ids and (r := store.get_request(ids[0])) is not None
                     and r.state == RequestState.PENDING, what=f"{name} waiting")
    return task, ids[0]


async def test_requests_further_back_yield_to_those_ahead(
        zk_stack: Stack, make_requester: Callable[[str], Awaitable[NodeRequester]],
        store: NodepoolStore) -> None:
    start_launcher(zk_stack, "launcher-prio", local_config(max_servers=1))
    requester = await make_requester("zuul-prio")
    holding = await asyncio.wait_for(requester.request(["local-label"], "holder"), 20)
    # Written first but further back in the queue (relative_priority 2), then the item ahead.
    behind, _ = await _queued(requester, store, "behind", 2)
    ahead, _ = await _queued(requester, store, "ahead", 0)
    await requester.release(holding)
    first = await asyncio.wait_for(ahead, 20)
    assert not behind.done()
    await requester.release(first)
    await requester.release(await asyncio.wait_for(behind, 20))


async def test_revised_priority_reorders_waiting_requests(
        zk_stack: Stack, make_requester: Callable[[str], Awaitable[NodeRequester]],
        store: NodepoolStore) -> None:
    """The queue changed (the first item was dequeued): Zuul revises the waiting requests."""
    start_launcher(zk_stack, "launcher-revise", local_config(max_servers=1))
    requester = await make_requester("zuul-revise")
    holding = await asyncio.wait_for(requester.request(["local-label"], "holder"), 20)
    first, first_id = await _queued(requester, store, "first", 0)
    second, _ = await _queued(requester, store, "second", 1)
    assert await requester.revise(first_id, 5) is True
    assert store.get_request(first_id).relative_priority == 5
    await requester.release(holding)
    got = await asyncio.wait_for(second, 20)
    assert not first.done()
    await requester.release(got)
    await requester.release(await asyncio.wait_for(first, 20))


async def test_scheduler_revises_waiting_requests_when_its_queue_changes(
        zk_stack: Stack, make_requester: Callable[[str], Awaitable[NodeRequester]],
        store: NodepoolStore) -> None:
    """An item promoted to the head: the scheduler revises its items' waiting requests, so
    the promoted item's request is served first."""
    start_launcher(zk_stack, "launcher-requeue", local_config(max_servers=1))
    requester = await make_requester("zuul-requeue")
    scheduler = Scheduler(None, {}, cast(Any, None),
                          launcher=cast(Any, SimpleNamespace(nodes=requester)))
    config = PipelineConfig(name="gate", manager="dependent", description="", triggers=[],
                            reporters={}, window=20)
    manager = PipelineManager("tenant", config, scheduler)
    scheduler.managers = {"tenant": {"gate": manager}}
    job = Job(name="job", playbook=None, nodeset=["local-label"], timeout=60, voting=True)
    queue = ChangeQueue(name="gate", window=20)
    manager.queues.append(queue)
    holding = await asyncio.wait_for(requester.request(["local-label"], "holder"), 20)
    tasks: list[asyncio.Task[NodeSet]] = []
    for index, name in enumerate(("first", "second")):
        item = QueueItem(change=Change(project="org/p", connection="github", ref=name,
                                       newrev=name), pipeline="gate", jobs=[job])
        build = Build(job=job, waiting="node request", relative_priority=index)
        item.builds[job.name] = build
        queue.items.append(item)
        tasks.append(asyncio.create_task(requester.request(
            ["local-label"], build.uuid, relative_priority=index,
            submitted=lambda rid, b=build: setattr(b, "node_request", rid))))
    builds = [item.builds["job"] for item in queue.items]
    await eventually(lambda: all(b.node_request and (r := store.get_request(b.node_request))
                                 and r.state == RequestState.PENDING for b in builds),
                     what="both requests waiting")
    scheduler.promote("tenant", "gate", [queue.items[1]])
    scheduler._revise_node_requests(manager)
    assert [b.relative_priority for b in builds] == [1, 0]
    await eventually(lambda: [store.get_request(cast(str, b.node_request)).relative_priority
                              for b in builds] == [1, 0], what="requests revised")
    await requester.release(holding)
    got = await asyncio.wait_for(tasks[1], 20)
    assert not tasks[0].done()
    await requester.release(got)
    await requester.release(await asyncio.wait_for(tasks[0], 20))
