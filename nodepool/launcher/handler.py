"""Handling one node request: decline it, or allocate ready nodes / launch new ones.

Called with the request's lock held. Every ready node is allocated under its own kazoo lock
with a write carrying the version the round saw, so two launchers never give the same node to
two requests; that write (and giving a node back) also checks, in the same transaction, that
the request is still at the version the round saw, so once a request is fulfilled nobody but
its requestor changes its nodes, however stale a launcher's view of it is.
Allocation is recorded on the node (``allocated_to``, ``tenant_name``,
``requestor``) before the request is marked ``fulfilled``; new nodes are created in the
same transaction that marks it, so a launcher that dies half way leaves a state the next
round (of any launcher) continues from.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import LockTimeout, NoNodeError
from kazoo.protocol.states import ZnodeStat

from nodepool.launcher import metrics
from nodepool.launcher.drivers.base import Provider
from nodepool.zk import (
    NodepoolStore,
    NodeRecord,
    NodeState,
    RecordGone,
    RequestChanged,
    RequestRecord,
    RequestState,
)
from nodepool.zklock import PipelinedLock

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 2.0
# The round's view of the nodes is shared by the requests it handles in parallel threads,
# and updated by each allocation: a node's data and version are read and replaced together
# under this lock, so a write never pairs one thread's version with another's data.
_VIEW = threading.Lock()


class Yield:
    """``choose_pool``'s answer when the request asks for another provider that is online."""

    def __init__(self, provider: str) -> None:
        self.provider = provider


def choose_pool(providers: list[Provider], request: RequestRecord,
                registered: list[dict[str, Any]] | None = None
                ) -> tuple[Provider, dict[str, Any]] | Yield | None:
    """The pool of ours to serve ``request`` with, :class:`Yield`, or None (decline).

    As Nodepool 11's pool workers do with a request's ``provider``: the requested provider's
    pool serves it when it is one of ours and could satisfy every label; when it is
    another launcher's pool that is registered (``registered``: the pool components),
    supports every label and has not declined, we leave the request to it; otherwise (the
    provider is unknown, offline or declined) any pool that can serve it does.
    """
    if not request.node_types:
        return None
    wanted = request.provider
    candidates = [(provider, pool) for provider in providers for pool in provider.pools
                  if provider.can_satisfy(pool, request.node_types)]
    if wanted:
        preferred = [c for c in candidates if c[0].name == wanted]
        if preferred:
            return preferred[0]
        declined = set(request.declined_by)
        if any(p.get("provider_name") == wanted and str(p.get("id")) not in declined
               and set(request.node_types) <= set(p.get("supported_labels") or ())
               for p in registered or ()):
            return Yield(wanted)
    return candidates[0] if candidates else None


def decline(store: NodepoolStore, request: RequestRecord, pool_ids: set[str],
            registered: set[str]) -> None:
    """Record that none of our pools (``pool_ids``) can serve ``request``; fail it once
    every registered pool declined it (as Nodepool does)."""
    request.declined_by = [*request.declined_by,
                           *sorted(pool_ids - set(request.declined_by))]
    if registered <= set(request.declined_by):
        request.state = RequestState.FAILED
        request.reason = (f"no launcher can provide {request.node_types} "
                          f"(declined by {', '.join(request.declined_by)})")
        log.info("Request %s failed: %s", request.id, request.reason)
    store.update_request(request)
    metrics.REQUESTS.labels("failed" if request.state == RequestState.FAILED
                            else "declined").inc()


def _take_ready(store: NodepoolStore, node: NodeRecord, request: RequestRecord,
                owner: str) -> bool:
    """Allocate one ready node to ``request`` under its lock; False if someone was faster.

    ``node`` is the round's view: not read again under the lock, since the write carries
    the version it was read at (a node changed meanwhile fails it), and it is written only
    while ``request`` is at the version the round saw (else :class:`RequestChanged`: the
    request was fulfilled or changed meanwhile, and no node is touched).
    """
    with _VIEW:
        taken = NodeRecord(node.id, dict(node.data), node.version)
    if taken.state != NodeState.READY or taken.allocated_to:
        return False
    try:
        lock = store.lock_node(node.id, owner, blocking=False)
    except NoNodeError:
        return False
    if lock is None:
        return False
    try:
        taken.allocate(request)
        store.update_node_for(taken, request, lock)  # also releases the lock
        with _VIEW:
            node.data, node.version = dict(taken.data), taken.version
        return True
    except RequestChanged:
        raise
    except RecordGone:
        return False
    finally:
        try:
            lock.release()
        except NoNodeError:
            pass  # deleted meanwhile


