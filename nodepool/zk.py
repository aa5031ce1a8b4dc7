"""Nodepool's data model in ZooKeeper (like Nodepool v3), shared by the launcher and Zuul.

Layout (all JSON):

- ``/nodepool/nodes/<id>``: :class:`NodeRecord`; ``<id>`` is a ZooKeeper sequence number.
  Its lock (kazoo ``Lock`` recipe) is ``/nodepool/nodes/<id>/lock``.
- ``/nodepool/requests/<priority>-<seq>``: :class:`RequestRecord`, an *ephemeral* sequence
  node owned by the requestor's session. Sorting the names gives priority, then FIFO order.
  Its lock is ``/nodepool/requests-lock/<id>``.
- ``/nodepool/launchers/<name>``: one ephemeral node per running launcher, with the labels it
  serves (so requests can be failed once every launcher declined them).

Every call here is synchronous kazoo; asyncio code runs it with ``asyncio.to_thread``.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.lock import Lock

ROOT = "/nodepool"
NODES = f"{ROOT}/nodes"
REQUESTS = f"{ROOT}/requests"
REQUEST_LOCKS = f"{ROOT}/requests-lock"
LAUNCHERS = f"{ROOT}/launchers"
ELECTIONS = f"{ROOT}/elections"

NODE_STATES = ("building", "ready", "in-use", "used", "deleting", "hold", "failed")
REQUEST_STATES = ("requested", "pending", "fulfilled", "failed")


class RecordGone(Exception):
    """The znode of a record disappeared, or changed under us (version mismatch)."""


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class NodeRecord:
    """One node: what the launcher built and what Zuul's executor connects to."""

    id: str = ""
    label: str = ""
    labels: list[str] = field(default_factory=list)  # every label (static multi-label hosts)
    provider: str = ""
    pool: str = ""
    state: str = "building"
    hostname: str = ""
    interface_ip: str = ""
    public_ipv4: str = ""
    private_ipv4: str = ""
    public_ipv6: str = ""
    connection_type: str = "local"
    connection_port: int = 22
    username: str | None = None
    launcher: str = ""
    allocated_to: str | None = None
    state_time: float = field(default_factory=time.time)
    created_time: float = field(default_factory=time.time)
    comment: str | None = None
    hold_job: str | None = None
    hold_expiration: float | None = None
    static_slot: str | None = None  # "<host>#<n>" for static nodes
    version: int = -1  # znode version this record was read at (not stored)

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("version")
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, node_id: str, raw: bytes, version: int) -> NodeRecord:
        record = _from_dict(cls, json.loads(raw))
        record.id, record.version = node_id, version
        return record

    def has_label(self, label: str) -> bool:
        return label == self.label or label in self.labels

    def public(self) -> dict[str, Any]:
        """The record as the API shows it."""
        data = asdict(self)
        data.pop("version")
        return data


@dataclass
class RequestRecord:
    """A node request: labels wanted by a requestor, and the nodes that fulfil it."""

    id: str = ""
    requestor: str = ""
    node_types: list[str] = field(default_factory=list)
    state: str = "requested"
    declined_by: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    build_uuid: str | None = None
    reason: str | None = None
    state_time: float = field(default_factory=time.time)
    created_time: float = field(default_factory=time.time)
    version: int = -1

    @property
    def priority(self) -> int:
        return int(self.id.split("-", 1)[0]) if "-" in self.id else 0

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("version")
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, request_id: str, raw: bytes, version: int) -> RequestRecord:
        record = _from_dict(cls, json.loads(raw))
        record.id, record.version = request_id, version
        return record

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("version")
        data["relative_priority"] = self.priority
        return data


