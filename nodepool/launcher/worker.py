"""The launcher's work loop: one thread running rounds against ZooKeeper.

A round (re-)registers the launcher, syncs static hosts, cleans up nodes (``used`` ->
recycled, ``deleting`` -> removed, nodes of dead requestors freed), handles requests in
priority/FIFO order and tops up ``min-ready``. Rounds run when a :class:`ChildCache` on the
nodes and requests reports a change, and at least every ``cleanup-interval`` seconds. While
the ZooKeeper session is not connected no round runs, so nothing is handed out; every write
is versioned, so a round cut short by a lost session leaves consistent records behind.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError, NotEmptyError
from kazoo.protocol.states import KazooState, ZnodeStat
from kazoo.recipe.lock import Lock

from nodepool.launcher import metrics
from nodepool.launcher.cache import ChildCache
from nodepool.launcher.drivers import Provider, StaticProvider, make_providers
from nodepool.launcher.handler import Yield, choose_pool, decline, fulfil, fulfil_unlocked
from nodepool.launcher.planner import RoundPlan
from nodepool.zk import (
    NODES,
    OPEN_REQUEST_STATES,
    POOL_COMPONENTS,
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
PARALLEL = 32  # requests (and cleanup chores) handled at once: each waits on ZooKeeper
FAILED_RETRY = 30.0  # seconds before a failed node is checked again
SETTLE_TIMEOUT = 0.5  # seconds a round waits for its caches' reads already sent
GATHER = 0.005  # seconds the changes of a burst gather before a round

# A cleanup chore: run in the pool under the node's lock (LauncherWorker._with_node).
Chore = tuple[NodeRecord, Provider, Callable[[NodeRecord, Provider, Lock], None]]


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
        self._stale_caches = threading.Event()
        self._caches: dict[str, ChildCache] = {}  # NODES, REQUESTS, POOL_COMPONENTS
        self._lock_dirs: set[str] = set()  # requests whose lock dir we made sure of
        self._parsed: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}  # see _cached
        self._written: dict[str, int] = {}  # request id -> version of our last write
        self._timer_round = True  # the slower checks' turn (every ``interval`` seconds)
        self._last_timer_round = 0.0
        self._thread = threading.Thread(target=self._run, name="launcher-worker", daemon=True)
        self._executor = ThreadPoolExecutor(PARALLEL, thread_name_prefix="launcher-task")
        # Tasks still running, which later rounds leave alone: request id -> the ready
        # nodes its plan reserved, and the node ids of cleanup chores.
        self._busy_lock = threading.Lock()
        self._busy_requests: dict[str, list[str]] = {}
        self._busy_nodes: set[str] = set()
        # Nodes we deleted that the view may still show (its deletion not seen yet): left
        # alone, not deleted again; forgotten once the view no longer has them.
        self._deleted: set[str] = set()
        # Nodes we wrote without their lock (allocated, made ready), with the version
        # written: while the view shows one older, it is neither planned nor recycled again.
        self._written_nodes: dict[str, int] = {}
        # Found at the last slower check: ready nodes of vanished requests, lock dirs of
        # vanished requests (acted on when the next check finds them so again).
        self._orphans: set[str] = set()
        self._stale_locks: set[str] = set()
        self._checking = False  # a slower check (see _slower_checks) is running

    def start(self) -> None:
        """Start the worker thread (the kazoo client may still be connecting)."""
        self.client.add_listener(self._on_state)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round and wait for the thread.

        A round stuck on an unreachable ZooKeeper is cut short by closing the session.
        """
        log.info("Stopping after %d rounds", self.rounds)
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
        for cache in self._caches.values():
            cache.close()

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            self._register.set()  # our ephemeral registration is gone with the session
        if state in (KazooState.LOST, KazooState.SUSPENDED):
            # A watch whose re-read failed while the connection was down is not set
            # again: start the caches afresh once connected.
            self._stale_caches.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._wake.wait(self.interval):
                # Let the changes of a burst arriving meanwhile join this round: a round
                # walks every request and node, so one per change is quadratic work.
                self._stopping.wait(GATHER)
            self._wake.clear()
            now = time.monotonic()
            self._timer_round = now - self._last_timer_round >= self.interval
            if self._timer_round:
                self._last_timer_round = now
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
            self._stale_caches.set()
        if self._stale_caches.is_set():
            self._stale_caches.clear()
            self._start_caches()  # after a lost connection, not half-stale ones
        for cache in self._caches.values():
            cache.refresh()
            cache.settle(SETTLE_TIMEOUT)
        with metrics.ROUND_SECONDS.time():
            nodes = self._nodes()
            self._sync_static(nodes)
            lagging = self._lagging(nodes)
            self._cleanup(nodes, lagging)  # its chores run on in the pool
            self._handle_requests(nodes, lagging)
            self._min_ready()
            metrics.observe_nodes(nodes)
        self.rounds += 1

    def _start_caches(self) -> None:
        for cache in self._caches.values():
            cache.close()
        self._caches = {path: ChildCache(self.client, path, self._wake.set)
                        for path in (NODES, REQUESTS, POOL_COMPONENTS)}

    def _cache(self, path: str) -> ChildCache | None:
        """The cache of ``path`` if it is ready to plan from."""
        cache = self._caches.get(path)
        if cache is None or not cache.initialized.is_set() or not self.client.connected:
            return None
        return cache

    def _cached(self, cache: ChildCache, kind: type[Any]) -> list[Any]:
        """The records in ``cache``, in name order. Each znode's JSON is parsed once per
        version (rounds run on every change, and most records did not change); each round
        gets its own records (shallow copies of the parsed dicts)."""
        parsed = self._parsed.setdefault(cache.path, {})
        result = []
        names = set()
        for name, data, stat in cache.items():
            names.add(name)
            if not data:
                continue
            known = parsed.get(name)
            if known is None or known[0] != stat.mzxid:
                parsed[name] = known = (stat.mzxid, kind.from_json(name, data, stat.version).data)
            result.append(kind(name, dict(known[1]), stat.version))
        for name in set(parsed) - names:
            del parsed[name]
        return result

    def _nodes(self) -> list[NodeRecord]:
        """Every node, from the cache once it is initialized (else read directly).

        The cache is only for planning: every change is written with the version the view
        had (under the node's lock), so a stale entry cannot do harm.
        """
        cache = self._cache(NODES)
        return self.store.nodes() if cache is None else self._cached(cache, NodeRecord)

    def _open_requests(self) -> list[RequestRecord | None]:
        """Every request, from the cache once it is initialized (else read directly).

        Only for planning, like :meth:`_nodes`: writes carry the version the view had.
        """
        cache = self._cache(REQUESTS)
        if cache is None:
            return list(self._executor.map(self.store.get_request, self.store.request_ids()))
        return self._cached(cache, RequestRecord)

    def _pools(self) -> list[dict[str, Any]]:
        """Every registered pool (Nodepool's component registry), from the cache."""
        cache = self._cache(POOL_COMPONENTS)
        if cache is None:
            return self.store.pools()
        result = []
        for _name, data, _stat in cache.items():
            try:
                content = json.loads(data) if data else None
            except ValueError:
                continue
            if isinstance(content, dict):
                result.append(content)
        return result

    def _request_ids(self) -> set[str]:
        cache = self._cache(REQUESTS)
        return set(self.store.request_ids()) if cache is None else cache.names()

    def _unlocked(self, node_ids: list[str]) -> set[str]:
        """Which of ``node_ids`` nobody holds locked (one pipelined round trip)."""
        pending = [(node_id, self.client.get_children_async(f"{NODES}/{node_id}/lock"))
                   for node_id in node_ids]
        unlocked = set()
        for node_id, result in pending:
            try:
                if not result.get():
                    unlocked.add(node_id)
            except NoNodeError:
                unlocked.add(node_id)
        return unlocked

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

    def _lagging(self, nodes: list[NodeRecord]) -> set[str]:
        """The nodes the view shows older than our own last write to them (forgetting the
        writes it has caught up with)."""
        versions = {node.id: node.version for node in nodes}
        with self._busy_lock:
            self._written_nodes = {
                node_id: version for node_id, version in self._written_nodes.items()
                if versions.get(node_id, version) < version}
            return set(self._written_nodes)

    def _cleanup(self, nodes: list[NodeRecord], lagging: set[str]) -> None:
        in_use: list[tuple[NodeRecord, Provider]] = []
        allocated: list[tuple[NodeRecord, Provider]] = []  # ready, allocated to a request
        chores: list[Chore] = []
        deletions: list[tuple[NodeRecord, Provider]] = []
        readied: list[tuple[NodeRecord, Provider]] = []  # used nodes to recycle
        with self._busy_lock:
            self._deleted &= {node.id for node in nodes}
            deleted = set(self._deleted)
        for node in nodes:
            provider = self._ours(node)
            if provider is None or node.id in deleted:
                continue
            if node.state == NodeState.DELETING or (
                    node.state == NodeState.USED and provider.deletes_used):
                deletions.append((node, provider))
            elif node.state == NodeState.USED:
                if node.id in lagging:
                    continue  # the view lags behind our own write
                readied.append((node, provider))
            elif node.state == NodeState.FAILED \
                    and time.time() - node.state_time > FAILED_RETRY:
                chores.append((node, provider, self._recycle))
            elif node.state == NodeState.IN_USE and self._timer_round:
                in_use.append((node, provider))
            elif node.state == NodeState.READY and node.allocated_to and self._timer_round:
                allocated.append((node, provider))
            elif node.state == NodeState.HOLD and node.hold_expiration \
                    and time.time() - node.state_time > node.hold_expiration:
                chores.append((node, provider, self._expire_hold))
        for node, provider in deletions:
            with self._busy_lock:
                if node.id in self._busy_nodes:
                    continue
                self._busy_nodes.add(node.id)
            self._delete(node, provider)  # without the lock if it can; else as a chore
        for node, provider in readied:
            with self._busy_lock:
                if node.id in self._busy_nodes:
                    continue
                self._busy_nodes.add(node.id)
            self._ready_again(node, provider)  # without the lock if it can; else a chore
        self._submit_chores(chores)
        if self._timer_round:
            with self._busy_lock:
                if self._checking:
                    return  # the last slower check still waits for ZooKeeper
                self._checking = True
            self._submit(self._slower_checks, (in_use, allocated),
                         partial(setattr, self, "_checking", False))

    def _slower_checks(self, in_use: list[tuple[NodeRecord, Provider]],
                       allocated: list[tuple[NodeRecord, Provider]]) -> None:
        """The checks of the timer round (every ``cleanup-interval`` seconds), in the pool:
        their ZooKeeper reads wait behind a burst's traffic, and a round waiting for them
        held up every request it had to plan (50-100 ms in ``bench/nodepool.py``).

        - an ``in-use`` node nobody holds locked: its requestor's session died, recycle it;
        - a ``ready`` node allocated to a request that is gone, found so by two of these
          checks in a row, is freed (the view often shows a request's deletion before its
          nodes' change to in-use: both written by one transaction of the requestor, read
          back by two watches, which is not a vanished request);
        - the lock dirs of vanished requests are removed (two checks in a row, too).
        """
        chores: list[Chore] = []
        if in_use:
            unlocked = self._unlocked([node.id for node, _ in in_use])
            chores.extend((node, provider, self._recycle) for node, provider in in_use
                          if node.id in unlocked)
        orphans: set[str] = set()
        if allocated:
            request_ids = self._request_ids()
            for node, provider in allocated:
                if node.allocated_to not in request_ids:
                    orphans.add(node.id)
                    if node.id in self._orphans:
                        chores.append((node, provider, self._free))
        self._orphans = orphans
        self._submit_chores(chores)
        self._remove_stale_request_locks()

    def _submit_chores(self, chores: list[Chore]) -> None:
        """Each chore in the pool under its node's lock (:meth:`_with_node`), unless a
        task on that node is still running."""
        for chore in chores:
            node_id = chore[0].id
            with self._busy_lock:
                if node_id in self._busy_nodes:
                    continue
                self._busy_nodes.add(node_id)
            self._submit(self._with_node, chore, partial(self._busy_nodes.discard, node_id))

    def _submit(self, func: Callable[..., None], args: tuple[Any, ...],
                done: Callable[[], object]) -> None:
        """Run ``func(*args)`` in the pool without waiting for it (so a request is never
        held up behind cleanup, nor behind the slowest request of its round); ``done``
        runs after it (under the busy lock). No round is asked for: what the task wrote
        wakes the worker through the caches."""
        def run() -> None:
            try:
                func(*args)
            except Exception:
                log.exception("Launcher task %s failed", getattr(func, "__name__", func))
            finally:
                with self._busy_lock:
                    done()
        self._executor.submit(run)

    def _delete(self, node: NodeRecord, provider: Provider) -> None:
        """Delete a ``used`` node of a provider that deletes them, or a ``deleting`` node:
        without taking its lock when nobody holds or waits for it (one transaction instead
        of lock, delete and release, sent without waiting), else under its lock as any
        other chore (in the pool)."""
        def finished(outcome: bool | Exception) -> None:  # run by an inline callback: never blocks
            if outcome is False:
                self._recycle_locked(node, provider)
                return
            if outcome is True:
                provider.deleted(node.id)
                log.info("Deleted %s node %s (%s)", node.state, node.id, provider.name)
            else:
                log.debug("Node %s not deleted: %s: %s", node.id, type(outcome).__name__,
                          outcome)
            with self._busy_lock:
                if outcome is True:
                    self._deleted.add(node.id)
                self._busy_nodes.discard(node.id)

        try:
            self.store.delete_unlocked_async(node.id, node.version, finished)
        except KazooException as exc:  # the connection is closing: nothing sent
            finished(exc)

    def _recycle_locked(self, node: NodeRecord, provider: Provider) -> None:
        """Recycle ``node`` under its lock, as a chore in the pool (the node is busy)."""
        self._submit(self._with_node, (node, provider, self._recycle),
                     partial(self._busy_nodes.discard, node.id))

    def _ready_again(self, node: NodeRecord, provider: Provider) -> None:
        """Recycle a ``used`` node: when its provider can make it ready without I/O (a
        static host needing no check), by one transaction that writes it without taking
        its lock (sent without waiting: a burst's returned nodes do not hold up the
        requests coming in); else, or when someone holds its lock, under its lock as any
        other chore (in the pool)."""
        ready = NodeRecord(node.id, copy.deepcopy(node.data), node.version)
        if not provider.ready_again(ready):
            self._recycle_locked(node, provider)
            return

        def finished(outcome: bool | Exception) -> None:  # run by an inline callback: never blocks
            if outcome is False:
                self._recycle_locked(node, provider)
                return
            if outcome is True:
                log.info("Recycling used node %s (%s)", node.id, provider.name)
                with self._busy_lock:
                    self._written_nodes[node.id] = ready.version
            else:
                log.debug("Node %s not recycled: %s: %s", node.id, type(outcome).__name__,
                          outcome)
            with self._busy_lock:
                self._busy_nodes.discard(node.id)

        try:
            self.store.update_unlocked_async(ready, finished)
        except KazooException as exc:  # the connection is closing: nothing sent
            finished(exc)

    def _with_node(self, node: NodeRecord, provider: Provider, action: Any) -> None:
        """Run ``action(node, provider, lock)`` if the node's lock is free right now.

        ``node`` is the round's view, not read again: every write and delete carries its
        version, so a node changed since fails with RecordGone and waits for the next round.
        """
        try:
            lock = self.store.lock_node(node.id, self.name, blocking=False)
        except NoNodeError:
            return
        if lock is None:
            return
        try:
            action(node, provider, lock)
        except RecordGone as exc:
            log.debug("Node %s changed during cleanup: %s", node.id, exc)
        finally:
            try:
                lock.release()
            except NoNodeError:
                pass  # the node (and its lock) was deleted

    def _recycle(self, node: NodeRecord, provider: Provider, lock: Lock) -> None:
        if node.state == NodeState.IN_USE:
            # We got the lock of an in-use node, so nobody holds it: its requestor died.
            # Treat it as used.
            node.state = NodeState.USED
            self.store.update_node(node)  # RecordGone if it changed since the view
            log.info("Node %s was in use by a requestor that went away", node.id)
        log.info("Recycling %s node %s (%s)", node.state, node.id, provider.name)
        provider.recycle(self.store, node, lock)

    def _free(self, node: NodeRecord, _provider: Provider, _lock: Lock) -> None:
        if node.allocated_to not in set(self.store.request_ids()):
            request_id = node.allocated_to
            node.allocate(None)
            self.store.update_node(node, state_changed=False)
            log.info("Freed node %s of request %s, which is gone", node.id, request_id)

    def _expire_hold(self, node: NodeRecord, _provider: Provider, _lock: Lock) -> None:
        node.state = NodeState.DELETING
        self.store.update_node(node)

    def _remove_stale_request_locks(self) -> None:
        """Delete the lock dirs of requests that are gone, once two of these checks in a
        row found them so (a requestor deletes its request's lock dir with the request, often
        between our two listings: left to it)."""
        try:
            stale = set(self.client.get_children(REQUEST_LOCKS)) - set(self.store.request_ids())
        except NoNodeError:
            return
        confirmed, self._stale_locks = stale & self._stale_locks, stale
        for request_id in confirmed:
            try:
                self.client.delete(f"{REQUEST_LOCKS}/{request_id}")
            except (NoNodeError, NotEmptyError):
                pass

    # Requests -----------------------------------------------------------------------------

    def _handle_requests(self, nodes: list[NodeRecord], lagging: set[str]) -> None:
        """Plan the open requests in priority/FIFO order, then handle them several at a
        time (ZooKeeper round trips dominate), each under its request lock."""
        pools = self._pools()
        registered = {str(pool.get("id")) for pool in pools}
        ours = self.pool_ids
        # A request the view shows older than our own last write to it is stale: skip it
        # until the cache catches up (it was just fulfilled or marked pending by us).
        viewed = [r for r in self._open_requests() if r is not None]
        seen = {r.id for r in viewed}
        with self._busy_lock:
            for request_id in set(self._written) - seen:
                del self._written[request_id]
            written = dict(self._written)
        open_requests = [r for r in viewed if r.version >= written.get(r.id, -1)]
        requests = sorted((r for r in open_requests
                           if r.state in OPEN_REQUEST_STATES
                           and not ours <= set(r.declined_by)),
                          key=RequestRecord.sort_key)
        with self._busy_lock:
            busy = dict(self._busy_requests)
        plan = RoundPlan(nodes)
        plan.reserved.update(node_id for ids in busy.values() for node_id in ids)
        holding = {n.allocated_to for n in nodes if n.allocated_to}
        by_id = {n.id: n for n in nodes}
        plan.reserved.update(lagging)  # the view lags behind our own writes
        tasks: list[tuple[RequestRecord, Any]] = []
        for request in requests:
            if request.id in busy:
                continue  # still being handled
            choice = choose_pool(self.providers, request, pools)
            if isinstance(choice, Yield):
                continue  # left to the launcher of the provider it asks for
            if choice is None:
                tasks.append((request, None))
                continue
            reserved = plan.reserve(*choice, request)
            if reserved is None and request.state == RequestState.PENDING:
                continue  # still waits for capacity: nothing to write
            # New nodes only (nothing to take from others): fulfilled without its lock.
            # Nothing of it allocated yet: fulfilled without its lock (``fulfil_unlocked``).
            unlocked = reserved is not None and request.id not in holding
            tasks.append((request, (*choice, reserved, unlocked)))
        # The lock dirs of new requests handled under their lock, all in one pipelined
        # round trip, so that each lock below is one create and one listing (kazoo's own
        # exists/create skipped).
        self._lock_dirs &= seen
        new = [r.id for r, choice in tasks
               if r.id not in self._lock_dirs and not (choice and choice[3])]
        self.store.ensure_request_locks(new)
        self._lock_dirs.update(new)
        for request, choice in tasks:
            with self._busy_lock:
                self._busy_requests[request.id] = list(choice[2] or []) if choice else []
            if choice is not None and choice[3] and self._fulfil_unlocked(
                    request, choice[0], choice[1], nodes, [by_id[i] for i in choice[2]],
                    registered):
                continue  # sent; its callback ends it
            self._submit(self._handle_one, (request, choice, registered, nodes),
                         partial(self._busy_requests.pop, request.id, None))

    def _handle_one(self, planned: RequestRecord, choice: Any, registered: set[str],
                    nodes: list[NodeRecord]) -> None:
        """Decline, fulfil or mark pending one request, as planned, under its lock.

        The request is not read again under the lock: every write for it carries the
        version the plan saw, its own and those of the nodes allocated to it or given back
        (``NodepoolStore.update_node_for``), so a request fulfilled or changed meanwhile
        fails the first write (RecordGone), nothing else is touched and it is planned again
        from the cache. Nodepool 11 reads the request again after locking it instead.
        """
        if self._stopping.is_set() or not self.client.connected:
            return
        # (A request planned for a lock-free fulfilment may have no lock dir yet.)
        lock = self.store.request_lock(planned.id, self.name,
                                       assured=planned.id in self._lock_dirs)
        try:
            if not lock.acquire(blocking=False):
                return
        except NoNodeError:
            return  # deleted with its lock dir meanwhile
        except KazooException as exc:
            log.warning("Cannot lock request %s: %s", planned.id, exc)
            return
        try:
            request = planned
            if choice is None:
                decline(self.store, request, self.pool_ids, registered)
            else:
                provider, pool, reserved, _unlocked = choice
                if reserved is None:  # waits for capacity behind an earlier request
                    if request.state == RequestState.REQUESTED:
                        request.state = RequestState.PENDING
                        self.store.update_request(request)
                else:
                    fulfil(self.store, request, provider, pool, self.name, nodes, reserved,
                           lock)
            with self._busy_lock:
                self._written[request.id] = request.version
        except (RecordGone, KazooException) as exc:
            log.debug("Request %s changed while handling it: %s", planned.id, exc)
        finally:
            try:
                lock.release()
            except KazooException:
                pass  # lost with the session; ZooKeeper dropped it

    def _fulfil_unlocked(self, request: RequestRecord, provider: Provider,
                         pool: dict[str, Any], nodes: list[NodeRecord],
                         ready: list[NodeRecord], registered: set[str]) -> bool:
        """Send the lock-free fulfilment of ``request`` with the ``ready`` nodes reserved
        for it and new ones (``fulfil_unlocked``) without waiting for it; the requests cache
        takes what was written instead of reading it back. False when that could not be
        sent (no room left, a reserved node taken: handle it under the lock)."""
        cache = self._caches.get(REQUESTS)
        if cache is not None:
            cache.mark_final(request.id)

        def finished(fulfilled: RequestRecord, outcome: ZnodeStat | Exception) -> None:
            if isinstance(outcome, Exception):
                log.debug("Request %s not fulfilled without its lock: %s: %s", request.id,
                          type(outcome).__name__, outcome)
                if cache is not None:
                    cache.final_failed(request.id)
            elif cache is not None:
                cache.final_written(request.id, fulfilled.to_json(), outcome)
            if type(outcome) is RecordGone:  # a ready node locked or changed: under the
                # locks, which take another node or mark the request pending
                self._submit(self._handle_one,
                             (request, (provider, pool, [], False), registered, nodes),
                             partial(self._busy_requests.pop, request.id, None))
                return
            with self._busy_lock:
                if not isinstance(outcome, Exception):
                    self._written[request.id] = fulfilled.version
                    self._lock_dirs.add(request.id)
                    for node in ready:  # each written once by the transaction
                        self._written_nodes[node.id] = node.version + 1
                self._busy_requests.pop(request.id, None)

        sent = fulfil_unlocked(self.store, request, provider, pool, nodes,
                               request.id in self._lock_dirs, finished, ready)
        if not sent and cache is not None:
            cache.final_failed(request.id)
        return sent

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
