"""The dedup window shared through ZooKeeper (zuul.scheduler.shared_deliveries), on a real
ZooKeeper: batches come back oldest first, the oldest are pruned past ``keep``, and a
DeliveryStore that publishes and one that merges agree on what is a duplicate."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.harness.servers import ZooKeeperServer
from zuul.lib.zk import make_client
from zuul.scheduler.events import DeliveryStore, TriggerEvent
from zuul.scheduler.shared_deliveries import ROOT, SharedDeliveries


@pytest.fixture
def client(zookeeper: ZooKeeperServer, zk_chroot: str) -> Iterator[KazooClient]:
    zk = make_client(zookeeper.conf(zk_chroot))
    zk.start(timeout=10)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def _event(delivery: str) -> TriggerEvent:
    return TriggerEvent("github", delivery, "pull_request", {})


def test_batches_come_back_oldest_first_and_the_oldest_are_pruned(
        client: KazooClient) -> None:
    shared = SharedDeliveries(client, keep=10)
    assert SharedDeliveries(client).load() == []  # nothing published yet
    for batch in range(30):
        shared.publish([f"b{batch}-{i}" for i in range(3)])
    shared.publish([])  # nothing to publish: no znode
    kept = client.get_children(ROOT)
    assert 10 <= len(kept) <= 11, kept
    loaded = SharedDeliveries(client).load()
    newest = [f"b{batch}-{i}" for batch in range(30 - len(kept), 30) for i in range(3)]
    assert loaded == newest


def test_the_window_is_bounded_by_ids_too(client: KazooClient) -> None:
    shared = SharedDeliveries(client, keep=100, window=20)
    for batch in range(30):
        shared.publish([f"c{batch}-{i}" for i in range(3)])
    loaded = SharedDeliveries(client).load()
    assert 18 <= len(loaded) <= 22, loaded
    assert loaded == [f"c{batch}-{i}" for batch in range(30 - len(loaded) // 3, 30)
                      for i in range(3)]
    shared.publish([f"big-{i}" for i in range(50)])  # alone over the window: kept alone
    assert SharedDeliveries(client).load() == [f"big-{i}" for i in range(50)]


def test_a_scheduler_taking_over_finds_the_previous_ones_deliveries_duplicate(
        client: KazooClient, tmp_path: Path) -> None:
    first = DeliveryStore(tmp_path / "a.db", shared=SharedDeliveries(client))
    assert first.record_many([_event("x"), _event("y"), _event("x")]) == [True, True, False]
    assert first.record(_event("z")) and not first.record(_event("z"))
    first.close()
    second = DeliveryStore(tmp_path / "b.db", shared=SharedDeliveries(client))
    assert not second.seen("x")
    assert second.merge(second.shared.load()) == 3  # type: ignore[union-attr]
    assert second.merge(["x", "y"]) == 0  # merging again adds nothing
    assert second.record_many([_event("x"), _event("w")]) == [False, True]
    assert second.deliveries() == ["x", "y", "z", "w"]
    second.close()
