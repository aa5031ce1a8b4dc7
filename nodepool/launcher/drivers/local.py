"""The ``local`` driver: nodes that are this host, reached with Ansible's ``local`` connection.

For the single-host deployment and for tests. A node is a record in ZooKeeper standing for
one job slot on this machine (``max-servers`` of them per pool); it is ready at once and
deleted after use.
"""
from __future__ import annotations

import getpass
import socket
import threading
import time
from collections import Counter
from typing import Any

from kazoo.recipe.lock import Lock

from nodepool.launcher.drivers.base import Provider
from nodepool.zk import NodepoolStore, NodeRecord, NodeState, RequestRecord, new_node_id

RECENT = 10.0  # seconds a created node counts as active without a view showing it
ACTIVE = (NodeState.BUILDING, NodeState.READY, NodeState.IN_USE, NodeState.USED,
          NodeState.HOLD)


MAX_VIEWS = 4  # rounds' node lists whose counts are kept (tasks of a round outlive it)


class _ViewCount:
    """Counts of one round's node list (see :meth:`LocalProvider._view`)."""

    def __init__(self, nodes: list[NodeRecord]) -> None:
        self.nodes = nodes  # held, so its id() is not reused while counted
        self.counted = 0
        self.ids: set[str] = set()
        self.active: Counter[str] = Counter()


class LocalProvider(Provider):
    """Launches ``local`` nodes up to ``max-servers`` per pool."""

    driver = "local"
    deletes_used = True

    def __init__(self, conf: dict[str, Any], launcher: str) -> None:
        super().__init__(conf, launcher)
        self._capacity = threading.Lock()
        self._launching: dict[str, int] = {}  # per pool: launches writing to ZooKeeper now
        # Nodes this provider created that a round's view (the launcher's cache) may not
        # show yet: counted against max-servers until a view has them, at most RECENT s.
        self._created: dict[str, tuple[str, float]] = {}
        self._views: dict[int, _ViewCount] = {}  # id(round's node list) -> its counts
        self._hostname = socket.gethostname()
        self._user = getpass.getuser()

    def pool_labels(self, pool: dict[str, Any]) -> set[str]:
        return set(pool["labels"])

    def can_satisfy(self, pool: dict[str, Any], node_types: list[str]) -> bool:
        return set(node_types) <= set(pool["labels"]) and len(node_types) <= pool["max-servers"]

    def _view(self, nodes: list[NodeRecord]) -> _ViewCount:
        """The counts of a round's view ``nodes``, brought up to date with the nodes
        appended to it since (a round's list only grows: :meth:`launched` appends), so the
        requests of a burst do not each walk every node (called with ``_capacity`` held)."""
        view = self._views.get(id(nodes))
        if view is None or view.nodes is not nodes:
            if len(self._views) >= MAX_VIEWS:
                self._views.pop(next(iter(self._views)))
            view = self._views[id(nodes)] = _ViewCount(nodes)
        for node in nodes[view.counted:]:
            if node.provider == self.name:
                view.ids.add(node.id)
                if node.state in ACTIVE:
                    view.active[node.pool] += 1
        view.counted = len(nodes)
        return view

    def _active(self, pool: dict[str, Any], nodes: list[NodeRecord]) -> int:
        """Nodes of ``pool`` holding a slot: active in the view, or created but not in it
        yet, or being created (called with ``_capacity`` held)."""
        view = self._view(nodes)
        now = time.monotonic()
        for node_id, (_pool, created) in list(self._created.items()):
            if node_id in view.ids or now - created > RECENT:
                del self._created[node_id]
        recent = sum(1 for pool_name, _ in self._created.values() if pool_name == pool["name"])
        return view.active[pool["name"]] + recent + self._launching.get(pool["name"], 0)

    def room(self, pool: dict[str, Any], nodes: list[NodeRecord]) -> int:
        with self._capacity:
            return max(0, pool["max-servers"] - self._active(pool, nodes))

    def new_node(self, pool: dict[str, Any], label: str, request: RequestRecord | None,
                 nodes: list[NodeRecord]) -> NodeRecord | None:
        # Requests are handled in parallel threads: a slot is reserved under the lock, and
        # the ZooKeeper write happens outside it, so a burst's launches do not queue on it.
        with self._capacity:
            if self._active(pool, nodes) >= pool["max-servers"]:
                return None
            self._launching[pool["name"]] = self._launching.get(pool["name"], 0) + 1
        # Nothing to build: a local node is ready the moment it is recorded.
        node = NodeRecord(
            type=[label], provider=self.name, pool=pool["name"], state=NodeState.READY,
            hostname=self._hostname, interface_ip="127.0.0.1",
            private_ipv4="127.0.0.1", public_ipv4="127.0.0.1", connection_type="local",
            connection_port=22, username=pool.get("username") or self._user,
            launcher=self.launcher)
        node.id = new_node_id()
        node.allocate(request)
        return node

    def launched(self, pool: dict[str, Any], node: NodeRecord, nodes: list[NodeRecord],
                 created: bool) -> None:
        with self._capacity:
            self._launching[pool["name"]] -= 1
            if created:
                self._created[node.id] = (pool["name"], time.monotonic())
                nodes.append(node)

    def deleted(self, node_id: str) -> None:
        """A node created and deleted before any round's view showed it holds no slot
        (else it would count as recently created for ``RECENT`` seconds)."""
        with self._capacity:
            self._created.pop(node_id, None)

    def recycle(self, store: NodepoolStore, node: NodeRecord, lock: Lock | None = None) -> None:
        """A local node is deleted after use; the slot is free for the next launch."""
        store.delete_node(node.id, node.version, lock)
        self.deleted(node.id)
