"""Nodepool's data model in ZooKeeper: Nodepool 11's records, shared by our launcher and Zuul.

The one module holding the records and their states (:class:`NodeState`,
:class:`RequestState`); ``nodepool.launcher`` and Zuul's requester (``zuul.nodes``) both use
it, so our records are exactly what a real Nodepool 11 launcher and a real Zuul 14 read and
write. Layout (all JSON, as Nodepool 11's ``nodepool/zk/zookeeper.py``):

- ``/nodepool/nodes/<id>``: :class:`NodeRecord`; ``<id>`` is a ZooKeeper sequence number.
  Its lock (kazoo ``Lock`` recipe) is ``/nodepool/nodes/<id>/lock``.
- ``/nodepool/requests/<priority>-<seq>``: :class:`RequestRecord`, an *ephemeral* sequence
  node owned by the requestor's session. Served in order of priority (the name's prefix),
  ``relative_priority``, then FIFO (the sequence). Its lock is ``/nodepool/requests-lock/<id>``.
- ``/nodepool/components/pool/<hostname><seq>``: one ephemeral registration per launcher pool
  (Nodepool 11's component registry): ``id`` (what the pool writes in ``declined_by``),
  ``provider_name``, ``supported_labels``, ``priority``...; and
  ``/nodepool/components/launcher/<hostname><seq>`` per launcher (ours add ``name`` and the
  ``labels`` with their ``min_ready``).

Records keep the raw dict they were read from and only change the keys they set, so keys we
do not use (``cloud``, ``host_keys``, ``driver_data``...) survive our read-modify-write.

Every call here is synchronous kazoo (asyncio code runs it in a thread), but for
:meth:`NodepoolStore.fulfil_request_unlocked`, which reports to a callback.
"""
from __future__ import annotations

import copy
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.protocol.states import ZnodeStat
from kazoo.recipe.lock import Lock

from nodepool.zklock import PipelinedLock
from zuul.lib.zk_handler import inline

ROOT = "/nodepool"
NODES = f"{ROOT}/nodes"
REQUESTS = f"{ROOT}/requests"
REQUEST_LOCKS = f"{ROOT}/requests-lock"
COMPONENTS = f"{ROOT}/components"
POOL_COMPONENTS = f"{COMPONENTS}/pool"
LAUNCHER_COMPONENTS = f"{COMPONENTS}/launcher"
ELECTIONS = f"{ROOT}/elections"
MODEL_API = 0  # Nodepool 11's nodepool.model_api.MODEL_API


class NodeState(StrEnum):
    """Nodepool 11's node states (``nodepool.zk.zookeeper``)."""

    BUILDING = "building"
    TESTING = "testing"
    READY = "ready"
    IN_USE = "in-use"
    USED = "used"
    HOLD = "hold"
    DELETING = "deleting"
    FAILED = "failed"
    INIT = "init"
    ABORTED = "aborted"
    DELETED = "deleted"


class RequestState(StrEnum):
    """Nodepool 11's node request states."""

    REQUESTED = "requested"
    PENDING = "pending"
    FULFILLED = "fulfilled"
    FAILED = "failed"


class ComponentState(StrEnum):
    """States of a registered component (Nodepool 11's ``BaseComponent``)."""

    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


NODE_STATES = tuple(NodeState)
REQUEST_STATES = tuple(RequestState)
OPEN_REQUEST_STATES = (RequestState.REQUESTED, RequestState.PENDING)


class RecordGone(Exception):
    """The znode of a record disappeared, or changed under us (version mismatch)."""


class RequestLocked(RecordGone):
    """Someone holds (or waits for) the lock of the request a lock-free write was for:
    nothing was written (:meth:`NodepoolStore.fulfil_request_unlocked`)."""


class RequestChanged(RecordGone):
    """The request a node write was made for is no longer at the version it was planned
    from (fulfilled, declined, revised or deleted meanwhile): nothing was written."""


def new_node_id() -> str:
    """A node id chosen by the launcher, so a node can be created in the same transaction
    as the request it fulfils: 20 decimal digits (microseconds since the epoch, then four
    random), so ids sort by creation and never collide with the ten-digit ZooKeeper
    sequence names a real Nodepool gives its nodes."""
    return f"{time.time_ns() // 1000:016d}{secrets.randbelow(10000):04d}"


def _raise_failed(results: list[Any], what: str) -> None:
    """Raise :class:`RecordGone` for a multi-op transaction that failed."""
    failed = [r for r in results if isinstance(r, Exception)
              and type(r).__name__ != "RolledBackError"]
    if failed:
        raise RecordGone(f"{what}: {type(failed[0]).__name__}")


class Field:
    """A record attribute stored under ``key`` in the record's raw dict."""

    def __init__(self, default: Any = None, key: str = "",
                 convert: Callable[[Any], Any] | None = None) -> None:
        self.default = default
        self.key = key
        self.convert = convert
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.key = self.key or name

    def __get__(self, obj: Record | None, owner: type) -> Any:
        if obj is None:
            return self
        value = obj.data.get(self.key)
        if value is None:
            return copy.copy(self.default)
        return self.convert(value) if self.convert else value

    def __set__(self, obj: Record, value: Any) -> None:
        obj.data[self.key] = value


