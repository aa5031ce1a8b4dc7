"""The ``local`` driver: nodes that are this host, reached with Ansible's ``local`` connection.

For the single-host deployment and for tests. A node is a record in ZooKeeper standing for
one job slot on this machine (``max-servers`` of them per pool); it is ready at once and
deleted after use.
"""
from __future__ import annotations

import getpass
import socket
import threading
from typing import Any

from nodepool.launcher.drivers.base import Provider
from nodepool.zk import NodepoolStore, NodeRecord, NodeState, RequestRecord

ACTIVE = (NodeState.BUILDING, NodeState.READY, NodeState.IN_USE, NodeState.USED,
          NodeState.HOLD)


class LocalProvider(Provider):
    """Launches ``local`` nodes up to ``max-servers`` per pool."""

    driver = "local"

    def __init__(self, conf: dict[str, Any], launcher: str) -> None:
        super().__init__(conf, launcher)
        self._capacity = threading.Lock()
        self._launching: dict[str, int] = {}  # per pool: launches writing to ZooKeeper now

    def pool_labels(self, pool: dict[str, Any]) -> set[str]:
        return set(pool["labels"])

    def can_satisfy(self, pool: dict[str, Any], node_types: list[str]) -> bool:
        return set(node_types) <= set(pool["labels"]) and len(node_types) <= pool["max-servers"]

    def room(self, pool: dict[str, Any], nodes: list[NodeRecord]) -> int:
        active = sum(1 for n in nodes if self.owns(n, pool) and n.state in ACTIVE)
        return max(0, pool["max-servers"] - active)

    def launch(self, store: NodepoolStore, pool: dict[str, Any], label: str,
               request: RequestRecord | None, nodes: list[NodeRecord]) -> NodeRecord | None:
        # Requests are handled in parallel threads: a slot is reserved under the lock, and
        # the ZooKeeper write happens outside it, so a burst's launches do not queue on it.
        with self._capacity:
            in_pool = [n for n in nodes if self.owns(n, pool) and n.state in ACTIVE]
            if len(in_pool) + self._launching.get(pool["name"], 0) >= pool["max-servers"]:
                return None
            self._launching[pool["name"]] = self._launching.get(pool["name"], 0) + 1
        try:
            node = self._launch(store, pool, label, request)
            with self._capacity:
                nodes.append(node)
        finally:
            with self._capacity:
                self._launching[pool["name"]] -= 1
        return node

    def _launch(self, store: NodepoolStore, pool: dict[str, Any], label: str,
                request: RequestRecord | None) -> NodeRecord:
        # Nothing to build: a local node is ready the moment it is recorded.
        node = NodeRecord(
            type=[label], provider=self.name, pool=pool["name"], state=NodeState.READY,
            hostname=socket.gethostname(), interface_ip="127.0.0.1",
            private_ipv4="127.0.0.1", public_ipv4="127.0.0.1", connection_type="local",
            connection_port=22, username=pool.get("username") or getpass.getuser(),
            launcher=self.launcher)
        node.allocate(request)
        return store.create_node(node)

    def recycle(self, store: NodepoolStore, node: NodeRecord) -> None:
        """A local node is deleted after use; the slot is free for the next launch."""
        store.delete_node(node.id)
