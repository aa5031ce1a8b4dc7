"""What every provider driver offers the request handler."""
from __future__ import annotations

from collections import Counter
from typing import Any

from kazoo.recipe.lock import Lock

from nodepool.zk import NodepoolStore, NodeRecord, RequestRecord


class Provider:
    """One configured provider with its pools."""

    driver = ""
    deletes_used = False  # recycling a ``used`` node deletes it (nothing to give back)

    def __init__(self, conf: dict[str, Any], launcher: str) -> None:
        self.name: str = conf["name"]
        self.pools: list[dict[str, Any]] = conf["pools"]
        self.launcher = launcher

    def labels(self) -> set[str]:
        """Every label any pool of this provider offers."""
        return {label for pool in self.pools for label in self.pool_labels(pool)}

    def pool_labels(self, pool: dict[str, Any]) -> set[str]:
        raise NotImplementedError

    def can_satisfy(self, pool: dict[str, Any], node_types: list[str]) -> bool:
        """Whether ``pool`` could ever give all of ``node_types`` at once."""
        raise NotImplementedError

    def owns(self, node: NodeRecord, pool: dict[str, Any] | None = None) -> bool:
        """Whether ``node`` belongs to this provider (and to ``pool`` if given)."""
        return node.provider == self.name and (pool is None or node.pool == pool["name"])

    def launch(self, store: NodepoolStore, pool: dict[str, Any], label: str,
               request: RequestRecord | None, nodes: list[NodeRecord]) -> NodeRecord | None:
        """Create a new node for ``label`` now (None when the pool is at capacity or cannot)."""
        node = self.new_node(pool, label, request, nodes)
        if node is None:
            return None
        try:
            store.create_node(node)
        except BaseException:
            self.launched(pool, node, nodes, created=False)
            raise
        self.launched(pool, node, nodes, created=True)
        return node

    def new_node(self, pool: dict[str, Any], label: str, request: RequestRecord | None,
                 nodes: list[NodeRecord]) -> NodeRecord | None:
        """A node for ``label`` the caller stores (in a transaction with the request it
        fulfils), its capacity reserved; None when the pool is at capacity or cannot launch.
        The caller then calls :meth:`launched`, whether it stored it or not."""
        return None

    def launched(self, pool: dict[str, Any], node: NodeRecord, nodes: list[NodeRecord],
                 created: bool) -> None:
        """Release the reservation of :meth:`new_node`; a created node joins ``nodes``."""

    def deleted(self, node_id: str) -> None:
        """A node of this provider was deleted (it no longer holds a slot)."""

    def room(self, pool: dict[str, Any], nodes: list[NodeRecord]) -> int:
        """How many more nodes ``pool`` could launch now (0 for drivers that cannot)."""
        return 0

    def recycle(self, store: NodepoolStore, node: NodeRecord, lock: Lock | None = None) -> None:
        """Handle a ``used`` or ``deleting`` node (``lock``: the caller's lock on it)."""
        raise NotImplementedError

    def ready_again(self, node: NodeRecord) -> bool:
        """Make ``node`` (``used``) ``ready`` and free in memory, if that needs no I/O (no
        host check): the caller then writes it without taking its lock. False: recycle it
        the usual way (:meth:`recycle`, under its lock)."""
        return False

    def sync(self, store: NodepoolStore, nodes: list[NodeRecord]) -> None:
        """Make ZooKeeper's nodes match the configuration (static hosts); default nothing."""


def fits(available: list[set[str]], wanted: list[str]) -> bool:
    """Whether each wanted label can get its own slot among ``available`` label sets."""
    need = Counter(wanted)
    slots = list(available)
    for label, count in need.items():
        for _ in range(count):
            match = next((s for s in slots if label in s), None)
            if match is None:
                return False
            slots.remove(match)
    return True
