"""The ``static`` driver: a fixed list of existing hosts.

Each host gives ``max-parallel-jobs`` nodes (slots ``<host>:<port>#<n>``), registered in
ZooKeeper as ``ready`` when the launcher starts (or when one was deleted). After use a node goes
back to ``ready`` once the host still answers (a TCP connect to its SSH port; skipped for ``local``
hosts or with ``cleanup-check: false``); a host that does not answer leaves the node ``failed``
until it is deleted (it is registered again, ready).
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Any

from kazoo.recipe.lock import Lock

from nodepool.launcher.drivers.base import Provider, fits
from nodepool.zk import NodepoolStore, NodeRecord, NodeState

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0


def host_answers(host: str, port: int) -> bool:
    """Whether ``host:port`` accepts a TCP connection within CHECK_TIMEOUT."""
    try:
        with socket.create_connection((host, port), timeout=CHECK_TIMEOUT):
            return True
    except OSError:
        return False


class StaticProvider(Provider):
    """Hands out slots of configured hosts; never launches anything."""

    driver = "static"

    def pool_labels(self, pool: dict[str, Any]) -> set[str]:
        return {label for node in pool["nodes"] for label in node["labels"]}

    def slots(self, pool: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``<host>:<port>#<n>`` -> host config, for every slot of ``pool``."""
        return {f"{host['name']}:{host['connection-port']}#{n}": host for host in pool["nodes"]
                for n in range(host["max-parallel-jobs"])}

    def can_satisfy(self, pool: dict[str, Any], node_types: list[str]) -> bool:
        return fits([set(h["labels"]) for h in self.slots(pool).values()], node_types)

    def sync(self, store: NodepoolStore, nodes: list[NodeRecord]) -> None:
        """Register a ``ready`` node for every configured slot that has none."""
        for pool in self.pools:
            present = {n.static_slot for n in nodes if self.owns(n, pool)}
            for slot, host in self.slots(pool).items():
                if slot not in present:
                    store.create_node(self._node(pool, slot, host))

    def _node(self, pool: dict[str, Any], slot: str, host: dict[str, Any]) -> NodeRecord:
        return NodeRecord(
            type=list(host["labels"]), provider=self.name,
            pool=pool["name"], state=NodeState.READY,
            hostname=host["name"], interface_ip=host["name"],
            connection_type=host["connection-type"],
            connection_port=host["connection-port"], username=host.get("username"),
            launcher=self.launcher, slot=int(slot.rsplit("#", 1)[1]),
            external_id=host["name"])

    def _host(self, node: NodeRecord) -> dict[str, Any] | None:
        for pool in self.pools:
            if node.pool == pool["name"]:
                return self.slots(pool).get(node.static_slot or "")
        return None

    def ready_again(self, node: NodeRecord) -> bool:
        """A ``used`` node of a host that needs no cleanup check is ready at once."""
        host = self._host(node)
        if node.state != NodeState.USED or host is None or (
                host["cleanup-check"] and host["connection-type"] == "ssh"):
            return False
        node.state = NodeState.READY
        node.state_time = time.time()
        node.comment = None
        node.allocate(None)
        node.hold_job = None
        return True

    def recycle(self, store: NodepoolStore, node: NodeRecord, lock: Lock | None = None) -> None:
        """``used`` -> ``ready`` after the cleanup check; ``deleting`` -> removed."""
        host = self._host(node)
        if node.state == NodeState.DELETING or host is None:
            store.delete_node(node.id, node.version, lock)
            return
        if host["cleanup-check"] and host["connection-type"] == "ssh" \
                and not host_answers(node.interface_ip, node.connection_port):
            log.warning("Static node %s (%s) failed its cleanup check", node.id, node.hostname)
            node.state = NodeState.FAILED
            node.comment = "cleanup check failed: host does not answer"
        else:
            node.state = NodeState.READY
            node.comment = None
        node.allocate(None)
        node.hold_job = None
        store.update_node(node)
