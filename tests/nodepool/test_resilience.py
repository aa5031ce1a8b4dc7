"""Two launchers on one ZooKeeper, and a launcher surviving a ZooKeeper restart."""
from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from kazoo.client import KazooClient

from nodepool.zk import NodepoolStore
from tests.harness.http import get, status_of
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, start_launcher
from zuul.nodes import NodeRequester, NodeSet

SHARED = {
    "labels": [{"name": "small", "min-ready": 2}, {"name": "static"}],
    "providers": [
        {"name": "localhost", "driver": "local",
         "pools": [{"name": "main", "max-servers": 4, "labels": ["small"]}]},
        {"name": "static", "driver": "static", "pools": [{"name": "main", "nodes": [
            {"name": f"static-{i}", "labels": ["static"], "connection-type": "local"}
            for i in range(3)]}]},
    ],
}


@pytest.mark.slow
async def test_two_launchers_never_allocate_a_node_twice(
        zk_stack: Stack, make_requester, store: NodepoolStore) -> None:
    """Both launchers serve the same providers; 60 concurrent requests from two schedulers
    compete for 3 static hosts and 4 local slots. No node is ever in two nodesets, and every
    request gets its nodes: a launcher with a stale view of a request another launcher
    fulfilled never frees or reallocates that request's nodes before its requestor takes them."""
    start_launcher(zk_stack, "launcher-a", SHARED)
    start_launcher(zk_stack, "launcher-b", SHARED)
    await eventually(lambda: len(store.launchers()) == 2, what="both launchers registered")
    requesters = [await make_requester("zuul-1"), await make_requester("zuul-2")]
    held: dict[str, str] = {}
    overlaps: list[str] = []
    served = Counter()
    rng = random.Random(5)

    chosen: list[list[str]] = []

    async def build(n: int) -> None:
        requester = requesters[n % 2]
        labels = rng.choice([["static"], ["small"], ["static", "static"], ["small", "small"]])
        chosen.append(labels)
        nodeset: NodeSet = await requester.request(labels, f"build-{n}")
        for node in nodeset.nodes:
            if node.id in held:
                overlaps.append(f"{node.id} in {held[node.id]} and {nodeset.request_id}")
            held[node.id] = nodeset.request_id
        await asyncio.sleep(rng.uniform(0, 0.02))  # the "build" runs
        for node in nodeset.nodes:
            held.pop(node.id, None)
            served[node.id] += 1
        await requester.release(nodeset)

    await asyncio.wait_for(asyncio.gather(*(build(n) for n in range(60))), 120)
    assert overlaps == []
    assert sum(served.values()) == sum(len(labels) for labels in chosen)
    launchers = {n.launcher for n in store.nodes()}
    assert launchers <= {"launcher-a", "launcher-b"}
    statics = [n for n in store.nodes() if n.provider == "static"]
    assert sorted(n.static_slot for n in statics) == [f"static-{i}:22#0" for i in range(3)]
    await eventually(lambda: all(n.state == "ready" for n in store.nodes()),
                     what="every node back to ready")
    assert store.requests() == []


@pytest.mark.slow
async def test_launcher_survives_zookeeper_restart(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore) -> None:
    launcher = start_launcher(zk_stack, "launcher-restart", SHARED)
    ready = launcher.url + "/health/ready"
    before = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    zookeeper = zk_stack.zookeeper
    assert zookeeper is not None
    zookeeper.stop()
    try:
        await asyncio.to_thread(wait_for, lambda: status_of(ready) == 503, 15,
                                what="launcher not ready without ZooKeeper")
        assert get(launcher.url + "/api/nodes").status == 503
        during = asyncio.create_task(requester.request(["static"], "build-2"))
    finally:
        zookeeper.start()
    await asyncio.to_thread(wait_for, lambda: status_of(ready) == 200, 30,
                            what="launcher ready again")
    after = await asyncio.wait_for(during, 60)
    # If the requester's session expired meanwhile, its node lock went with it and the
    # launcher reclaimed the node, which may now be in `after`: releasing `before` must
    # then leave it alone.
    await requester.release(before)
    record = store.get_node(after.nodes[0].id)
    assert record.state == "in-use" and record.allocated_to == after.request_id
    assert store.node_locked(record.id)
    await requester.release(after)
    third = await asyncio.wait_for(requester.request(["small", "small"], "build-3"), 20)
    await requester.release(third)
    await eventually(lambda: all(n.state == "ready" and not n.allocated_to
                                 for n in store.nodes()), 30, what="all nodes ready again")
    assert len([n for n in store.nodes() if n.provider == "static"]) == 3
    assert store.requests() == []


async def test_requester_session_expiry_releases_its_nodes(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore) -> None:
    """When the scheduler's ZooKeeper session expires, its node locks go with it, the
    launcher reclaims the node, and the requester carries on with a new session."""
    hosts = [{"name": "static-1", "labels": ["static"], "connection-type": "local"}]
    start_launcher(zk_stack, "launcher-expiry", {"labels": [{"name": "static"}], "providers": [
        {"name": "static", "driver": "static", "pools": [{"name": "main", "nodes": hosts}]}]})
    lost = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    node_id = lost.nodes[0].id
    assert zk_stack.zookeeper is not None
    # The launcher reclaiming the node first (a requester re-locks its nodes on a new
    # session; tests/durable/test_zk_outage.py): the stale nodeset must not free it.
    requester.relock = False
    # A second client with the same session id and password closes (expires) the session.
    tls = zk_stack.zookeeper.conf()["tls"]
    twin = KazooClient(hosts=zk_stack.zookeeper.hosts + zk_stack.zk_chroot,
                       client_id=requester.client.client_id, use_ssl=True,
                       certfile=tls["cert"], keyfile=tls["key"], ca=tls["ca"])
    await asyncio.to_thread(twin.start, 10)
    await asyncio.to_thread(twin.stop)
    twin.close()
    await eventually(lambda: store.get_node(node_id).state == "ready"
                     and not store.get_node(node_id).allocated_to, 30,
                     what="node of the expired session reclaimed")
    again = await asyncio.wait_for(requester.request(["static"], "build-2"), 30)
    assert again.nodes[0].id == node_id
    await requester.release(lost)  # stale: must leave the node to `again`
    record = store.get_node(node_id)
    assert record.state == "in-use" and record.allocated_to == again.request_id
    await requester.release(again)