class Record:
    """A JSON znode: its raw dict (every key kept), its id and the version it was read at."""

    KEYS: ClassVar[dict[str, Any]] = {}  # every key Nodepool writes, with its default

    def __init__(self, id: str = "", data: dict[str, Any] | None = None,  # noqa: A002
                 version: int = -1, **fields: Any) -> None:
        self.id = id
        self.version = version
        # A new record gets every key Nodepool writes; the defaults' lists and dicts are
        # copied (a shallow copy each: they are empty), not the whole dict deep-copied.
        self.data: dict[str, Any] = dict(data) if data is not None else {
            key: value.copy() if isinstance(value, (list, dict)) else value
            for key, value in self.KEYS.items()}
        for name, value in fields.items():
            if not isinstance(getattr(type(self), name, None), (Field, property)):
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)

    def to_json(self) -> bytes:
        return json.dumps(self.data).encode()

    @classmethod
    def from_json(cls, record_id: str, raw: bytes, version: int) -> Any:
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            data = {}
        return cls(record_id, data, version)


def _state(enum: type[StrEnum]) -> Callable[[Any], Any]:
    members: dict[Any, StrEnum] = {member.value: member for member in enum}

    def convert(value: Any) -> Any:
        # A dict lookup, not ``enum(value)``: records' states are read many times a round.
        # A state from a newer Nodepool is kept as it is, never acted on.
        return members.get(value, value)
    return convert


def _labels(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class NodeRecord(Record):
    """One node as Nodepool 11 stores it; ``type`` is its list of labels."""

    KEYS: ClassVar[dict[str, Any]] = {
        "state": NodeState.BUILDING.value, "state_time": None, "cloud": None,
        "provider": None, "pool": None, "type": [], "allocated_to": None, "az": None,
        "region": None, "public_ipv4": None, "private_ipv4": None, "public_ipv6": None,
        "host_id": None, "interface_ip": None, "connection_port": 22, "ssh_port": 22,
        "image_id": None, "launcher": None, "created_time": None, "external_id": None,
        "hostname": None, "comment": None, "user_data": None, "hold_job": None,
        "host_keys": [], "username": None, "connection_type": None, "shell_type": None,
        "hold_expiration": None, "resources": None, "slot": None, "attributes": None,
        "python_path": None, "tenant_name": None, "driver_data": None, "requestor": None,
        "node_properties": {},
    }

    state = Field(NodeState.BUILDING, convert=_state(NodeState))
    state_time = Field(0.0)
    created_time = Field(0.0)
    provider = Field("")
    pool = Field("")
    type = Field([], convert=_labels)
    allocated_to = Field(None)
    hostname = Field("")
    interface_ip = Field("")
    public_ipv4 = Field("")
    private_ipv4 = Field("")
    public_ipv6 = Field("")
    connection_type = Field("ssh")
    username = Field(None)
    launcher = Field("")
    external_id = Field(None)
    comment = Field(None)
    hold_job = Field(None)
    hold_expiration = Field(None)
    slot = Field(None)
    host_keys = Field([])
    python_path = Field(None)
    tenant_name = Field(None)
    requestor = Field(None)
    user_data = Field(None)  # the requestor's (Zuul records the build using the node)

    def allocate(self, request: RequestRecord | None) -> None:
        """Give this node to ``request`` (None: free it), as Nodepool does: ``allocated_to``,
        and the request's ``tenant_name`` and ``requestor``."""
        self.allocated_to = request.id if request is not None else None
        self.tenant_name = request.tenant_name if request is not None else None
        self.requestor = request.requestor if request is not None else None
        if request is None:
            self.user_data = None

    @property
    def connection_port(self) -> int:
        return int(self.data.get("connection_port") or self.data.get("ssh_port") or 22)

    @connection_port.setter
    def connection_port(self, value: int) -> None:
        self.data["connection_port"] = self.data["ssh_port"] = value

    @property
    def label(self) -> str:
        """The node's first label (the one it was launched for)."""
        return self.type[0] if self.type else ""

    @property
    def static_slot(self) -> str | None:
        """``<host>:<port>#<slot>`` of a static node (None without a slot number)."""
        if self.slot is None:
            return None
        return f"{self.hostname}:{self.connection_port}#{self.slot}"

    def has_label(self, label: str) -> bool:
        return label in self.type

    def public(self) -> dict[str, Any]:
        """The record as our API shows it (``nodepool/openapi.yaml``)."""
        return {
            "id": self.id, "label": self.label, "labels": self.type,
            "provider": self.provider or "", "pool": self.pool or "", "state": self.state,
            "hostname": self.hostname or "", "interface_ip": self.interface_ip or "",
            "public_ipv4": self.public_ipv4 or "", "private_ipv4": self.private_ipv4 or "",
            "public_ipv6": self.public_ipv6 or "", "connection_type": self.connection_type,
            "connection_port": self.connection_port, "username": self.username,
            "launcher": self.launcher or "", "allocated_to": self.allocated_to,
            "state_time": self.state_time, "created_time": self.created_time,
            "comment": self.comment, "hold_job": self.hold_job,
            "hold_expiration": self.hold_expiration, "static_slot": self.static_slot,
            "tenant_name": self.tenant_name,
        }


class RequestRecord(Record):
    """A node request as Zuul 14 writes it and Nodepool 11 serves it."""

    KEYS: ClassVar[dict[str, Any]] = {
        "state": RequestState.REQUESTED.value, "state_time": None, "declined_by": [],
        "node_types": [], "nodes": [], "reuse": True, "requestor": None,
        "requestor_data": None, "provider": None, "relative_priority": 0, "event_id": None,
        "created_time": None, "tenant_name": None,
    }

    state = Field(RequestState.REQUESTED, convert=_state(RequestState))
    state_time = Field(0.0)
    created_time = Field(0.0)
    declined_by = Field([])
    node_types = Field([])
    nodes = Field([])
    reuse = Field(True)
    requestor = Field("")
    requestor_data = Field(None)
    provider = Field(None)
    relative_priority = Field(0, convert=int)
    event_id = Field(None)
    tenant_name = Field(None)
    reason = Field(None)  # ours: why it failed (other readers ignore it)

    @property
    def priority(self) -> int:
        """The precedence from the znode name (``<priority>-<sequence>``)."""
        return int(self.id.split("-", 1)[0]) if "-" in self.id else 0

    def sort_key(self) -> tuple[int, int, str]:
        """Nodepool's service order: priority, relative_priority, then FIFO."""
        return self.priority, self.relative_priority, self.id.rsplit("-", 1)[-1]

    @property
    def build_uuid(self) -> str | None:
        data = self.requestor_data
        return data.get("build_uuid") if isinstance(data, dict) else None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "requestor": self.requestor or "", "node_types": self.node_types,
            "state": self.state, "declined_by": self.declined_by, "nodes": self.nodes,
            "build_uuid": self.build_uuid, "reason": self.reason,
            "relative_priority": self.relative_priority, "priority": self.priority,
            "state_time": self.state_time, "created_time": self.created_time,
            "event_id": self.event_id, "tenant_name": self.tenant_name,
        }


