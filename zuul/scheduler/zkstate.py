"""Pipeline state in ZooKeeper: the scheduler's in-memory queues are a cache of it.

Layout (under the configured chroot; documented in doc/internals.rst)::

    /zuul/pipelines/<tenant>/<pipeline>               {"queues": [{"name", "window",
                                                                    "items": [<item uuid>...]}]}
    /zuul/pipelines/<tenant>/<pipeline>/items/<uuid>  one queue item with its builds (JSON)

An item whose final report is still to be sent stays under ``items/`` with ``"final":
"success"|"failure"`` but is no longer listed in a queue; it is deleted once reported, so a
crash between the end of an item and its report re-sends the report (at most one extra).

The scheduler calls :meth:`PipelineStateStore.flush` after each processing pass with a
:func:`snapshot` of its managers. Items track their own changes (``state_dirty``, set by
:class:`~zuul.scheduler.model.QueueItem` and its builds whenever a field changes): only
dirty items are serialised again, the others keep their cached bytes. Only the znodes whose
bytes changed since the last successful flush are written, all in kazoo transactions
(chunked below ZooKeeper's 1 MB request limit), in a worker thread so the event loop never
blocks on ZooKeeper. If a flush fails (ZooKeeper unreachable) nothing is marked written, so
the next flush retries the whole difference.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import prometheus_client
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from zuul.merger.model import MergeOutcome, MergeSpec
from zuul.scheduler.model import Build, Change, ChangeQueue, Job, MergeState, QueueItem

if TYPE_CHECKING:
    from zuul.scheduler.manager import PipelineManager

log = logging.getLogger(__name__)

ROOT = "/zuul/pipelines"
MAX_TRANSACTION_BYTES = 512 * 1024  # well below ZooKeeper's default jute.maxbuffer (1 MB)
ZNODE_WRITES = prometheus_client.Counter(
    "zuul_state_znode_writes", "Pipeline state znodes created, changed or deleted")
TRANSACTIONS = prometheus_client.Counter(
    "zuul_state_transactions", "ZooKeeper transactions writing pipeline state")
BUILD_FIELDS = ("uuid", "result", "start_time", "end_time", "canceled", "retry", "error",
                "log_url", "held", "buildset_uuid", "waiting")


def pipeline_path(tenant: str, pipeline: str) -> str:
    return f"{ROOT}/{tenant}/{pipeline}"


def item_path(tenant: str, pipeline: str, uuid: str) -> str:
    return f"{ROOT}/{tenant}/{pipeline}/items/{uuid}"


def _dump(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def build_to_dict(build: Build) -> dict[str, Any]:
    """A build as stored in its item's znode (its job by name)."""
    data = {name: getattr(build, name) for name in BUILD_FIELDS if hasattr(build, name)}
    data["job"] = build.job.name
    return data


def item_to_dict(item: QueueItem, final: str | None = None) -> dict[str, Any]:
    """An item as stored in ZooKeeper."""
    return {
        "uuid": item.uuid,
        "change": {f.name: getattr(item.change, f.name)
                   for f in dataclasses.fields(item.change)},
        "pipeline": item.pipeline, "jobs": [job.name for job in item.jobs],
        "event_id": item.event_id, "enqueue_time": item.enqueue_time, "live": item.live,
        "active": item.active, "base": item.base.uuid if item.base is not None else None,
        "base_set": item.base_set, "buildset_uuid": item.buildset_uuid,
        "reported_start": item.reported_start,
        "builds": {name: build_to_dict(build) for name, build in item.builds.items()},
        "final": final,
        # Gating (doc/gating.rst): what it depends on, why it failed, whether it merged.
        "needs": [dataclasses.asdict(change) for change in item.needs],
        "error": item.error, "merged": item.merged,
        "future_state": _future_state_to_dict(item),
    }


def _future_state_to_dict(item: QueueItem) -> dict[str, Any] | None:
    """The item's prepared future state (spec and outcome), so a restarted scheduler keeps
    saying - and building - what its running builds check out."""
    if item.merge_state is not MergeState.READY or item.merge_spec is None \
            or item.merge_outcome is None:
        return None
    return {"spec": item.merge_spec.to_dict(), "outcome": item.merge_outcome.to_dict()}


def _future_state_from_dict(item: QueueItem, data: dict[str, Any] | None) -> None:
    if not data:
        return
    item.merge_spec = MergeSpec.from_dict(data["spec"])
    item.merge_outcome = MergeOutcome(commits=dict(data["outcome"]["commits"]),
                                      repo_state=dict(data["outcome"]["repo_state"]))
    item.merge_state = MergeState.READY