def fulfil(store: NodepoolStore, request: RequestRecord, provider: Provider,
           pool: dict[str, Any], launcher: str, nodes: list[NodeRecord],
           preferred: list[str] | None = None, lock: PipelinedLock | None = None) -> bool:
    """Allocate (or launch) nodes for ``request``; mark it fulfilled when all are there.

    ``nodes`` is the round's view of every node (kept up to date with what this call
    allocates or launches; every allocation is a versioned write under the node's lock);
    ``preferred`` are the ready nodes the round's plan reserved for this request.
    New nodes are created in the same transaction that marks the request ``fulfilled``
    (one round trip), which also releases ``lock`` (the request's). Returns False when
    the pool has no free capacity right now: the request is then marked ``pending``
    (accepted, waiting) and retried on the next round.
    """
    # Nodes allocated to this request in an earlier pass (the round's view may be stale:
    # re-read them). Only the holder of the request lock changes such an allocation, and
    # only while the request is at the version this pass saw (``update_node_for``): if it
    # was fulfilled meanwhile (by another launcher), its nodes are its requestor's.
    mine = [fresh for fresh in (store.get_node(n.id) for n in nodes
                                if n.allocated_to == request.id)
            if fresh is not None and fresh.allocated_to == request.id
            and fresh.state == NodeState.READY]
    missing = Counter(request.node_types)
    chosen: list[NodeRecord] = []
    for node in mine:
        label = next((lbl for lbl in missing if missing[lbl] and node.has_label(lbl)), None)
        if label is not None:
            missing[label] -= 1
            chosen.append(node)
    new: list[NodeRecord] = []
    created = False
    try:
        for label in request.node_types:
            if missing[label] == 0:
                continue
            allocated = _allocate_one(store, request, provider, pool, label, launcher,
                                      nodes, preferred or [])
            if allocated is None:
                # All or nothing: holding some nodes while waiting for others could
                # deadlock two multi-node requests. Give them back and retry later.
                _give_back(store, chosen, request, launcher)
                if request.state == RequestState.REQUESTED:
                    request.state = RequestState.PENDING
                    store.update_request(request)
                return False
            missing[label] -= 1
            chosen.append(allocated)
            if allocated.version < 0:
                new.append(allocated)
        ordered: list[str] = []
        for label in request.node_types:
            node = next(n for n in chosen if n.has_label(label) and n.id not in ordered)
            ordered.append(node.id)
        request.nodes = ordered
        request.state = RequestState.FULFILLED
        store.fulfil_request(request, new, lock)
        created = True
    finally:
        for node in new:
            provider.launched(pool, node, nodes, created)
    metrics.REQUESTS.labels("fulfilled").inc()
    log.info("Request %s fulfilled with nodes %s (event %s)", request.id, ordered,
             request.event_id)
    return True


