"""Zuul's side of Nodepool: node requests in ZooKeeper (``zuul.nodes.NodeRequester``).

For each build the scheduler writes an *ephemeral* sequence node request, waits for a
launcher to fulfil it without blocking the event loop (kazoo async gets with a one-shot data
watch hand the result to asyncio with ``loop.call_soon_threadsafe``), locks the nodes (kazoo
``Lock`` recipe), marks them ``in-use`` and deletes the request. When the build ends the
nodes go back as ``used`` (or ``hold`` when an autohold matched) and are unlocked. If the
scheduler dies its session ends: ZooKeeper removes its requests and its node locks, and the
launchers clean up the nodes. A request lost with an expired session while its requester
lives (a ZooKeeper outage longer than the session timeout) is written again once a new
session is connected.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import ConnectionLoss, KazooException, LockTimeout, NoNodeError
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.lock import Lock

from nodepool.zk import (
    NODES,
    OPEN_REQUEST_STATES,
    REQUESTS,
    NodepoolStore,
    NodeRecord,
    NodeState,
    RecordGone,
    RequestRecord,
    RequestState,
    label_summary,
    node_from_read,
)
from nodepool.zklock import PipelinedLock
from zuul.lib.zk import make_client
from zuul.lib.zk_handler import inline

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 10.0
ZK_THREADS = 64  # blocking kazoo calls in flight at once (each mostly waits on ZooKeeper)
MAX_WATCH_RETRIES = 20  # reads of a waited-for request cut off by connection losses


class NodeRequestFailed(Exception):
    """Nodepool could not (or no longer can) provide the nodes of a request."""


@dataclass
class Node:
    """What the executor needs to build an inventory entry for one node."""

    id: str
    label: str
    host: str
    connection_type: str  # "local" | "ssh"
    connection_port: int
    username: str | None


@dataclass
class NodeSet:
    """The nodes given to one build, locked by this requester until released."""

    request_id: str
    nodes: list[Node]
    fulfilled_seconds: float = 0.0  # from writing the request to seeing it fulfilled


class NodeRequester:
    """Requests, locks and returns Nodepool nodes over the scheduler's ZooKeeper session."""

    def __init__(self, zk_conf: dict[str, Any], requestor: str) -> None:
        self.requestor = requestor
        self.client = make_client(zk_conf)
        self.store = NodepoolStore(self.client)
        # (request id, node id) -> our lock: a node reclaimed after our session expired may
        # be ours again under a later request, and releasing the stale set must not unlock it.
        # With the lock, the node as we last wrote it (its version): returned without a read.
        self._locks: dict[tuple[str, str], tuple[Lock, NodeRecord | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Event | None = None
        self._closed = False
        self.sessions_lost = 0  # sessions expired so far (their requests went with them)
        self._relock_due = 0  # sessions lost whose node locks were taken again
        # Lock held nodes again after an expired session (off: leave them to the launchers).
        self.relock = True
        self._executor = ThreadPoolExecutor(ZK_THREADS, thread_name_prefix="node-requester")

    async def _run(self, func: Any, *args: Any) -> Any:
        """Run a blocking kazoo call in this requester's own thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    @property
    def connected(self) -> bool:
        """True while the ZooKeeper session is connected."""
        return bool(self.client.connected)

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            self.sessions_lost += 1
        elif state == KazooState.CONNECTED and self._relock_due < self.sessions_lost \
                and self.relock:
            self._relock_due = self.sessions_lost
            # kazoo forbids blocking calls in its listener: lock in our pool.
            self._executor.submit(self._relock)
        if self._loop is None or self._connected is None:
            return
        event = self._connected
        setter = event.set if state == KazooState.CONNECTED else event.clear
        try:
            self._loop.call_soon_threadsafe(setter)
        except RuntimeError:  # loop closed while stopping
            pass

    async def start(self) -> None:
        """Start connecting to ZooKeeper in the background (does not wait for it)."""
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self.client.add_listener(self._on_state)
        self.client.start_async()
        if self.client.connected:
            self._connected.set()

    async def stop(self) -> None:
        """Close the session: ZooKeeper drops our requests and node locks with it."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.remove_listener(self._on_state)
        self.client.stop()
        self.client.close()
        self._executor.shutdown(wait=False)

    async def _wait_connected(self) -> None:
        assert self._connected is not None, "NodeRequester.start() was not called"
        if not self.client.connected:
            await self._connected.wait()

    async def request(self, labels: list[str], build_uuid: str, priority: int = 100,
                      relative_priority: int = 0, event_id: str | None = None,
                      tenant_name: str | None = None,
                      requestor_data: dict[str, Any] | None = None,
                      provider: str | None = None, reuse: bool = True,
                      submitted: Callable[[str], None] | None = None) -> NodeSet:
        """Request nodes with ``labels``; return them locked and ``in-use``.

        The request is Zuul 14's: ``priority`` (precedence, the znode name's prefix),
        ``relative_priority`` (position of the item in its queue: 0 first), ``event_id`` and
        ``tenant_name`` (the launcher writes it on the nodes it allocates); ``provider`` (the
        provider to prefer, as Zuul asks for its parent job's); ``requestor_data`` (opaque
        to Nodepool) gets the ``build_uuid``; ``reuse=False`` asks for new nodes only (no
        existing ready node), as Nodepool 11 serves it.
        ``submitted`` is called with the request id once written (to :meth:`revise` it).
        Raises :class:`NodeRequestFailed` when Nodepool fails the request or the request is
        lost. Cancelling deletes the request (and returns any nodes already taken).
        """
        if not 0 <= priority <= 999:
            raise ValueError("priority must be 0-999")
        if not labels:
            return NodeSet("", [])  # a job without nodes runs on the executor only
        await self._wait_connected()
        record = RequestRecord(
            requestor=self.requestor, node_types=list(labels),
            requestor_data={**(requestor_data or {}), "build_uuid": build_uuid,
                            "tenant_name": tenant_name},
            relative_priority=relative_priority, event_id=event_id, tenant_name=tenant_name,
            provider=provider, reuse=reuse)
        began = time.monotonic()
        while True:
            sessions_lost = self.sessions_lost
            try:
                return await self._request_once(record, priority, labels, began, submitted)
            except NodeRequestFailed:
                # Requests are ephemeral: one lost with an expired session (a ZooKeeper
                # outage) is written again on the new session, not failed. Without an
                # expiry the request may still be there: fail as before.
                if self.sessions_lost == sessions_lost:
                    raise
            log.warning("Node request of build %s (event %s) lost with the ZooKeeper "
                        "session; requesting again", build_uuid, event_id)
            await self._wait_connected()

    async def _request_once(self, record: RequestRecord, priority: int, labels: list[str],
                            began: float, submitted: Callable[[str], None] | None) -> NodeSet:
        loop = asyncio.get_running_loop()
        try:
            path = await self._await(self.store.submit_request_async(record, priority))
            record = self.store.submitted(record, path)
        except KazooException as exc:
            raise NodeRequestFailed(
                f"cannot submit a node request: ZooKeeper {type(exc).__name__}") from None
        if submitted is not None:
            submitted(record.id)
        done: asyncio.Future[RequestRecord] = loop.create_future()
        taken: list[str] = []
        try:
            self._watch(record.id, done, loop)
            result = await done
            fulfilled_seconds = time.monotonic() - began
            if result.state != RequestState.FULFILLED:
                raise NodeRequestFailed(
                    f"node request {record.id} for {labels} failed: "
                    f"{result.reason or 'declined by every launcher'}")
            accepting = asyncio.ensure_future(self._accept_unlocked(result, taken))
            try:
                records = await asyncio.shield(accepting)
            except asyncio.CancelledError:
                # Let a transaction already sent finish, so ``taken`` has what it locked.
                await asyncio.gather(accepting, return_exceptions=True)
                raise
            if records is None:
                records = await self._run(self._accept_locked, result, taken)
            return NodeSet(record.id, self._nodes_of(result, records), fulfilled_seconds)
        except KazooException as exc:
            await asyncio.shield(self._run(self._abandon, record.id, taken))
            raise NodeRequestFailed(
                f"node request {record.id} lost: ZooKeeper {type(exc).__name__}") from None
        except BaseException:
            await asyncio.shield(self._run(self._abandon, record.id, taken))
            raise

    async def _await(self, result: Any) -> Any:
        """The value of a kazoo async call (``*_async``), awaited without a thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(value: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        @inline  # in kazoo's connection thread, as the reply is read
        def on_result(done: Any) -> None:
            try:
                value, error = done.get(), None
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                value, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, value, error)
            except RuntimeError:  # loop closed while stopping
                pass

        result.rawlink(on_result)
        return await future

    def _watch(self, request_id: str, done: asyncio.Future[RequestRecord],
               loop: asyncio.AbstractEventLoop) -> None:
        """Resolve ``done`` once the request is fulfilled or failed (or gone).

        A one-shot data watch set by kazoo's async get, armed again by the next async get
        when it fires: unlike kazoo's ``DataWatch`` (which reads synchronously in kazoo's
        callback thread) nothing waits there, so many requests fulfilled at once are read
        back in one pipelined round trip instead of one after another. The watch and the
        read's callback are :func:`~zuul.lib.zk_handler.inline` (kazoo's connection thread).
        """
        path = f"{REQUESTS}/{request_id}"
        attempts = [0]  # reads cut off by a lost connection (re-sent; kazoo queues them)

        def resolve(value: RequestRecord | Exception) -> None:
            if done.done():
                return
            if isinstance(value, Exception):
                done.set_exception(value)
            else:
                done.set_result(value)

        def settle(value: RequestRecord | Exception) -> None:
            try:
                loop.call_soon_threadsafe(resolve, value)
            except RuntimeError:  # loop closed while stopping
                pass

        @inline  # a watch event: in kazoo's connection thread
        def read(event: Any = None) -> None:
            if done.done():
                return
            if event is not None and event.type == EventType.DELETED:
                settle(NodeRequestFailed(
                    f"node request {request_id} disappeared (ZooKeeper session lost?)"))
                return  # (usually ours, accepted: then ``done`` is settled already)
            try:
                self.client.get_async(path, watch=read).rawlink(on_data)
            except KazooException as exc:
                settle(exc)

        @inline
        def on_data(result: Any) -> None:
            try:
                data, stat = result.get()
            except NoNodeError:
                settle(NodeRequestFailed(
                    f"node request {request_id} disappeared (ZooKeeper session lost?)"))
                return
            except ConnectionLoss as exc:
                attempts[0] += 1
                if attempts[0] > MAX_WATCH_RETRIES:
                    settle(exc)
                else:
                    read()
                return
            except KazooException as exc:
                settle(exc)
                return
            current = RequestRecord.from_json(request_id, data, stat.version)
            if current.state in (RequestState.FULFILLED, RequestState.FAILED):
                settle(current)

        read()

    @staticmethod
    def _nodes_of(request: RequestRecord, records: list[NodeRecord]) -> list[Node]:
        return [Node(id=record.id,
                     label=request.node_types[index] if index < len(request.node_types)
                     else record.label,
                     host=record.interface_ip or record.hostname,
                     connection_type=record.connection_type,
                     connection_port=record.connection_port, username=record.username)
                for index, record in enumerate(records)]

    @staticmethod
    def _in_use(record: NodeRecord, request: RequestRecord) -> None:
        record.state = NodeState.IN_USE
        # Which build has the node (Nodepool keeps user_data for the requestor): the
        # dashboard links node <-> build by it.
        record.user_data = {**(record.user_data if isinstance(record.user_data, dict)
                               else {}), "build_uuid": request.build_uuid}

    async def _accept_unlocked(self, request: RequestRecord,
                               taken: list[str]) -> list[NodeRecord] | None:
        """Accept a fulfilled request the usual way, without a thread: its nodes read in one
        pipelined round trip, then locked, written ``in-use`` and the request deleted in one
        transaction (``NodepoolStore.accept_unlocked_async``). None (nothing written) when a
        node is not as the request says or that transaction cannot be: then
        :meth:`_accept_locked` goes node by node."""
        paths = [f"{NODES}/{node_id}" for node_id in request.nodes]
        reads = await asyncio.gather(*(self._await(self.client.get_async(path))
                                       for path in paths), return_exceptions=True)
        ready: list[NodeRecord] = []
        for node_id, read in zip(request.nodes, reads, strict=True):
            if isinstance(read, NoNodeError):
                return None  # the step-by-step path tells what is wrong
            if isinstance(read, BaseException):
                raise read
            record = node_from_read(node_id, *read)
            if record is None or record.allocated_to != request.id \
                    or record.state != NodeState.READY:
                return None
            self._in_use(record, request)
            ready.append(record)
        pending, locks = self.store.accept_unlocked_async(request, ready, self.requestor)
        results = await self._await(pending)
        if not self.store.accept_committed(results, ready, locks):
            return None
        for record, lock in zip(ready, locks, strict=True):
            self._locks[(request.id, record.id)] = (lock, record)
            taken.append(record.id)
        return ready

    def _accept_locked(self, request: RequestRecord, taken: list[str]) -> list[NodeRecord]:
        """Node by node: lock it (kazoo's recipe), check it and mark it ``in-use``, then
        one transaction writes them and deletes the request (or one write each)."""
        records: list[NodeRecord] = []
        for node_id in request.nodes:
            try:
                lock, record = self.store.lock_and_get_node(node_id, self.requestor,
                                                            timeout=LOCK_TIMEOUT)
            except LockTimeout:
                raise NodeRequestFailed(f"node {node_id} stayed locked by someone else") from None
            if lock is None:
                raise NodeRequestFailed(f"node {node_id} of {request.id} is gone")
            try:
                if record is None or record.allocated_to != request.id \
                        or record.state != NodeState.READY:
                    now = "gone" if record is None else \
                        f"{record.state}, allocated to {record.allocated_to}"
                    raise NodeRequestFailed(
                        f"node {node_id} is no longer allocated to {request.id} ({now})")
                self._in_use(record, request)
            except BaseException:
                lock.release()
                raise
            self._locks[(request.id, node_id)] = (lock, None)  # read again if returned now
            taken.append(node_id)
            records.append(record)
        if not self.store.accept_request(request, records):
            try:
                for record in records:
                    self.store.update_node(record)
            except RecordGone as exc:
                raise NodeRequestFailed(str(exc)) from None
            self.store.delete_request(request.id)
        for record in records:
            self._locks[(request.id, record.id)] = (self._locks[(request.id, record.id)][0],
                                                    record)
        return records

    def _relock(self) -> None:
        """After an expired session: lock again the nodes our builds still hold (their
        locks went with the session), before a launcher reclaims them as abandoned. A node
        already reclaimed (no longer ``in-use`` for our request) stays lost to its build;
        the build returns nothing for it."""
        for request_id, node_id in list(self._locks):
            try:
                lock = self.store.lock_node(node_id, self.requestor, blocking=False)
                if lock is None:
                    log.error("Node %s of request %s was taken while the ZooKeeper session "
                              "was lost", node_id, request_id)
                    continue
                current = self.store.get_node(node_id)
                if current is None or current.state != NodeState.IN_USE \
                        or current.allocated_to != request_id:
                    lock.release()
                    log.error("Node %s of request %s was reclaimed while the ZooKeeper "
                              "session was lost", node_id, request_id)
                    continue
            except KazooException as exc:
                log.warning("Could not lock node %s again: %s", node_id, exc)
                continue
            if (request_id, node_id) in self._locks:
                self._locks[(request_id, node_id)] = (lock, current)
                log.info("Node %s of request %s locked again after a lost ZooKeeper session",
                         node_id, request_id)
            else:  # returned meanwhile
                lock.release()

    def _abandon(self, request_id: str, taken: list[str]) -> None:
        """After a failure or cancellation: delete the request, give back taken nodes."""
        try:
            self.store.delete_request(request_id)
            self._return(taken, None, request_id)
        except KazooException as exc:
            log.warning("Could not clean up node request %s: %s", request_id, exc)

    def _return(self, node_ids: list[str], hold: dict[str, Any] | None,
                request_id: str) -> None:
        for node_id in node_ids:
            lock, record = self._locks.pop((request_id, node_id), (None, None))
            try:
                self._return_one(node_id, record, hold, request_id, lock)
            except RecordGone as exc:
                log.warning("Node %s changed while returning it: %s", node_id, exc)
            finally:
                if lock is not None:
                    lock.release()

    def _return_one(self, node_id: str, record: NodeRecord | None,
                    hold: dict[str, Any] | None, request_id: str,
                    lock: PipelinedLock | None) -> None:
        """Write the node back as used (or held): from the record we last wrote, read
        again only if someone changed it since (e.g. a comment through the API). The same
        transaction releases our ``lock`` on it."""
        for attempt in range(2):
            if record is None or attempt:
                record = self.store.get_node(node_id)
            # After a lost session the node may already have been reclaimed (and given
            # to someone else): only a node still allocated to our request is ours.
            if record is None or record.state != NodeState.IN_USE \
                    or record.allocated_to != request_id:
                return
            self._mark_returned(record, hold)
            try:
                self.store.update_node(record, lock=lock)
                return
            except RecordGone:
                if attempt:
                    raise

    @staticmethod
    def _mark_returned(record: NodeRecord, hold: dict[str, Any] | None) -> None:
        """``used``, or ``hold`` with ``hold``'s job, reason and expiration."""
        if hold is not None:
            record.state = NodeState.HOLD
            record.hold_job = hold.get("job") or hold.get("id")
            record.comment = hold.get("reason") or hold.get("comment")
            expiration = hold.get("expiration")
            # Nodepool's meaning: seconds after state_time (an int).
            record.hold_expiration = int(expiration) if expiration else None
        else:
            record.state = NodeState.USED

    async def _return_at_once(self, nodeset: NodeSet, hold: dict[str, Any] | None) -> bool:
        """Return the nodes the usual way, without a thread: one transaction writes each
        back (from the record we last wrote, at its version) and releases its lock. False
        (nothing written) when that cannot be (a node changed since, a lock lost): then
        :meth:`_return` goes node by node, reading them again."""
        held = [self._locks.get((nodeset.request_id, node.id)) for node in nodeset.nodes]
        transaction = self.client.transaction()
        locks: list[PipelinedLock] = []
        for entry in held:
            lock, record = entry if entry is not None else (None, None)
            if record is None or not isinstance(lock, PipelinedLock) or not lock.contender:
                return False
            returned = NodeRecord(record.id, dict(record.data), record.version)
            self._mark_returned(returned, hold)
            returned.state_time = time.time()
            transaction.set_data(f"{NODES}/{returned.id}", returned.to_json(),
                                 version=returned.version)
            lock.released_by(transaction)
            locks.append(lock)
        results = await self._await(transaction.commit_async())
        if any(isinstance(r, Exception) for r in results):
            return False
        for node, lock in zip(nodeset.nodes, locks, strict=True):
            lock.committed()
            self._locks.pop((nodeset.request_id, node.id), None)
        return True

    async def release(self, nodeset: NodeSet, hold: dict[str, Any] | None = None) -> None:
        """Return a build's nodes as ``used`` (or ``hold`` with ``hold`` info) and unlock them.

        ``hold`` may carry ``job`` (or the autohold request ``id``), ``reason`` and
        ``expiration`` (seconds; the launcher deletes the node after it). If this
        requester's ZooKeeper session expired meanwhile, its locks are gone and the launchers
        have reclaimed the nodes; releasing then changes nothing.
        """
        if not nodeset.nodes:
            return
        try:
            if await self._return_at_once(nodeset, hold):
                return
            await self._run(self._return, [n.id for n in nodeset.nodes], hold,
                            nodeset.request_id)
        except KazooException as exc:
            # Our locks die with our session; the launchers then reclaim the nodes.
            log.warning("Could not return nodes of %s: %s", nodeset.request_id, exc)

    async def revise(self, request_id: str, relative_priority: int) -> bool:
        """Change the ``relative_priority`` of a request still waiting (as Zuul 14 does when
        its queue changes), under the request's lock. Zuul revises only ``requested``
        requests; we also revise ``pending`` ones, since our launchers re-plan every waiting
        request in order each round (a real Nodepool pool that accepted it keeps it).
        Returns whether the request was changed."""
        try:
            return bool(await self._run(self._revise, request_id, relative_priority))
        except KazooException as exc:
            log.warning("Could not revise node request %s: %s", request_id, exc)
            return False

    def _revise(self, request_id: str, relative_priority: int) -> bool:
        lock = self.store.request_lock(request_id, self.requestor)
        try:
            if not lock.acquire(timeout=LOCK_TIMEOUT):
                return False
        except LockTimeout:
            return False  # a launcher is handling it right now: too late to matter
        try:
            request = self.store.get_request(request_id)
            if request is None or request.state not in OPEN_REQUEST_STATES \
                    or request.relative_priority == relative_priority:
                return False
            request.relative_priority = relative_priority
            self.store.update_request(request, state_changed=False)
            return True
        except RecordGone:
            return False
        finally:
            lock.release()

    async def labels(self) -> list[dict[str, Any]]:
        """Nodepool's labels (name, min_ready, ready/in_use/total counts) from ZooKeeper."""
        return await self._run(label_summary, self.store)
