"""Which requests one launcher round serves, decided in priority/FIFO order.

The round's requests are then handled in parallel (ZooKeeper round trips dominate), so the
order is settled here first: walking the requests in order, each gets ready nodes reserved
for it (or launch capacity) from the round's view of the nodes. The first request of a pool
that does not fit pauses that pool for the rest of the round, as a Nodepool pool handler
does, so later requests cannot overtake it: no starvation of multi-node requests, and a
high-priority request is served first.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from nodepool.launcher.drivers.base import Provider
from nodepool.zk import NodeRecord, NodeState, RequestRecord


class RoundPlan:
    """Reservations of one round: node ids and launch slots per pool."""

    def __init__(self, nodes: list[NodeRecord]) -> None:
        self.nodes = nodes
        self.reserved: set[str] = set()
        self.launches: Counter[tuple[str, str]] = Counter()
        self.paused: set[tuple[str, str]] = set()
        self._ready: dict[tuple[str, str], list[NodeRecord]] = {}  # per pool, found once

    def _ready_nodes(self, provider: Provider, pool: dict[str, Any]) -> list[NodeRecord]:
        """The view's ready nodes of ``pool`` (walked once per round, not per request)."""
        key = (provider.name, pool["name"])
        ready = self._ready.get(key)
        if ready is None:
            ready = self._ready[key] = [n for n in self.nodes if n.state == NodeState.READY
                                        and provider.owns(n, pool)]
        return ready

    def reserve(self, provider: Provider, pool: dict[str, Any], request: RequestRecord
                ) -> list[str] | None:
        """Reserve nodes for ``request`` in ``pool``: the ready node ids to use first, or
        None when the pool is paused or cannot serve it now (which pauses it). A request
        with ``reuse: false`` gets no existing ready node, only launches (Nodepool 11)."""
        key = (provider.name, pool["name"])
        if key in self.paused:
            return None
        usable = [n for n in self._ready_nodes(provider, pool)
                  if n.id not in self.reserved
                  and (n.allocated_to == request.id
                       or (request.reuse and not n.allocated_to))]
        usable.sort(key=lambda n: n.allocated_to != request.id)  # its own nodes first
        room = provider.room(pool, self.nodes) - self.launches[key]
        picked: list[str] = []
        launches = 0
        for label in request.node_types:
            node = next((n for n in usable if n.has_label(label) and n.id not in picked), None)
            if node is not None:
                picked.append(node.id)
            elif launches < room:
                launches += 1
            else:
                self.paused.add(key)
                return None
        self.reserved.update(picked)
        self.launches[key] += launches
        return picked