def item_from_dict(data: dict[str, Any], jobs: dict[str, Job]) -> QueueItem:
    """Rebuild an item (without its base link) from its znode, with ``jobs`` of the layout.

    Jobs that are no longer in the layout are dropped, with their builds.
    """
    item_jobs = [jobs[name] for name in data["jobs"] if name in jobs]
    item = QueueItem(change=Change(**data["change"]), pipeline=data["pipeline"],
                     jobs=item_jobs, event_id=data.get("event_id", ""),
                     enqueue_time=data["enqueue_time"], live=data.get("live", True),
                     active=data.get("active", False), base_set=data.get("base_set", False),
                     buildset_uuid=data["buildset_uuid"],
                     reported_start=data.get("reported_start", False), uuid=data["uuid"],
                     needs=[Change(**c) for c in data.get("needs", [])],
                     error=data.get("error"), merged=data.get("merged"))
    _future_state_from_dict(item, data.get("future_state"))
    for name, stored in data.get("builds", {}).items():
        if name not in jobs:
            continue
        values = {k: stored[k] for k in BUILD_FIELDS if k in stored}
        build = Build(job=jobs[name], **{k: v for k, v in values.items()
                                         if k in {f.name for f in dataclasses.fields(Build)}})
        item.builds[name] = build
    return item


@dataclass
class PendingReport:
    """An item whose final report is not sent yet."""

    tenant: str
    pipeline: str
    item: QueueItem
    action: str


@dataclass
class RestoredPipeline:
    """What :meth:`PipelineStateStore.load` found for one pipeline."""

    queues: list[tuple[str, int, list[dict[str, Any]]]] = field(default_factory=list)
    finals: list[dict[str, Any]] = field(default_factory=list)


def snapshot(managers: dict[str, dict[str, PipelineManager]],
             finals: Iterable[PendingReport]) -> dict[str, bytes]:
    """Every znode the pipeline state consists of, as ``{path: bytes}``."""
    nodes: dict[str, bytes] = {}
    for tenant, pipelines in managers.items():
        for name, manager in pipelines.items():
            queues = []
            for queue in manager.queues:
                queues.append({"name": queue.name, "window": queue.window,
                               "items": [item.uuid for item in queue.items]})
                for item in queue.items:
                    nodes[item_path(tenant, name, item.uuid)] = item_bytes(item)
            nodes[pipeline_path(tenant, name)] = _dump({"queues": queues})
    for report in finals:
        nodes[item_path(report.tenant, report.pipeline, report.item.uuid)] = item_bytes(
            report.item, report.action)
    return nodes


def item_bytes(item: QueueItem, final: str | None = None) -> bytes:
    """``item`` as stored, serialised again only if it changed since the last time."""
    cached = item.__dict__.get("state_bytes")
    if cached is not None and cached[0] == final and not item.__dict__.get("state_dirty"):
        return cached[1]
    data = _dump(item_to_dict(item, final))
    object.__setattr__(item, "state_bytes", (final, data))
    object.__setattr__(item, "state_dirty", False)
    return data