def _unlocked_outcome(node_id: str, result: Any, node_op: int) -> bool | Exception:
    """What a lock-free transaction on a node (kazoo's async result) came to: True (done),
    False (locked, or no lock dir), or the exception (:class:`RecordGone` when operation
    ``node_op``, the node's own, found it changed or gone)."""
    try:
        results = result.get()
    except Exception as exc:  # noqa: BLE001 - the caller raises or reports it
        return exc
    if not any(isinstance(r, Exception) for r in results):
        return True
    if isinstance(results[node_op], (BadVersionError, NoNodeError)):
        return RecordGone(f"node {node_id}: {type(results[node_op]).__name__}")
    return False


def _retake_lock_dir(transaction: Any, lock_dir: str) -> None:
    """Delete and create ``lock_dir`` again in ``transaction``: the delete fails while any
    lock contender (a holder or a waiter, of any kazoo ``Lock``) is in it, so the
    transaction excludes them as taking the lock would, and leaves the dir empty."""
    transaction.delete(lock_dir)
    transaction.create(lock_dir, b"")


def node_from_read(node_id: str, raw: bytes, stat: ZnodeStat) -> NodeRecord | None:
    """The node read at ``/nodepool/nodes/<node_id>`` (None when it holds no record: only
    a lock path left behind by a contender of a deleted node)."""
    return NodeRecord.from_json(node_id, raw, stat.version) if raw else None


