"""Prometheus metrics of the launcher (served on ``/metrics`` with the process's registry)."""
from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram

from nodepool.zk import NODE_STATES, NodeRecord

NODES = Gauge("nodepool_nodes", "Nodes in ZooKeeper by state and label", ["state", "label"])
REQUESTS = Counter("nodepool_requests_total",
                   "Node requests this launcher finished, by outcome", ["outcome"])
ROUND_SECONDS = Histogram("nodepool_round_seconds", "Duration of one launcher round",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


_shown: dict[tuple[str, str], int] = {}  # what the gauges show (set by the worker thread)


def observe_nodes(nodes: list[NodeRecord]) -> None:
    """Set the node gauges from one round's view of every node (the launcher's worker
    thread calls it each round: only gauges whose count changed are set)."""
    counts = Tally((n.state, n.label) for n in nodes)
    labels = {label for _state, label in counts}
    for state in NODE_STATES:
        for label in labels:
            count = counts.get((state, label), 0)
            if _shown.get((state, label)) != count:
                NODES.labels(state, label).set(count)
                _shown[(state, label)] = count
