"""PipelinedLock and kazoo's own Lock recipe (what Nodepool 11 and Zuul 14 use) exclude each
other on the same lock path, on a real ZooKeeper."""
from __future__ import annotations

import threading

from kazoo.client import KazooClient

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