class NodepoolStore:
    """Reads and writes Nodepool's records through one started :class:`KazooClient`."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self._registrations: list[str] = []  # our component znodes (ephemeral, sequence)

    def ensure_paths(self) -> None:
        for path in (NODES, REQUESTS, REQUEST_LOCKS, POOL_COMPONENTS, LAUNCHER_COMPONENTS,
                     ELECTIONS):
            self.client.ensure_path(path)

    # Nodes --------------------------------------------------------------------------------

    def create_node(self, node: NodeRecord) -> NodeRecord:
        """Store a new node (with its empty lock dir) under an id of :func:`new_node_id`."""
        for _ in range(3):
            node.id = new_node_id()
            transaction = self.client.transaction()
            self.add_create_node(transaction, node)
            try:
                _raise_failed(transaction.commit(), f"node {node.id}")
            except RecordGone:
                continue  # the id was taken (two launchers in the same microsecond)
            node.version = 0
            return node
        raise RecordGone(f"could not create node {node.id}")

    def add_create_node(self, transaction: Any, node: NodeRecord) -> None:
        """Add the creation of ``node`` and of its lock dir to ``transaction`` (``node.id``
        is :func:`new_node_id` if unset). The lock dir existing spares every locker
        kazoo's check for it (see :meth:`node_lock`)."""
        node.id = node.id or new_node_id()
        node.state_time = node.created_time = time.time()
        transaction.create(f"{NODES}/{node.id}", node.to_json())
        transaction.create(f"{NODES}/{node.id}/lock", b"")

    def get_node(self, node_id: str) -> NodeRecord | None:
        try:
            raw, stat = self.client.get(f"{NODES}/{node_id}")
        except NoNodeError:
            return None
        if not raw:  # only a lock path left behind by a contender of a deleted node
            return None
        return NodeRecord.from_json(node_id, raw, stat.version)

    def node_ids(self) -> list[str]:
        try:
            return sorted(self.client.get_children(NODES))
        except NoNodeError:
            return []

    def nodes(self) -> list[NodeRecord]:
        """Every node, in id order."""
        return [n for n in (self.get_node(i) for i in self.node_ids()) if n is not None]

    def update_node(self, node: NodeRecord, state_changed: bool = True,
                    lock: PipelinedLock | None = None) -> NodeRecord:
        """Write ``node`` if nobody changed it since it was read; else :class:`RecordGone`.

        ``lock`` (the node's, held by the caller): released in the same transaction (one
        write and one round trip fewer than releasing it after).
        """
        if state_changed:
            node.state_time = time.time()
        if lock is not None and lock.contender:
            transaction = self.client.transaction()
            transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)
            lock.released_by(transaction)
            results = transaction.commit()
            _raise_failed(results, f"node {node.id}")
            node.version = results[0].version
            lock.committed()
            return node
        try:
            stat = self.client.set(f"{NODES}/{node.id}", node.to_json(), version=node.version)
        except (NoNodeError, BadVersionError) as exc:
            raise RecordGone(f"node {node.id}: {type(exc).__name__}") from None
        node.version = stat.version
        return node

    def update_node_for(self, node: NodeRecord, request: RequestRecord,
                        lock: PipelinedLock | None = None) -> NodeRecord:
        """Write ``node`` (versioned) only while ``request`` is still at ``request.version``,
        in one transaction (one round trip). How a launcher allocates a node to a request it
        holds locked, or gives one back: a request it saw open but that was fulfilled (or
        changed) meanwhile raises :class:`RequestChanged` and no node is touched, so nobody
        but its requestor ever changes the nodes of a fulfilled request (Nodepool 11 reads
        the request again after locking it for the same reason). A node changed since it
        was read raises :class:`RecordGone`. ``lock`` (the node's, held by the caller) is
        released by the same transaction when it succeeds."""
        transaction = self.client.transaction()
        transaction.check(f"{REQUESTS}/{request.id}", request.version)
        transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)
        if lock is not None:
            lock.released_by(transaction)
        results = transaction.commit()
        if isinstance(results[0], Exception) and type(results[0]).__name__ != "RolledBackError":
            raise RequestChanged(f"request {request.id}: {type(results[0]).__name__}")
        _raise_failed(results, f"node {node.id}")
        node.version = results[1].version
        if lock is not None:
            lock.committed()
        return node

    def delete_node(self, node_id: str, version: int = -1,
                    lock: Lock | None = None) -> None:
        """Delete a node with its lock znodes in one transaction (recursively if it raced).

        With ``lock`` (held by the caller, so its only contender) the lock dir is not
        listed first; ``version``: only if the node was not changed since (else RecordGone).
        """
        path, lock_dir = f"{NODES}/{node_id}", f"{NODES}/{node_id}/lock"
        contenders: list[str] | None
        if lock is not None and lock.node:
            contenders = [lock.node]
        else:
            try:
                contenders = self.client.get_children(lock_dir)
            except NoNodeError:
                contenders = None
        transaction = self.client.transaction()
        for name in contenders or ():
            transaction.delete(f"{lock_dir}/{name}")
        if contenders is not None:
            transaction.delete(lock_dir)
        transaction.delete(path, version=version)
        results = transaction.commit()
        if not any(isinstance(r, Exception) for r in results):
            return
        if any(isinstance(r, BadVersionError) for r in results):
            raise RecordGone(f"node {node_id}: BadVersionError")
        try:
            self.client.delete(path, recursive=True)
        except NoNodeError:
            pass

    def delete_unlocked(self, node_id: str, version: int) -> bool:
        """Delete a node nobody holds or contends for, without taking its lock: one
        transaction deletes its lock dir (which fails while any contender is in it: the
        lock's holder or someone waiting) and the node at ``version``. False when it is
        locked or has no lock dir (then nothing was deleted: lock it and delete it);
        :class:`RecordGone` when it changed since ``version``."""
        outcome = _unlocked_outcome(node_id, self._delete_unlocked(node_id, version), 1)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _delete_unlocked(self, node_id: str, version: int) -> Any:
        transaction = self.client.transaction()
        transaction.delete(f"{NODES}/{node_id}/lock")
        transaction.delete(f"{NODES}/{node_id}", version=version)
        return transaction.commit_async()

    def delete_unlocked_async(self, node_id: str, version: int,
                              done: Callable[[bool | Exception], None]) -> None:
        """:meth:`delete_unlocked` without waiting: ``done`` is called (in kazoo's
        connection thread: it must not block) with True (deleted), False (locked, or no lock dir) or
        the exception (:class:`RecordGone`, or kazoo's: connection lost)."""
        @inline
        def finished(result: Any) -> None:
            done(_unlocked_outcome(node_id, result, 1))

        self._delete_unlocked(node_id, version).rawlink(finished)

    def update_unlocked_async(self, node: NodeRecord,
                              done: Callable[[bool | Exception], None]) -> None:
        """Write ``node`` (at the version read) without taking its lock, in one transaction
        sent without waiting: it deletes and re-creates the node's lock dir, which fails
        while anyone holds or waits for the lock (kazoo's recipe, ours, Nodepool's, Zuul's).
        ``done`` is called in kazoo's connection thread (it must not block: see
        :func:`zuul.lib.zk_handler.inline`) with True
        (written; ``node.version`` updated), False (locked, or no lock dir) or the exception
        (:class:`RecordGone`: changed since read, or kazoo's: connection lost)."""
        transaction = self.client.transaction()
        _retake_lock_dir(transaction, f"{NODES}/{node.id}/lock")
        transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)

        @inline
        def finished(result: Any) -> None:
            outcome = _unlocked_outcome(node.id, result, 2)
            if outcome is True:
                node.version = result.get()[2].version
            done(outcome)

        transaction.commit_async().rawlink(finished)

    def remove_if_empty(self, node_id: str) -> None:
        """Delete ``/nodepool/nodes/<id>`` if it holds no record (a lock recreated its path)."""
        try:
            raw, _ = self.client.get(f"{NODES}/{node_id}")
            if not raw:
                self.client.delete(f"{NODES}/{node_id}", recursive=True)
        except NoNodeError:
            pass

    def node_lock(self, node_id: str, identifier: str = "",
                  assured: bool = False) -> PipelinedLock:
        """The kazoo lock of one node (``/nodepool/nodes/<id>/lock``).

        ``assured``: the lock dir is known to exist (our launchers create it with the node),
        so kazoo skips its exists/create round trips; acquiring then raises
        ``NoNodeError`` if it does not (the node is gone, or was never locked).
        """
        lock = PipelinedLock(self.client, f"{NODES}/{node_id}/lock", identifier)
        lock.assured_path = assured  # kazoo's own flag: the lock's parent path exists
        return lock

    def lock_node(self, node_id: str, identifier: str = "", blocking: bool = True,
                  timeout: float | None = None) -> PipelinedLock | None:
        """Acquire a node's lock, the fast way first (:meth:`node_lock` ``assured``);
        None if it is held (not ``blocking``) or the node is gone. Raises ``LockTimeout``."""
        lock = self.node_lock(node_id, identifier, assured=True)
        try:
            return lock if lock.acquire(blocking=blocking, timeout=timeout) else None
        except NoNodeError:
            pass
        if self.client.exists(f"{NODES}/{node_id}") is None:
            return None
        lock = self.node_lock(node_id, identifier)
        return lock if lock.acquire(blocking=blocking, timeout=timeout) else None

    def lock_and_get_node(self, node_id: str, identifier: str = "",
                          timeout: float | None = None
                          ) -> tuple[PipelinedLock | None, NodeRecord | None]:
        """:meth:`lock_node` (blocking) and the node as read under the lock: in the lock's
        first round trip when the lock was free (the usual case), else read after. The lock
        is None if the node is gone; the record None if it is gone (or empty) under it."""
        lock = self.node_lock(node_id, identifier, assured=True)
        lock.read_after = f"{NODES}/{node_id}"
        try:
            acquired = lock.acquire(timeout=timeout)
        except NoNodeError:
            acquired = False
        if not acquired:
            found = self.lock_node(node_id, identifier, timeout=timeout)
            return found, (self.get_node(node_id) if found is not None else None)
        try:
            read = lock.read()
        except NoNodeError:
            return lock, None
        if read is None:
            return lock, self.get_node(node_id)
        raw, stat = read
        return lock, (NodeRecord.from_json(node_id, raw, stat.version) if raw else None)

    def node_locked(self, node_id: str) -> bool:
        try:
            return bool(self.client.get_children(f"{NODES}/{node_id}/lock"))
        except NoNodeError:
            return False

    # Requests -----------------------------------------------------------------------------

    def submit_request(self, request: RequestRecord, priority: int) -> RequestRecord:
        """Write an ephemeral sequence request ``<priority>-<seq>`` owned by this session."""
        return self.submitted(request, self.submit_request_async(request, priority).get())

    def submit_request_async(self, request: RequestRecord, priority: int) -> Any:
        """Start :meth:`submit_request` without waiting: kazoo's async result of the path
        created, to be given to :meth:`submitted`."""
        request.state = RequestState.REQUESTED
        request.state_time = request.created_time = time.time()
        if not request.event_id:
            request.event_id = uuid.uuid4().hex
        return self.client.create_async(f"{REQUESTS}/{priority:03d}-", request.to_json(),
                                        ephemeral=True, sequence=True, makepath=True)

    @staticmethod
    def submitted(request: RequestRecord, path: str) -> RequestRecord:
        """``request`` as stored at ``path`` by :meth:`submit_request_async`."""
        request.id = path.rsplit("/", 1)[1]
        request.version = 0
        return request

    def get_request(self, request_id: str) -> RequestRecord | None:
        try:
            raw, stat = self.client.get(f"{REQUESTS}/{request_id}")
        except NoNodeError:
            return None
        return RequestRecord.from_json(request_id, raw, stat.version)

    def request_ids(self) -> list[str]:
        """Request ids in processing order: priority, then FIFO."""
        try:
            return sorted(self.client.get_children(REQUESTS))
        except NoNodeError:
            return []

    def requests(self) -> list[RequestRecord]:
        """Every request, in Nodepool's order: priority, relative_priority, FIFO."""
        found = [r for r in (self.get_request(i) for i in self.request_ids()) if r is not None]
        return sorted(found, key=RequestRecord.sort_key)

    def update_request(self, request: RequestRecord,
                       state_changed: bool = True) -> RequestRecord:
        """Write ``request`` if nobody changed it since it was read; else RecordGone."""
        if state_changed:
            request.state_time = time.time()
        try:
            stat = self.client.set(f"{REQUESTS}/{request.id}", request.to_json(),
                                   version=request.version)
        except (NoNodeError, BadVersionError) as exc:
            raise RecordGone(f"request {request.id}: {type(exc).__name__}") from None
        request.version = stat.version
        return request

    def fulfil_request(self, request: RequestRecord, new_nodes: list[NodeRecord],
                       lock: PipelinedLock | None = None) -> None:
        """Create ``new_nodes`` (each with its lock dir) and write ``request`` (versioned)
        in one transaction: one round trip; RecordGone if the request changed meanwhile.
        ``lock`` (the request's, held by the caller) is released by the same transaction,
        so the requestor finds the request's lock dir empty when it accepts."""
        transaction = self.client.transaction()
        for node in new_nodes:
            self.add_create_node(transaction, node)
        request.state_time = time.time()
        transaction.set_data(f"{REQUESTS}/{request.id}", request.to_json(),
                             version=request.version)
        if lock is not None:
            lock.released_by(transaction)
        results = transaction.commit()
        _raise_failed(results, f"request {request.id}")
        for node in new_nodes:
            node.version = 0
        request.version = results[2 * len(new_nodes)].version
        if lock is not None:
            lock.committed()

    def fulfil_request_unlocked(self, request: RequestRecord, new_nodes: list[NodeRecord],
                                lock_dir: bool,
                                done: Callable[[ZnodeStat | Exception], None],
                                allocated: list[NodeRecord] | None = None) -> None:
        """:meth:`fulfil_request` without taking the request's lock: one transaction that
        also proves nobody holds or waits for it, so it excludes every kazoo ``Lock`` on
        ``/nodepool/requests-lock/<id>`` (Nodepool 11's, Zuul 14's, ours) as taking the
        lock would, in one round trip instead of three, sent without waiting for it.

        A lock holder or contender is a child of the lock dir. The transaction deletes the
        lock dir and creates it again (``lock_dir``: it exists), which fails while it has a
        child, or creates it (it does not exist: then nobody can hold the lock), which fails
        if it was made meanwhile; then it creates ``new_nodes`` and writes ``request`` at
        its version. ZooKeeper applies it atomically, so it is as if the lock was taken,
        the writes made and the lock released, with nobody else holding it meanwhile. The
        lock dir is left in place (empty), as after a lock's release. If ``lock_dir`` was
        wrong, the other form is tried once. ``allocated``: existing (ready) nodes given to
        the request, written at their version in the same transaction, each with its lock
        dir deleted and created again (so it fails while anyone holds or waits for a node's
        lock, as taking each node's lock would).

        ``done`` is called (in kazoo's connection thread: it must not block, see
        :func:`zuul.lib.zk_handler.inline`) with the
        request's new stat, or with :class:`RequestLocked` (its lock is held or contended),
        :class:`RequestChanged` (it changed or is gone), :class:`RecordGone` (one of
        ``allocated`` is locked or changed) or kazoo's exception (connection lost): then
        nothing was written."""
        lock_path = f"{REQUEST_LOCKS}/{request.id}"
        request.state_time = time.time()
        payload = request.to_json()

        def attempt(exists: bool, last: bool) -> None:
            transaction = self.client.transaction()
            if exists:
                _retake_lock_dir(transaction, lock_path)
            else:
                transaction.create(lock_path, b"")
            for node in new_nodes:
                self.add_create_node(transaction, node)
            for node in allocated or ():
                _retake_lock_dir(transaction, f"{NODES}/{node.id}/lock")
                node.state_time = time.time()
                transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)
            transaction.set_data(f"{REQUESTS}/{request.id}", payload, version=request.version)
            transaction.commit_async().rawlink(partial(committed, exists, last))

        @inline
        def committed(exists: bool, last: bool, result: Any) -> None:
            try:
                results = result.get()
            except Exception as exc:  # noqa: BLE001 - handed to ``done``
                done(exc)
                return
            failed = next((r for r in results if isinstance(r, Exception)
                           and type(r).__name__ != "RolledBackError"), None)
            if failed is None:
                for node in new_nodes:
                    node.version = 0
                first = (2 if exists else 1) + 2 * len(new_nodes)
                for index, node in enumerate(allocated or ()):
                    node.version = results[first + 3 * index + 2].version
                request.version = results[-1].version
                done(results[-1])
            elif isinstance(failed, NotEmptyError) and results.index(failed) == 0:
                done(RequestLocked(f"request {request.id} is locked"))
            elif results.index(failed) == len(results) - 1:  # the request's own write
                done(RequestChanged(f"request {request.id}: {type(failed).__name__}"))
            elif not last and (
                    (isinstance(failed, NodeExistsError) and results.index(failed) == 0
                     and not exists)  # the lock dir exists: delete and create it
                    or (isinstance(failed, NoNodeError) and exists
                        and results.index(failed) == 0)):  # no lock dir: create it
                try:
                    attempt(not exists, True)
                except Exception as exc:  # noqa: BLE001 - the connection is closing
                    done(exc)
            else:  # a node: locked by someone, or changed since the view
                done(RecordGone(f"request {request.id}: a node's {type(failed).__name__}"))

        attempt(lock_dir, False)

    def accept_request(self, request: RequestRecord, nodes: list[NodeRecord]) -> bool:
        """Zuul's side, once it holds the nodes' locks: write ``nodes`` (versioned) and
        delete the request with its lock dir, in one transaction. False if that cannot be
        (then nothing was written: do it step by step)."""
        transaction = self.client.transaction()
        for node in nodes:
            node.state_time = time.time()
            transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)
        transaction.delete(f"{REQUESTS}/{request.id}")
        transaction.delete(f"{REQUEST_LOCKS}/{request.id}")
        results = transaction.commit()
        if any(isinstance(r, Exception) for r in results):
            return False
        for node, stat in zip(nodes, results, strict=False):
            node.version = stat.version
        return True

    def get_nodes(self, node_ids: list[str]) -> list[NodeRecord | None]:
        """The nodes ``node_ids`` (None for one gone), read in one pipelined round trip."""
        pending = [self.client.get_async(f"{NODES}/{node_id}") for node_id in node_ids]
        found: list[NodeRecord | None] = []
        for node_id, result in zip(node_ids, pending, strict=True):
            try:
                raw, stat = result.get()
            except NoNodeError:
                found.append(None)
                continue
            found.append(node_from_read(node_id, raw, stat))
        return found

    def accept_unlocked(self, request: RequestRecord, nodes: list[NodeRecord],
                        identifier: str) -> list[PipelinedLock] | None:
        """Zuul's side in one transaction: lock each of ``nodes`` (read at ``node.version``),
        write it, and delete the request with its lock dir. Each node's lock dir is deleted
        and created again (which fails while anyone holds or waits for its lock) and our
        contender created in it, so we hold the lock as kazoo's recipe reckons it, with the
        node written at the version it was read. Returns the held locks; None when that
        cannot be (a lock held, a node changed, no lock dir): then nothing was written."""
        pending, locks = self.accept_unlocked_async(request, nodes, identifier)
        return locks if self.accept_committed(pending.get(), nodes, locks) else None

    def accept_unlocked_async(self, request: RequestRecord, nodes: list[NodeRecord],
                              identifier: str) -> tuple[Any, list[PipelinedLock]]:
        """:meth:`accept_unlocked` without waiting: kazoo's async result of the transaction
        and the locks it takes, both for :meth:`accept_committed`."""
        transaction = self.client.transaction()
        locks = []
        for node in nodes:
            lock = self.node_lock(node.id, identifier, assured=True)
            _retake_lock_dir(transaction, lock.path)
            lock.acquired_by(transaction)
            node.state_time = time.time()
            transaction.set_data(f"{NODES}/{node.id}", node.to_json(), version=node.version)
            locks.append(lock)
        transaction.delete(f"{REQUESTS}/{request.id}")
        transaction.delete(f"{REQUEST_LOCKS}/{request.id}")
        return transaction.commit_async(), locks

    @staticmethod
    def accept_committed(results: list[Any], nodes: list[NodeRecord],
                         locks: list[PipelinedLock]) -> bool:
        """Whether the transaction of :meth:`accept_unlocked_async` succeeded (its
        ``results``): then ``locks`` are held and ``nodes`` carry their new versions."""
        if any(isinstance(r, Exception) for r in results):
            return False
        for index, (node, lock) in enumerate(zip(nodes, locks, strict=True)):
            lock.acquired(results[4 * index + 2])
            node.version = results[4 * index + 3].version
        return True

    def ensure_request_locks(self, request_ids: list[str]) -> None:
        """Create the lock dirs of ``request_ids`` (pipelined: one round trip for all), so
        locking them spares kazoo's exists/create (see :meth:`request_lock`)."""
        pending = [self.client.create_async(f"{REQUEST_LOCKS}/{request_id}", b"")
                   for request_id in request_ids]
        for result in pending:
            try:
                result.get()
            except (NodeExistsError, NoNodeError):
                pass

    def delete_request(self, request_id: str) -> None:
        """Delete a request and its (empty) lock dir in one transaction, one round trip;
        if that cannot be (no lock dir, or a contender in it), each on its own."""
        transaction = self.client.transaction()
        transaction.delete(f"{REQUESTS}/{request_id}")
        transaction.delete(f"{REQUEST_LOCKS}/{request_id}")
        if not any(isinstance(r, Exception) for r in transaction.commit()):
            return
        try:
            self.client.delete(f"{REQUESTS}/{request_id}")
        except NoNodeError:
            pass
        try:
            self.client.delete(f"{REQUEST_LOCKS}/{request_id}", recursive=True)
        except (NoNodeError, NotEmptyError):
            # A launcher still planning from an older view may be creating a lock contender
            # under it right now; launchers remove such stale lock dirs themselves.
            pass

    def request_lock(self, request_id: str, identifier: str = "",
                     assured: bool = False) -> PipelinedLock:
        """A request's kazoo lock; ``assured`` as for :meth:`node_lock`."""
        lock = PipelinedLock(self.client, f"{REQUEST_LOCKS}/{request_id}", identifier)
        lock.assured_path = assured
        return lock

    # Components (Nodepool 11's registry) ---------------------------------------------------

    def register(self, launcher: dict[str, Any], pools: list[dict[str, Any]]) -> list[str]:
        """(Re-)create our ephemeral component znodes: one launcher and one per pool.

        ``launcher`` and each of ``pools`` are added to Nodepool's component content
        (``hostname, state, kind, version, model_api``); pools carry ``id, name,
        provider_name, supported_labels, priority, paused``. Returns the znode paths.
        """
        for path in self._registrations:
            try:
                self.client.delete(path)
            except NoNodeError:
                pass
        hostname = socket.gethostname()
        base = {"hostname": hostname, "state": ComponentState.RUNNING.value,
                "version": None, "model_api": MODEL_API}
        transaction = self.client.transaction()
        transaction.create(f"{LAUNCHER_COMPONENTS}/{hostname}",
                           _component({**base, "kind": "launcher", **launcher}),
                           ephemeral=True, sequence=True)
        for pool in pools:
            content = {**base, "kind": "pool", "priority": 100, "paused": False, **pool}
            transaction.create(f"{POOL_COMPONENTS}/{hostname}", _component(content),
                               ephemeral=True, sequence=True)
        results = transaction.commit()
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise failed[0]
        self._registrations = [str(path) for path in results]
        return self._registrations

    def components(self, kind: str) -> list[dict[str, Any]]:
        """The content of every registered component of ``kind`` (``pool``, ``launcher``)."""
        root = f"{COMPONENTS}/{kind}"
        try:
            names = sorted(self.client.get_children(root))
        except NoNodeError:
            return []
        result = []
        for name in names:
            try:
                raw, _ = self.client.get(f"{root}/{name}")
                content = json.loads(raw)
            except (NoNodeError, ValueError):
                continue
            if isinstance(content, dict):
                result.append(content)
        return result

    def pools(self) -> list[dict[str, Any]]:
        """Every registered launcher pool, ours and real Nodepool's."""
        return self.components("pool")

    def launchers(self) -> list[dict[str, Any]]:
        """Every registered launcher component."""
        return self.components("launcher")

    def election_lock(self, name: str, identifier: str = "") -> Lock:
        """A lock launchers use so only one of them does a shared chore (min-ready, sync)."""
        return self.client.Lock(f"{ELECTIONS}/{name}", identifier)