class PipelineStateStore:
    """Writes pipeline snapshots to ZooKeeper as differences; reads them back at start."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.written: dict[str, bytes] = {}
        self.writes = 0  # znodes created, changed or deleted
        self.transactions = 0
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    # Reading -----------------------------------------------------------------------------

    def load(self) -> dict[tuple[str, str], RestoredPipeline]:
        """Read every stored pipeline (blocking; call in a thread) and remember it as written."""
        found: dict[tuple[str, str], RestoredPipeline] = {}
        written: dict[str, bytes] = {}
        for tenant in self._children(ROOT):
            for pipeline in self._children(f"{ROOT}/{tenant}"):
                path = pipeline_path(tenant, pipeline)
                raw = self._get(path)
                if raw is None:
                    continue
                written[path] = raw
                items: dict[str, dict[str, Any]] = {}
                for uuid in self._children(f"{path}/items"):
                    data = self._get(item_path(tenant, pipeline, uuid))
                    if data is not None:
                        written[item_path(tenant, pipeline, uuid)] = data
                        items[uuid] = json.loads(data)
                restored = RestoredPipeline()
                listed: set[str] = set()
                for queue in json.loads(raw).get("queues", []):
                    queue_items = [items[u] for u in queue["items"] if u in items]
                    listed.update(queue["items"])
                    restored.queues.append((queue["name"], queue["window"], queue_items))
                restored.finals = sorted(
                    (d for u, d in items.items() if u not in listed and d.get("final")),
                    key=lambda d: d["enqueue_time"])
                for uuid, item in items.items():
                    if uuid not in listed and not item.get("final"):
                        log.warning("Dropping unlisted item %s of %s/%s", uuid, tenant,
                                    pipeline)
                found[(tenant, pipeline)] = restored
        self.written = written
        return found

    async def resync(self) -> None:
        """Forget what was written and read what ZooKeeper holds now (after a lost session:
        a flush in flight may or may not have landed); the next flush writes the difference."""
        async with self._lock:
            await asyncio.to_thread(self.load)

    def _children(self, path: str) -> list[str]:
        try:
            return sorted(self.client.get_children(path))
        except NoNodeError:
            return []

    def _get(self, path: str) -> bytes | None:
        try:
            data, _stat = self.client.get(path)
        except NoNodeError:
            return None
        return bytes(data)

    # Writing -----------------------------------------------------------------------------

    async def flush(self, nodes: dict[str, bytes]) -> int:
        """Make ZooKeeper hold exactly ``nodes``; return how many znodes were written.

        Raises a :class:`KazooException` when ZooKeeper cannot be written; nothing is then
        counted as written, so the next flush retries.
        """
        async with self._lock:
            creates = [(p, d) for p, d in nodes.items() if p not in self.written]
            updates = [(p, d) for p, d in nodes.items()
                       if p in self.written and self.written[p] != d]
            deletes = [p for p in self.written if p not in nodes]
            if not (creates or updates or deletes):
                return 0
            await asyncio.to_thread(self._commit, creates, updates, deletes)
            for path, data in creates + updates:
                self.written[path] = data
            for path in deletes:
                self.written.pop(path, None)
            changed = len(creates) + len(updates) + len(deletes)
            self.writes += changed
            ZNODE_WRITES.inc(changed)
            return changed

    def _commit(self, creates: list[tuple[str, bytes]], updates: list[tuple[str, bytes]],
                deletes: list[str]) -> None:
        with self._thread_lock:
            for parent in sorted({p.rsplit("/", 1)[0] for p, _ in creates}):
                if parent not in self.written:
                    self.client.ensure_path(parent)
            # Pipelines (parents) are created before their items, items deleted before them.
            ops: list[tuple[str, str, bytes | None]] = []
            ops += [("create", p, d) for p, d in sorted(creates, key=lambda c: c[0].count("/"))]
            ops += [("set", p, d) for p, d in updates]
            ops += [("delete", p, None) for p in sorted(deletes, key=lambda p: -p.count("/"))]
            batch: list[tuple[str, str, bytes | None]] = []
            size = 0
            for op in ops:
                length = len(op[1]) + len(op[2] or b"") + 64
                if batch and size + length > MAX_TRANSACTION_BYTES:
                    self._transaction(batch)
                    batch, size = [], 0
                batch.append(op)
                size += length
            if batch:
                self._transaction(batch)

    def _transaction(self, ops: list[tuple[str, str, bytes | None]]) -> None:
        transaction = self.client.transaction()
        for kind, path, data in ops:
            if kind == "create":
                transaction.create(path, data or b"")
            elif kind == "set":
                transaction.set_data(path, data or b"")
            else:
                transaction.delete(path)
        results = transaction.commit()
        self.transactions += 1
        TRANSACTIONS.inc()
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            # Someone else (an earlier scheduler's half-finished flush) left the tree
            # different from what we believe: write op by op, tolerating what is there.
            log.warning("State transaction failed (%s); writing one by one",
                        type(failed[0]).__name__)
            for kind, path, data in ops:
                self._write_one(kind, path, data)

    def _write_one(self, kind: str, path: str, data: bytes | None) -> None:
        if kind == "delete":
            try:
                self.client.delete(path, recursive=True)
            except NoNodeError:
                pass
            return
        try:
            self.client.create(path, data or b"", makepath=True)
        except NodeExistsError:
            self.client.set(path, data or b"")


def restore_queues(manager: PipelineManager, stored: RestoredPipeline,
                   jobs: dict[str, Job]) -> list[QueueItem]:
    """Put the stored queues back into ``manager``; return every restored item."""
    by_uuid: dict[str, QueueItem] = {}
    bases: dict[str, str | None] = {}
    manager.queues = []
    for name, window, items in stored.queues:
        queue = ChangeQueue(name=name, window=window)
        for data in items:
            item = item_from_dict(data, jobs)
            by_uuid[item.uuid] = item
            bases[item.uuid] = data.get("base")
            queue.items.append(item)
        if queue.items:
            manager.queues.append(queue)
    for uuid, base in bases.items():
        by_uuid[uuid].base = by_uuid.get(base) if base else None
    return list(by_uuid.values())


__all__ = ["KazooException", "PendingReport", "PipelineStateStore", "RestoredPipeline",
           "item_from_dict", "item_to_dict", "restore_queues", "snapshot"]
