"""PipelinedLock and kazoo's own Lock recipe (what Nodepool 11 and Zuul 14 use) exclude each
other on the same lock path, on a real ZooKeeper; so does a lock taken inside a transaction."""
from __future__ import annotations

import threading

from kazoo.client import KazooClient

from nodepool.zk import (
    NODES,
    REQUEST_LOCKS,
    NodepoolStore,
    NodeRecord,
    NodeState,
    RequestRecord,
)
from nodepool.zklock import PipelinedLock

PATH = "/nodepool/nodes/0000000001/lock"


def _pipelined(client: KazooClient, name: str) -> PipelinedLock:
    lock = PipelinedLock(client, PATH, name)
    lock.assured_path = True
    return lock


def test_pipelined_and_kazoo_locks_exclude_each_other(zk_client: KazooClient) -> None:
    zk_client.ensure_path(PATH)
    theirs = zk_client.Lock(PATH, "nodepool-11")  # kazoo's recipe, as Nodepool uses it
    assert theirs.acquire(blocking=False)
    ours = _pipelined(zk_client, "ours")
    assert ours.acquire(blocking=False) is False
    assert zk_client.get_children(PATH) == [theirs.node]  # our contender was cleaned up

    # Blocking: queued behind their holder, acquired once they release.
    waiter = _pipelined(zk_client, "waiter")
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=20)))
    thread.start()
    try:
        theirs.release()
    finally:
        thread.join(30)
    assert got == [True] and waiter.contender is not None
    assert zk_client.Lock(PATH, "zuul-14").acquire(blocking=False) is False

    # Released by a transaction the holder commits anyway.
    transaction = zk_client.transaction()
    transaction.set_data(PATH, b"")
    waiter.released_by(transaction)
    assert not any(isinstance(r, Exception) for r in transaction.commit())
    waiter.committed()
    assert zk_client.get_children(PATH) == []
    assert waiter.release() is False  # nothing left to release
    again = zk_client.Lock(PATH, "nodepool-11")
    assert again.acquire(blocking=False)
    again.release()


def test_accept_in_one_transaction_respects_kazoo_locks(zk_client: KazooClient) -> None:
    """Zuul's side takes a fulfilled request's node locks inside the accepting transaction
    (``NodepoolStore.accept_unlocked``): refused while kazoo's own ``Lock`` (Nodepool 11's,
    Zuul 14's) holds a node, nothing written then; once free, the lock it takes is one
    kazoo's recipe respects, and its release frees the node for others."""
    store = NodepoolStore(zk_client)
    store.ensure_paths()
    request = store.submit_request(RequestRecord(requestor="zuul", node_types=["l"]), 100)
    zk_client.ensure_path(f"{REQUEST_LOCKS}/{request.id}")
    node = store.create_node(NodeRecord(type=["l"], state=NodeState.READY))
    node.allocate(request)
    store.update_node(node)
    theirs = zk_client.Lock(f"{NODES}/{node.id}/lock", "nodepool-11")
    assert theirs.acquire(blocking=False)

    def attempt() -> list[PipelinedLock] | None:
        (record,) = store.get_nodes([node.id])
        assert record is not None
        record.state = NodeState.IN_USE
        return store.accept_unlocked(request, [record], "zuul")

    assert attempt() is None
    unchanged = store.get_node(node.id)
    assert unchanged is not None and unchanged.state == NodeState.READY
    assert store.get_request(request.id) is not None
    theirs.release()

    (ours,) = attempt() or [None]
    assert ours is not None and ours.is_acquired
    record = store.get_node(node.id)
    assert record is not None and record.state == NodeState.IN_USE
    assert store.get_request(request.id) is None
    assert zk_client.get_children(f"{NODES}/{node.id}/lock") == [ours.node]
    assert zk_client.Lock(f"{NODES}/{node.id}/lock", "zuul-14").acquire(blocking=False) is False
    ours.release()
    again = zk_client.Lock(f"{NODES}/{node.id}/lock", "nodepool-11")
    assert again.acquire(blocking=False)
    again.release()
