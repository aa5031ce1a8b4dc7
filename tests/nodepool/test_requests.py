"""Node requests end to end: a real launcher on a real ZooKeeper, Zuul's NodeRequester."""
from __future__ import annotations

import asyncio

import pytest
from kazoo.client import KazooClient

from nodepool.zk import (
    NODES,
    REQUEST_LOCKS,
    NodepoolStore,
    NodeState,
    RequestRecord,
    RequestState,
)
from tests.harness.http import get
from tests.harness.ports import free_port
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, local_config, start_launcher, static_config
from zuul.nodes import NodeRequester, NodeRequestFailed


async def test_local_request_in_use_then_deleted(zk_stack: Stack, requester: NodeRequester,
                                                 store: NodepoolStore) -> None:
    launcher = start_launcher(zk_stack, "launcher-a", local_config())
    nodeset = await asyncio.wait_for(requester.request(["local-label"], "build-1"), 20)
    assert len(nodeset.nodes) == 1
    node = nodeset.nodes[0]
    assert node.label == "local-label" and node.connection_type == "local"
    assert node.host == "127.0.0.1"
    record = store.get_node(node.id)
    assert record is not None and record.state == "in-use"
    assert record.allocated_to == nodeset.request_id
    assert store.node_locked(node.id)
    assert store.get_request(nodeset.request_id) is None  # accepted requests are removed

    await requester.release(nodeset)
    await eventually(lambda: store.get_node(node.id) is None, what="used local node deleted")
    metrics = (await asyncio.to_thread(get, launcher.url + "/metrics")).text
    assert 'nodepool_requests_total{outcome="fulfilled"} 1.0' in metrics
    assert "nodepool_round_seconds_count" in metrics


async def test_request_locked_by_another_is_left_alone(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
        zk_client: KazooClient) -> None:
    """Our launcher fulfils a request that needs only new nodes without taking its lock, in
    one transaction that fails while anyone holds or waits for the lock: a request held
    with kazoo's own ``Lock`` recipe (as Nodepool 11 and Zuul 14 take it) is left alone
    until released, then fulfilled (its lock dir now exists: the other form of the
    transaction)."""
    held = store.submit_request(
        RequestRecord(requestor="zuul-14", node_types=["local-label"]), 100)
    lock_path = f"{REQUEST_LOCKS}/{held.id}"
    lock = zk_client.Lock(lock_path, "nodepool-11")
    assert lock.acquire(timeout=5)
    start_launcher(zk_stack, "launcher-a", local_config())
    # Written after the held one and served by the same launcher: once it is fulfilled, the
    # launcher has planned the held one (older, so first) too.
    other = await asyncio.wait_for(requester.request(["local-label"], "build-1"), 20)
    current = store.get_request(held.id)
    assert current is not None and current.state == RequestState.REQUESTED
    assert not current.nodes
    assert zk_client.get_children(lock_path) == [lock.node]
    lock.release()
    await requester.release(other)  # a change the launcher sees: it tries the held one again

    def fulfilled() -> RequestRecord | None:
        request = store.get_request(held.id)
        return request if request and request.state == RequestState.FULFILLED else None

    done = await eventually(fulfilled, timeout=20, what="the released request fulfilled")
    node = store.get_node(done.nodes[0])
    assert node is not None and node.allocated_to == held.id and node.state == "ready"


async def test_reuse_false_gets_a_new_node(zk_stack: Stack, requester: NodeRequester,
                                           store: NodepoolStore) -> None:
    """``reuse: false`` (Nodepool 11's meaning, as its own min-ready requests use it): the
    request is never given an existing ready node, a new one is launched for it; the
    next request with the default ``reuse`` takes the ready one."""
    start_launcher(zk_stack, "launcher-a", local_config({"local-label": 1}))

    def spare_ids() -> set[str]:
        return {n.id for n in store.nodes() if n.state == "ready" and not n.allocated_to}

    spare = await eventually(spare_ids, what="the min-ready node")
    fresh = await asyncio.wait_for(
        requester.request(["local-label", "local-label"], "build-1", reuse=False), 20)
    assert not {n.id for n in fresh.nodes} & spare
    assert spare <= spare_ids()  # the ready node was left alone
    reused = await asyncio.wait_for(requester.request(["local-label"], "build-2"), 20)
    assert reused.nodes[0].id in spare
    await requester.release(fresh)
    await requester.release(reused)