def _component(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True).encode()


def label_summary(store: NodepoolStore) -> list[dict[str, Any]]:
    """Labels served by the registered launchers, with node counts and min-ready.

    Labels come from every registered pool's ``supported_labels`` (real Nodepool's too);
    ``min_ready`` from our launcher components' ``labels``. The nodes are read first: a
    launcher registers before it makes any node, so a node read implies its launcher's
    registration is there when read next (the other order could show a min-ready node
    without its launcher's ``min_ready``, when both were written between the two reads).
    """
    labels: dict[str, dict[str, Any]] = {}

    def entry_for(name: str) -> dict[str, Any]:
        return labels.setdefault(name, {"name": name, "min_ready": 0, "ready": 0,
                                        "in_use": 0, "total": 0, "launchers": []})

    nodes = store.nodes()
    for launcher in store.launchers():
        for label in launcher.get("labels") or []:
            entry = entry_for(label["name"])
            entry["min_ready"] = max(entry["min_ready"], label.get("min_ready", 0))
    for pool in store.pools():
        owner = pool.get("launcher") or pool.get("id") or ""
        for name in pool.get("supported_labels") or []:
            entry = entry_for(name)
            if owner not in entry["launchers"]:
                entry["launchers"].append(owner)
    for node in nodes:
        entry = entry_for(node.label)
        entry["total"] += 1
        if node.state == NodeState.READY and not node.allocated_to:
            entry["ready"] += 1
        elif node.state == NodeState.IN_USE:
            entry["in_use"] += 1
    return [labels[name] for name in sorted(labels)]
