"""The launcher's work loop: one thread running rounds against ZooKeeper.

A round (re-)registers the launcher, syncs static hosts, cleans up nodes (``used`` ->
recycled, ``deleting`` -> removed, nodes of dead requestors freed), handles requests in
priority/FIFO order and tops up ``min-ready``. Rounds run when a kazoo ``TreeCache`` on the
nodes and requests reports a change, and at least every ``cleanup-interval`` seconds. While
the ZooKeeper session is not connected no round runs, so nothing is handed out; every write
is versioned, so a round cut short by a lost session leaves consistent records behind.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError, NotEmptyError
from kazoo.protocol.states import KazooState
from kazoo.recipe.cache import TreeCache, TreeEvent

from nodepool.launcher import metrics
from nodepool.launcher.drivers import Provider, StaticProvider, make_providers
from nodepool.launcher.handler import Yield, choose_pool, decline, fulfil
from nodepool.launcher.planner import RoundPlan
from nodepool.zk import (
    NODES,
    OPEN_REQUEST_STATES,
    REQUEST_LOCKS,
    REQUESTS,
    NodepoolStore,
    NodeRecord,
    NodeState,
    RecordGone,
    RequestRecord,
    RequestState,
)

log = logging.getLogger(__name__)

ELECTION_TIMEOUT = 5.0
STOP_GRACE = 3.0  # seconds a stopping launcher lets its current round finish
PARALLEL = 8  # requests (and cleanup chores) handled at once
FAILED_RETRY = 30.0  # seconds before a failed node is checked again


class LauncherWorker:
    """Runs launcher rounds in a background thread until :meth:`stop`."""

    def __init__(self, conf: dict[str, Any], client: KazooClient, name: str) -> None:
        self.conf = conf
        self.name = name
        self.client = client
        self.store = NodepoolStore(client)
        self.providers: list[Provider] = make_providers(conf, name)
        self.interval: float = conf["cleanup-interval"]
        self.rounds = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._register = threading.Event()
        self._register.set()
        self._caches: list[TreeCache] = []
        self._nodes_cached = threading.Event()
        self._requests_cached = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launcher-worker", daemon=True)
        self._executor = ThreadPoolExecutor(PARALLEL, thread_name_prefix="launcher-task")

    def start(self) -> None:
        """Start the worker thread (the kazoo client may still be connecting)."""
        self.client.add_listener(self._on_state)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round and wait for the thread.

        A round stuck on an unreachable ZooKeeper is cut short by closing the session.
        """
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=STOP_GRACE)
        if self._thread.is_alive():
            log.warning("Round still running after %ss; closing the ZooKeeper session",
                        STOP_GRACE)
            self.client.stop()
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.client.remove_listener(self._on_state)
        for cache in self._caches:
            cache.close()

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            self._register.set()  # our ephemeral registration is gone with the session
            self._nodes_cached.clear()
            self._requests_cached.clear()
        self._wake.set()

    def _on_nodes_event(self, event: TreeEvent) -> None:
        if event.event_type == TreeEvent.INITIALIZED:
            self._nodes_cached.set()
        self._on_tree_event(event)

    def _on_requests_event(self, event: TreeEvent) -> None:
        if event.event_type == TreeEvent.INITIALIZED:
            self._requests_cached.set()
        self._on_tree_event(event)

    def _on_tree_event(self, event: TreeEvent) -> None:
        data = event.event_data
        if data is not None and "/lock" in getattr(data, "path", ""):
            return  # lock contenders come and go; they change nothing to act on
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set() or not self.client.connected:
                continue
            try:
                self.run_round()
            except (KazooException, RecordGone, LockTimeout) as exc:
                log.warning("Launcher round cut short: %s: %s", type(exc).__name__, exc)
            except Exception:
                log.exception("Launcher round failed")

    def pool_id(self, provider: Provider, pool: dict[str, Any]) -> str:
        """What this launcher's ``pool`` registers as its ``id`` and writes in ``declined_by``."""
        return f"{self.name}-{provider.name}-{pool['name']}"

    @property
    def pool_ids(self) -> set[str]:
        return {self.pool_id(p, pool) for p in self.providers for pool in p.pools}

    def registration(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Our launcher component and pool components (Nodepool 11's registry)."""
        offered = {label for p in self.providers for label in p.labels()}
        launcher = {"name": self.name,
                    "labels": [{"name": lbl["name"], "min_ready": lbl["min-ready"]}
                               for lbl in self.conf["labels"] if lbl["name"] in offered],
                    "providers": [{"name": p.name, "driver": p.driver} for p in self.providers]}
        pools = [{"id": self.pool_id(p, pool), "name": pool["name"], "provider_name": p.name,
                  "supported_labels": sorted(p.pool_labels(pool)), "launcher": self.name}
                 for p in self.providers for pool in p.pools]
        return launcher, pools

    def run_round(self) -> None:
        """One pass over registration, static sync, cleanup, requests and min-ready."""
        if self._register.is_set():
            self.store.ensure_paths()
            self.store.register(*self.registration())
            self._register.clear()
            self._start_caches()  # fresh caches after a lost session, not a half-stale one
        with metrics.ROUND_SECONDS.time():
            nodes = self._nodes()
            self._sync_static(nodes)
            self._cleanup(nodes)
            nodes = self._nodes()
            self._handle_requests(nodes)
            self._min_ready()
            metrics.observe_nodes(nodes)
        self.rounds += 1

    def _start_caches(self) -> None:
        self._nodes_cached.clear()
        self._requests_cached.clear()
        for cache in self._caches:
            cache.close()
        self._caches = []
        for path, listener in ((NODES, self._on_nodes_event),
                               (REQUESTS, self._on_requests_event)):
            cache = TreeCache(self.client, path)
            cache.listen(listener)
            cache.start()
            self._caches.append(cache)

    def _nodes(self) -> list[NodeRecord]:
        """Every node, from the TreeCache once it is initialized (else read directly).

        The cache is only for planning: every change re-reads its node under the node's
        lock and writes with the version it read, so a stale entry cannot do harm.
        """
        if not self._nodes_cached.is_set() or not self.client.connected:
            return self.store.nodes()
        cache = self._caches[0]
        result = []
        for child in sorted(cache.get_children(NODES) or ()):
            entry = cache.get_data(f"{NODES}/{child}")
            if entry is not None and entry.data:
                result.append(NodeRecord.from_json(child, entry.data, entry.stat.version))
        return result

    def _open_requests(self) -> list[RequestRecord | None]:
        """Every request, from the TreeCache once it is initialized (else read directly).

        Only for planning, like :meth:`_nodes`: each request is read again under its lock
        before anything is written, so this saves one ZooKeeper read per request and round.
        """
        if not self._requests_cached.is_set() or not self.client.connected:
            return list(self._executor.map(self.store.get_request, self.store.request_ids()))
        cache = self._caches[1]
        result: list[RequestRecord | None] = []
        for child in cache.get_children(REQUESTS) or ():
            entry = cache.get_data(f"{REQUESTS}/{child}")
            if entry is not None and entry.data:
                result.append(RequestRecord.from_json(child, entry.data, entry.stat.version))
        return result

    def _locked(self, node_id: str) -> bool:
        if not self._nodes_cached.is_set():
            return self.store.node_locked(node_id)
        return bool(self._caches[0].get_children(f"{NODES}/{node_id}/lock"))

    # Static hosts -------------------------------------------------------------------------

    def _sync_static(self, nodes: list[NodeRecord]) -> None:
        for provider in self.providers:
            if not isinstance(provider, StaticProvider):
                continue
            present = {n.static_slot for n in nodes if provider.owns(n)}
            wanted = {s for pool in provider.pools for s in provider.slots(pool)}
            if wanted <= present:
                continue
            lock = self.store.election_lock(f"static-{provider.name}", self.name)
            lock.acquire(timeout=ELECTION_TIMEOUT)
            try:
                provider.sync(self.store, self.store.nodes())
            finally:
                lock.release()

    # Cleanup ------------------------------------------------------------------------------

    def _ours(self, node: NodeRecord) -> Provider | None:
        return next((p for p in self.providers if p.owns(node)), None)

    def _cleanup(self, nodes: list[NodeRecord]) -> None:
        request_ids: set[str] | None = None
        chores: list[tuple[NodeRecord, Provider, Callable[[NodeRecord, Provider], None]]] = []
        for node in nodes:
            provider = self._ours(node)
            if provider is None:
                continue
            if node.state in (NodeState.USED, NodeState.DELETING) or (
                    node.state == NodeState.FAILED
                    and time.time() - node.state_time > FAILED_RETRY):
                chores.append((node, provider, self._recycle))
            elif node.state == NodeState.IN_USE and not self._locked(node.id):
                chores.append((node, provider, self._recycle))
            elif node.state == NodeState.READY and node.allocated_to:
                if request_ids is None:
                    request_ids = set(self.store.request_ids())
                if node.allocated_to not in request_ids:
                    chores.append((node, provider, self._free))
            elif node.state == NodeState.HOLD and node.hold_expiration \
                    and time.time() - node.state_time > node.hold_expiration:
                chores.append((node, provider, self._expire_hold))
        list(self._executor.map(lambda chore: self._with_node(*chore), chores))
        self._remove_stale_request_locks()

    def _with_node(self, node: NodeRecord, provider: Provider, action: Any) -> None:
        """Run ``action(fresh_node, provider)`` if the node's lock is free right now."""
        lock = self.store.node_lock(node.id, self.name)
        if not lock.acquire(blocking=False):
            return
        fresh = None
        try:
            fresh = self.store.get_node(node.id)
            if fresh is not None and fresh.state == node.state:
                action(fresh, provider)
        except RecordGone as exc:
            log.debug("Node %s changed during cleanup: %s", node.id, exc)
        finally:
            try:
                lock.release()
            except NoNodeError:
                pass  # the node (and its lock) was deleted
            if fresh is None:
                self.store.remove_if_empty(node.id)

    def _recycle(self, node: NodeRecord, provider: Provider) -> None:
        if node.state == NodeState.IN_USE:
            # Nobody holds the lock of an in-use node: its requestor died. Treat as used.
            log.info("Node %s was in use by a requestor that went away", node.id)
            node.state = NodeState.USED
            self.store.update_node(node)
        log.info("Recycling %s node %s (%s)", node.state, node.id, provider.name)
        provider.recycle(self.store, node)

    def _free(self, node: NodeRecord, _provider: Provider) -> None:
        if node.allocated_to not in set(self.store.request_ids()):
            node.allocate(None)
            self.store.update_node(node, state_changed=False)

    def _expire_hold(self, node: NodeRecord, _provider: Provider) -> None:
        node.state = NodeState.DELETING
        self.store.update_node(node)

    def _remove_stale_request_locks(self) -> None:
        try:
            stale = set(self.client.get_children(REQUEST_LOCKS)) - set(self.store.request_ids())
        except NoNodeError:
            return
        for request_id in stale:
            try:
                self.client.delete(f"{REQUEST_LOCKS}/{request_id}")
            except (NoNodeError, NotEmptyError):
                pass

    # Requests -----------------------------------------------------------------------------

    def _handle_requests(self, nodes: list[NodeRecord]) -> None:
        """Plan the open requests in priority/FIFO order, then handle them several at a
        time (ZooKeeper round trips dominate), each under its request lock."""
        pools = self.store.pools()
        registered = {str(pool.get("id")) for pool in pools}
        ours = self.pool_ids
        requests = sorted((r for r in self._open_requests()
                           if r is not None and r.state in OPEN_REQUEST_STATES
                           and not ours <= set(r.declined_by)),
                          key=RequestRecord.sort_key)
        plan = RoundPlan(nodes)
        tasks: list[tuple[RequestRecord, Any]] = []
        for request in requests:
            choice = choose_pool(self.providers, request, pools)
            if isinstance(choice, Yield):
                continue  # left to the launcher of the provider it asks for
            if choice is None:
                tasks.append((request, None))
            else:
                tasks.append((request, (*choice, plan.reserve(*choice, request))))
        list(self._executor.map(
            lambda task: self._handle_one(task[0], task[1], registered, nodes), tasks))

    def _handle_one(self, planned: RequestRecord, choice: Any, registered: set[str],
                    nodes: list[NodeRecord]) -> None:
        """Decline, fulfil or mark pending one request, as planned, under its lock."""
        if self._stopping.is_set() or not self.client.connected:
            return
        lock = self.store.request_lock(planned.id, self.name)
        try:
            if not lock.acquire(blocking=False):
                return
        except KazooException as exc:
            log.warning("Cannot lock request %s: %s", planned.id, exc)
            return
        try:
            request = self.store.get_request(planned.id)
            if request is None or request.state not in OPEN_REQUEST_STATES \
                    or self.pool_ids <= set(request.declined_by):
                return
            if choice is None:
                decline(self.store, request, self.pool_ids, registered)
                return
            provider, pool, reserved = choice
            if reserved is None:  # waits for capacity behind an earlier request
                if request.state == RequestState.REQUESTED:
                    request.state = RequestState.PENDING
                    self.store.update_request(request)
                return
            fulfil(self.store, request, provider, pool, self.name, nodes, reserved)
        except (RecordGone, KazooException) as exc:
            log.debug("Request %s changed while handling it: %s", planned.id, exc)
        finally:
            try:
                lock.release()
            except KazooException:
                pass  # lost with the session; ZooKeeper dropped it

    # Min-ready ----------------------------------------------------------------------------

    def _deficits(self, nodes: list[NodeRecord]) -> dict[str, int]:
        deficits = {}
        for label in self.conf["labels"]:
            ready = sum(1 for n in nodes if n.state == NodeState.READY and not n.allocated_to
                        and n.has_label(label["name"]))
            if ready < label["min-ready"]:
                deficits[label["name"]] = label["min-ready"] - ready
        return deficits

    def _min_ready(self) -> None:
        if not any(label["min-ready"] for label in self.conf["labels"]) \
                or not self._deficits(self._nodes()):
            return
        lock = self.store.election_lock("min-ready", self.name)
        if not lock.acquire(blocking=False):
            return
        try:
            nodes = self.store.nodes()
            for label, missing in self._deficits(nodes).items():
                for provider in self.providers:
                    for pool in provider.pools:
                        while missing and label in provider.pool_labels(pool):
                            if provider.launch(self.store, pool, label, None, nodes) is None:
                                break
                            missing -= 1
        finally:
            lock.release()