class NodepoolStore:
    """Reads and writes Nodepool's records through one started :class:`KazooClient`."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client

    def ensure_paths(self) -> None:
        for path in (NODES, REQUESTS, REQUEST_LOCKS, LAUNCHERS, ELECTIONS):
            self.client.ensure_path(path)

    # Nodes --------------------------------------------------------------------------------

    def create_node(self, node: NodeRecord) -> NodeRecord:
        """Store a new node; its id is assigned by ZooKeeper's sequence counter."""
        node.state_time = time.time()
        path = self.client.create(f"{NODES}/", node.to_json(), sequence=True, makepath=True)
        node.id = path.rsplit("/", 1)[1]
        node.version = 0
        return node

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

    def update_node(self, node: NodeRecord, state_changed: bool = True) -> NodeRecord:
        """Write ``node`` if nobody changed it since it was read; else :class:`RecordGone`."""
        if state_changed:
            node.state_time = time.time()
        try:
            stat = self.client.set(f"{NODES}/{node.id}", node.to_json(), version=node.version)
        except (NoNodeError, BadVersionError) as exc:
            raise RecordGone(f"node {node.id}: {type(exc).__name__}") from None
        node.version = stat.version
        return node

    def delete_node(self, node_id: str) -> None:
        """Delete a node with its lock znodes in one transaction (recursively if it raced)."""
        path, lock_dir = f"{NODES}/{node_id}", f"{NODES}/{node_id}/lock"
        try:
            contenders: list[str] | None = self.client.get_children(lock_dir)
        except NoNodeError:
            contenders = None
        transaction = self.client.transaction()
        for name in contenders or ():
            transaction.delete(f"{lock_dir}/{name}")
        if contenders is not None:
            transaction.delete(lock_dir)
        transaction.delete(path)
        if not any(isinstance(r, Exception) for r in transaction.commit()):
            return
        try:
            self.client.delete(path, recursive=True)
        except NoNodeError:
            pass

    def remove_if_empty(self, node_id: str) -> None:
        """Delete ``/nodepool/nodes/<id>`` if it holds no record (a lock recreated its path)."""
        try:
            raw, _ = self.client.get(f"{NODES}/{node_id}")
            if not raw:
                self.client.delete(f"{NODES}/{node_id}", recursive=True)
        except NoNodeError:
            pass

    def node_lock(self, node_id: str, identifier: str = "") -> Lock:
        """The kazoo lock of one node (``/nodepool/nodes/<id>/lock``)."""
        return self.client.Lock(f"{NODES}/{node_id}/lock", identifier)

    def node_locked(self, node_id: str) -> bool:
        try:
            return bool(self.client.get_children(f"{NODES}/{node_id}/lock"))
        except NoNodeError:
            return False

    # Requests -----------------------------------------------------------------------------

    def submit_request(self, request: RequestRecord, priority: int) -> RequestRecord:
        """Write an ephemeral sequence request ``<priority>-<seq>`` owned by this session."""
        request.state = "requested"
        request.state_time = time.time()
        path = self.client.create(f"{REQUESTS}/{priority:03d}-", request.to_json(),
                                  ephemeral=True, sequence=True, makepath=True)
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
        return [r for r in (self.get_request(i) for i in self.request_ids()) if r is not None]

    def update_request(self, request: RequestRecord) -> RequestRecord:
        """Write ``request`` if nobody changed it since it was read; else RecordGone."""
        request.state_time = time.time()
        try:
            stat = self.client.set(f"{REQUESTS}/{request.id}", request.to_json(),
                                   version=request.version)
        except (NoNodeError, BadVersionError) as exc:
            raise RecordGone(f"request {request.id}: {type(exc).__name__}") from None
        request.version = stat.version
        return request

    def delete_request(self, request_id: str) -> None:
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

    def request_lock(self, request_id: str, identifier: str = "") -> Lock:
        return self.client.Lock(f"{REQUEST_LOCKS}/{request_id}", identifier)

    # Launchers ----------------------------------------------------------------------------

    def register_launcher(self, name: str, info: dict[str, Any]) -> None:
        """(Re-)create this launcher's ephemeral registration."""
        path = f"{LAUNCHERS}/{name}"
        data = json.dumps({"name": name, **info}).encode()
        try:
            self.client.create(path, data, ephemeral=True, makepath=True)
        except NodeExistsError:
            self.client.set(path, data)

    def launchers(self) -> list[dict[str, Any]]:
        result = []
        try:
            names = sorted(self.client.get_children(LAUNCHERS))
        except NoNodeError:
            return []
        for name in names:
            try:
                raw, _ = self.client.get(f"{LAUNCHERS}/{name}")
            except NoNodeError:
                continue
            result.append(json.loads(raw))
        return result

    def election_lock(self, name: str, identifier: str = "") -> Lock:
        """A lock launchers use so only one of them does a shared chore (min-ready, sync)."""
        return self.client.Lock(f"{ELECTIONS}/{name}", identifier)


def label_summary(store: NodepoolStore) -> list[dict[str, Any]]:
    """Labels served by the registered launchers, with node counts and min-ready."""
    labels: dict[str, dict[str, Any]] = {}
    for launcher in store.launchers():
        for label in launcher.get("labels", []):
            entry = labels.setdefault(label["name"], {
                "name": label["name"], "min_ready": 0, "ready": 0, "in_use": 0, "total": 0,
                "launchers": []})
            entry["min_ready"] = max(entry["min_ready"], label.get("min_ready", 0))
            entry["launchers"].append(launcher["name"])
    for node in store.nodes():
        entry = labels.setdefault(node.label, {
            "name": node.label, "min_ready": 0, "ready": 0, "in_use": 0, "total": 0,
            "launchers": []})
        entry["total"] += 1
        if node.state == "ready" and not node.allocated_to:
            entry["ready"] += 1
        elif node.state == "in-use":
            entry["in_use"] += 1
    return [labels[name] for name in sorted(labels)]