def fulfil_unlocked(store: NodepoolStore, request: RequestRecord, provider: Provider,
                    pool: dict[str, Any], nodes: list[NodeRecord], lock_dir: bool,
                    finished: Callable[[RequestRecord, ZnodeStat | Exception], None],
                    ready: list[NodeRecord] | None = None) -> bool:
    """Fulfil ``request`` without taking its lock and without waiting, with the ``ready``
    nodes of the round's view the plan reserved for it and new nodes for its other labels:
    one transaction allocates the ready nodes (each at the version the view had, its lock
    dir deleted and created again, which fails while anyone holds or waits for the node's
    lock), creates the new ones and marks the request ``fulfilled``, and fails while anyone
    holds or waits for the request's lock (:meth:`NodepoolStore.fulfil_request_unlocked`).
    For a request that has no node allocated yet; a burst's requests go out pipelined from
    the launcher's worker thread.

    Returns False (nothing sent) when that cannot be (capacity or a reserved node taken by
    another request meanwhile): then :func:`fulfil` (under the lock) handles it. Else
    ``finished`` is called later, from kazoo's connection thread (it must not block), with
    the request as written and its new stat, or with the exception that kept it from being written
    (:class:`RequestLocked`, :class:`RecordGone`, a kazoo error)."""
    spare: list[tuple[NodeRecord, NodeRecord]] = []  # (the view's node, a copy to write)
    with _VIEW:
        for node in ready or ():
            if node.state != NodeState.READY or node.allocated_to:
                return False  # taken meanwhile by another request of the round
            spare.append((node, NodeRecord(node.id, dict(node.data), node.version)))
    taken: list[tuple[NodeRecord, NodeRecord]] = []
    new: list[NodeRecord] = []
    chosen: list[str] = []
    for label in request.node_types:
        pick = next((pair for pair in spare if pair[1].has_label(label)), None)
        if pick is not None:
            spare.remove(pick)
            pick[1].allocate(request)
            taken.append(pick)
            chosen.append(pick[1].id)
            continue
        launched = provider.new_node(pool, label, request, nodes)
        if launched is None:
            for reserved in new:
                provider.launched(pool, reserved, nodes, False)
            return False
        new.append(launched)
        chosen.append(launched.id)
    fulfilled = RequestRecord(request.id, dict(request.data), request.version)
    fulfilled.nodes = chosen
    fulfilled.state = RequestState.FULFILLED

    def done(outcome: ZnodeStat | Exception) -> None:
        written = not isinstance(outcome, Exception)
        for node in new:
            provider.launched(pool, node, nodes, written)
        if written:
            with _VIEW:  # later requests of the round see these nodes taken
                for view, copy in taken:
                    view.data, view.version = dict(copy.data), copy.version
            metrics.REQUESTS.labels("fulfilled").inc()
            log.info("Request %s fulfilled with nodes %s (event %s)", fulfilled.id,
                     fulfilled.nodes, fulfilled.event_id)
        finished(fulfilled, outcome)

    try:
        store.fulfil_request_unlocked(fulfilled, new, lock_dir, done,
                                      [copy for _view, copy in taken])
    except Exception as exc:  # noqa: BLE001 - the connection is closing: nothing sent
        done(exc)
    return True


def _give_back(store: NodepoolStore, nodes: list[NodeRecord], request: RequestRecord,
               owner: str) -> None:
    """Undo the allocation of ready ``nodes`` to ``request`` (whose lock the caller holds).

    Each write is conditional on ``request`` being at the version this pass saw
    (:class:`RequestChanged` otherwise, and nothing more is given back): a request that was
    fulfilled meanwhile keeps its nodes for its requestor.
    """
    for node in nodes:
        lock = store.node_lock(node.id, owner)
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except LockTimeout:
            continue  # the cleanup of requests that vanished frees it later
        try:
            fresh = store.get_node(node.id)
            if fresh is not None and fresh.state == NodeState.READY \
                    and fresh.allocated_to == request.id:
                fresh.allocate(None)
                store.update_node_for(fresh, request)
                with _VIEW:
                    node.data, node.version = dict(fresh.data), fresh.version
                log.info("Gave node %s back from request %s (event %s)", node.id,
                         request.id, request.event_id)
        except RequestChanged:
            raise
        except RecordGone:
            pass
        finally:
            lock.release()


def _allocate_one(store: NodepoolStore, request: RequestRecord, provider: Provider,
                  pool: dict[str, Any], label: str, launcher: str,
                  nodes: list[NodeRecord], preferred: list[str]) -> NodeRecord | None:
    """A ready node of ``pool`` for ``label`` (unless the request says ``reuse: false``,
    as Nodepool's min-ready requests do: then always a new one), else a new node."""
    for node in sorted(nodes, key=lambda n: n.id not in preferred) if request.reuse else ():
        if (node.state == NodeState.READY and not node.allocated_to and node.has_label(label)
                and provider.owns(node, pool)
                and _take_ready(store, node, request, launcher)):
            return node
    return provider.new_node(pool, label, request, nodes)  # stored by fulfil