async def test_static_node_goes_back_to_ready(zk_stack: Stack, requester: NodeRequester,
                                             store: NodepoolStore) -> None:
    hosts = [{"name": "static-1", "labels": ["static"], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    first = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    node_id = first.nodes[0].id
    assert first.nodes[0].host == "static-1"
    await requester.release(first)

    def ready_again() -> bool:
        record = store.get_node(node_id)
        return bool(record and record.state == "ready" and not record.allocated_to)

    await eventually(ready_again, what="static node ready again")
    second = await asyncio.wait_for(requester.request(["static"], "build-2"), 20)
    assert second.nodes[0].id == node_id
    await requester.release(second)


async def test_ready_node_locked_by_another_is_not_allocated(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
        zk_client: KazooClient) -> None:
    """A ready node is allocated without taking its lock, in the transaction that fulfils
    the request, which fails while anyone holds or waits for the node's lock: a static node
    held with kazoo's own ``Lock`` recipe is not given out until released."""
    hosts = [{"name": "static-1", "labels": ["static"], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    node = await eventually(lambda: next(iter(store.nodes()), None), what="the static node")
    lock = zk_client.Lock(f"{NODES}/{node.id}/lock", "nodepool-11")
    assert lock.acquire(timeout=5)
    waiting = asyncio.ensure_future(requester.request(["static"], "build-1"))
    try:
        def pending() -> RequestRecord | None:  # what a launcher writes when it must wait
            found = [r for r in store.requests() if r.state == RequestState.PENDING]
            return found[0] if found else None

        request = await eventually(pending, timeout=20, what="the request pending")
        assert not request.nodes and not waiting.done()
        current = store.get_node(node.id)
        assert current is not None and current.allocated_to is None
    finally:
        lock.release()
    nodeset = await asyncio.wait_for(waiting, 20)
    assert [n.id for n in nodeset.nodes] == [node.id]
    await requester.release(nodeset)


async def _used_once(zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
                     label: str, other: str) -> str:
    """A launcher with two static hosts (``label`` and ``other``); the ``label`` host's node
    is used once and ready again: its id."""
    hosts = [{"name": f"{label}-host", "labels": [label], "connection-type": "local"},
             {"name": f"{other}-host", "labels": [other], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    nodeset = await asyncio.wait_for(requester.request([label], "build-1"), 20)
    node_id = nodeset.nodes[0].id
    await requester.release(nodeset)
    await eventually(lambda: store.get_node(node_id).state == "ready", what="node ready")
    return node_id


async def test_used_node_locked_by_another_is_not_recycled(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
        zk_client: KazooClient) -> None:
    """A used static node is made ready again without taking its lock, by a transaction
    that fails while anyone holds or waits for the lock: held with kazoo's own ``Lock``
    recipe (as Zuul 14 holds its nodes), it stays ``used`` until released."""
    node_id = await _used_once(zk_stack, requester, store, "held", "other")
    lock = zk_client.Lock(f"{NODES}/{node_id}/lock", "zuul-14")
    assert lock.acquire(timeout=5)
    try:
        node = store.get_node(node_id)
        node.state = NodeState.USED  # what a requestor holding it writes when done
        store.update_node(node)
        # Rounds run meanwhile: another request is served, and a later cleanup check too.
        other = await asyncio.wait_for(requester.request(["other"], "build-2"), 20)
        await requester.release(other)
        await eventually(lambda: store.get_node(other.nodes[0].id).state == "ready",
                         what="the other node recycled")
        assert store.get_node(node_id).state == NodeState.USED
    finally:
        lock.release()
    await eventually(lambda: store.get_node(node_id).state == "ready",
                     what="the released node recycled")
    assert store.get_node(node_id).allocated_to is None


async def test_static_cleanup_check(zk_stack: Stack, requester: NodeRequester,
                                    store: NodepoolStore) -> None:
    """After use an ssh host must still answer on its port, else the node is failed."""
    assert zk_stack.zookeeper is not None
    hosts = [  # ZooKeeper's client port stands in for a host's SSH port
        {"name": "127.0.0.1", "labels": ["answers"], "connection-port": zk_stack.zookeeper.port},
        {"name": "127.0.0.1", "labels": ["silent"], "connection-port": free_port()},
    ]
    zk_stack.launcher(**static_config(hosts))
    for label, expected in (("answers", "ready"), ("silent", "failed")):
        nodeset = await asyncio.wait_for(requester.request([label], f"build-{label}"), 20)
        node_id = nodeset.nodes[0].id
        assert nodeset.nodes[0].connection_type == "ssh"
        await requester.release(nodeset)
        await eventually(lambda n=node_id, e=expected: store.get_node(n).state == e,
                         what=f"{label} node {expected}")


async def test_unknown_label_is_declined_and_failed(zk_stack: Stack, requester: NodeRequester,
                                                    store: NodepoolStore) -> None:
    start_launcher(zk_stack, "launcher-a", local_config())
    with pytest.raises(NodeRequestFailed, match="declined by launcher-a"):
        await asyncio.wait_for(requester.request(["no-such-label"], "build-1"), 20)
    assert store.requests() == []


async def test_cancel_deletes_waiting_request(zk_stack: Stack, requester: NodeRequester,
                                              store: NodepoolStore) -> None:
    hosts = [{"name": "only-host", "labels": ["static"], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    held = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    waiting = asyncio.create_task(requester.request(["static"], "build-2"))
    pending = await eventually(lambda: [r for r in store.requests() if r.state == "pending"],
                               what="second request pending while the host is busy")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert store.get_request(pending[0].id) is None
    await requester.release(held)


async def test_hold_keeps_node(zk_stack: Stack, requester: NodeRequester,
                               store: NodepoolStore) -> None:
    zk_stack.launcher(**local_config())
    nodeset = await asyncio.wait_for(requester.request(["local-label"], "build-1"), 20)
    await requester.release(nodeset, hold={"job": "tenant/project/job", "reason": "debug me"})
    record = store.get_node(nodeset.nodes[0].id)
    assert record.state == "hold" and record.hold_job == "tenant/project/job"
    assert record.comment == "debug me"
    await eventually(lambda: not store.node_locked(record.id), what="held node unlocked")
    second = await asyncio.wait_for(requester.request(["local-label"], "build-2"), 20)
    assert second.nodes[0].id != record.id  # a held node is not handed out again
    await requester.release(second)
    assert store.get_node(record.id).state == "hold"


async def test_requestor_death_frees_its_nodes(zk_stack: Stack, make_requester,
                                               store: NodepoolStore) -> None:
    hosts = [{"name": "static-1", "labels": ["static"], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    doomed = await make_requester("doomed-scheduler")
    nodeset = await asyncio.wait_for(doomed.request(["static"], "build-1"), 20)
    node_id = nodeset.nodes[0].id
    await doomed.stop()  # session closed: its node locks vanish with it
    await eventually(lambda: store.get_node(node_id).state == "ready",
                     what="node of the dead requestor recycled")


async def test_min_ready_and_multi_node_request(zk_stack: Stack, requester: NodeRequester,
                                                store: NodepoolStore) -> None:
    zk_stack.launcher(**local_config({"small": 2, "big": 0}, max_servers=6))

    def ready_small() -> list[str]:
        return [n.id for n in store.nodes()
                if n.label == "small" and n.state == "ready" and not n.allocated_to]

    before = await eventually(lambda: len(ready_small()) == 2 and ready_small(),
                              what="min-ready nodes")
    nodeset = await asyncio.wait_for(requester.request(["small", "big", "small"], "b"), 20)
    assert [n.label for n in nodeset.nodes] == ["small", "big", "small"]
    assert {n.id for n in nodeset.nodes} >= set(before)  # ready nodes are used first
    await eventually(lambda: len(ready_small()) == 2, what="min-ready topped up again")
    await requester.release(nodeset)


async def test_labels_from_zookeeper(zk_stack: Stack, requester: NodeRequester) -> None:
    zk_stack.launcher(**local_config({"small": 1}))

    async def small_is_ready() -> list[dict]:
        found = await requester.labels()
        return found if found and found[0]["ready"] == 1 else []

    found = await eventually(small_is_ready, what="label small with its min-ready node")
    assert found[0]["name"] == "small" and found[0]["min_ready"] == 1
    assert found[0]["total"] == 1 and found[0]["in_use"] == 0


async def test_priority_then_fifo(zk_stack: Stack, requester: NodeRequester,
                                  store: NodepoolStore) -> None:
    """With the only host busy, a later high-priority request is served before earlier
    normal ones, which are served in the order they came."""
    hosts = [{"name": "only-host", "labels": ["static"], "connection-type": "local"}]
    zk_stack.launcher(**static_config(hosts))
    busy = await asyncio.wait_for(requester.request(["static"], "build-0"), 20)
    order: list[str] = []

    async def build(name: str, priority: int) -> None:
        nodeset = await requester.request(["static"], name, priority=priority)
        order.append(name)
        await requester.release(nodeset)

    tasks = []
    for name, priority in (("normal-1", 200), ("normal-2", 200), ("urgent", 50)):
        tasks.append(asyncio.create_task(build(name, priority)))
        # Seen by the launcher (pending: waiting for the host), so its order can count.
        await eventually(lambda n=len(tasks): [r.state for r in store.requests()]
                         == [RequestState.PENDING] * n, what=f"{name} waiting")
    await requester.release(busy)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert order == ["urgent", "normal-1", "normal-2"]


async def test_no_labels_needs_no_nodes(requester: NodeRequester) -> None:
    nodeset = await requester.request([], "build-without-nodes")
    assert nodeset.nodes == []
    await requester.release(nodeset)


async def test_expired_hold_is_deleted(zk_stack: Stack, requester: NodeRequester,
                                       store: NodepoolStore) -> None:
    zk_stack.launcher(**local_config())
    nodeset = await asyncio.wait_for(requester.request(["local-label"], "build-1"), 20)
    await requester.release(nodeset, hold={"id": "0000000001", "reason": "autohold",
                                           "expiration": 1})
    node_id = nodeset.nodes[0].id
    assert store.get_node(node_id).hold_job == "0000000001"
    await eventually(lambda: store.get_node(node_id) is None, what="expired hold deleted")


async def test_request_provider_is_honoured(zk_stack: Stack, requester: NodeRequester,
                                            store: NodepoolStore) -> None:
    """A request's ``provider`` as Nodepool 11 treats it: served by that provider when it is
    online, left by the other launchers' pools to it, served by anyone when it is offline.
    The nodes carry the request's ``tenant_name`` and ``requestor``."""
    start_launcher(zk_stack, "launcher-a", local_config(provider="alpha"))

    async def provider_of(provider: str | None, build: str) -> str:
        nodeset = await asyncio.wait_for(
            requester.request(["local-label"], build, provider=provider, tenant_name="t1"), 20)
        record = store.get_node(nodeset.nodes[0].id)
        assert record is not None
        assert (record.tenant_name, record.requestor) == ("t1", "zuul-test")
        await requester.release(nodeset)
        return str(record.provider)

    assert await provider_of("beta", "build-offline") == "alpha"  # nobody offers beta yet
    start_launcher(zk_stack, "launcher-b", local_config(provider="beta"))
    await eventually(lambda: {p.get("provider_name") for p in store.pools()}
                     == {"alpha", "beta"}, what="both launchers registered")
    for n in range(3):
        assert await provider_of("beta", f"build-beta-{n}") == "beta"
        assert await provider_of("alpha", f"build-alpha-{n}") == "alpha"


async def test_one_launcher_serves_the_requested_provider(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore) -> None:
    pool = {"name": "main", "max-servers": 5, "labels": ["local-label"]}
    start_launcher(zk_stack, "launcher-a", {
        "labels": [{"name": "local-label"}],
        "providers": [{"name": name, "driver": "local", "pools": [pool]}
                      for name in ("first", "second")]})
    for provider, expected in (("second", "second"), ("first", "first"), (None, "first")):
        nodeset = await asyncio.wait_for(
            requester.request(["local-label"], f"build-{provider}", provider=provider), 20)
        record = store.get_node(nodeset.nodes[0].id)
        assert record is not None and record.provider == expected, (provider, record)
        await requester.release(nodeset)


async def test_slower_checks_free_orphans_and_remove_stale_request_locks(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
        zk_client: KazooClient) -> None:
    """The cleanup checks of the timer round (run in the launcher's pool, off the round):
    a ready node allocated to a request that no longer exists is freed, and the lock dir of
    a request that no longer exists is removed (each once two checks in a row found it so),
    while requests are served meanwhile."""
    node_id = await _used_once(zk_stack, requester, store, "orphan", "busy")
    vanished = RequestRecord("100-0009999999", {"requestor": "gone", "tenant_name": "t"}, 0)
    node = store.get_node(node_id)
    node.allocate(vanished)  # as a requestor that died between allocation and acceptance
    store.update_node(node, state_changed=False)
    stale_lock = f"{REQUEST_LOCKS}/{vanished.id}"
    zk_client.ensure_path(stale_lock)
    other = await asyncio.wait_for(requester.request(["busy"], "build-2"), 20)
    await requester.release(other)
    await eventually(lambda: store.get_node(node_id).allocated_to is None,
                     what="orphaned node freed")
    assert store.get_node(node_id).state == NodeState.READY
    await eventually(lambda: zk_client.exists(stale_lock) is None,
                     what="stale request lock dir removed")
    again = await asyncio.wait_for(requester.request(["orphan"], "build-3"), 20)
    assert again.nodes[0].id == node_id  # handed out again
    await requester.release(again)
