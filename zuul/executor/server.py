"""``zuul-executor``: takes build requests from ZooKeeper and runs them (zuul.executor.api).

For each request it wins the lock of, the executor

1. requests nodes from Nodepool over its *own* ZooKeeper session and locks them, so the
   nodes stay locked for as long as this process (and so the build) lives, whatever happens
   to the scheduler;
2. runs the playbook with :class:`zuul.executor.Executor` (same log directory contract);
3. returns the nodes (``used``, or ``hold`` for a matching autohold) only after the build's
   process group is gone, then writes the result into the request and releases its lock.

A cancel znode under the request aborts the build. On start, every work dir left in
``work_root`` belongs to a build this executor ran before it died: its leftover processes are
killed and its ``build.json`` is written (ABORTED) before anything else runs.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError
from kazoo.recipe.lock import Lock

from zuul.executor.api import (
    LOCKS,
    REQUESTS,
    BuildRequestRecord,
    BuildState,
    cancel_path,
    failover_retry,
    lock_path,
    request_path,
)
from zuul.executor.cleanup import end_lost_build
from zuul.executor.executor import Executor
from zuul.executor.model import ABORTED, SUCCESS, BuildRequest
from zuul.executor.sandbox import JobSandbox
from zuul.lib.web import add_health_routes, make_app

log = logging.getLogger(__name__)

LOCAL_NODE = {"name": "node", "label": "", "host": "localhost", "connection": "local",
              "port": 22, "username": None}
SWEEP_SECONDS = 1.0
NODE_FAILURE = "NODE_FAILURE"
CANCELED = "CANCELED"


def node_dicts(nodeset: Any) -> list[dict[str, Any]]:
    """The executor's node list for a Nodepool NodeSet."""
    return [{"name": f"node{i}" if len(nodeset.nodes) > 1 else "node", "label": n.label,
             "host": n.host, "connection": n.connection_type, "port": n.connection_port,
             "username": n.username} for i, n in enumerate(nodeset.nodes)]


class ExecutorServer:
    """One ``zuul-executor`` process: build requests in, results out."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        econf = conf["executor"]
        self.name = econf["name"]
        self.max_concurrent = econf["max_concurrent"]
        self.executor = Executor(Path(econf["log_root"]), Path(econf["work_root"]),
                                 econf["max_concurrent"],
                                 sandbox=JobSandbox.from_conf(econf.get("sandbox")))
        self.client: KazooClient | None = None
        self.nodes: Any = None
        self.running: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # Lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        from zuul.lib.zk import make_client
        from zuul.nodes import NodeRequester

        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._end_leftovers)
        self.client = make_client(self.conf["zookeeper"])
        await asyncio.to_thread(self.client.start, 30)
        await asyncio.to_thread(self.client.ensure_path, REQUESTS)
        await asyncio.to_thread(self.client.ensure_path, LOCKS)
        self.nodes = NodeRequester(self.conf["zookeeper"], f"zuul-executor:{self.name}")
        await self.nodes.start()
        self.client.ChildrenWatch(REQUESTS, self._on_children)
        # Appear in the component registry (GET /api/components).
        from zuul.lib.components import ComponentRegistration
        self.component = ComponentRegistration(self.client, "executor")
        await asyncio.to_thread(self.component.register)

    def _end_leftovers(self) -> None:
        work_root = self.executor.work_root
        if not work_root.is_dir():
            return
        for work_dir in sorted(work_root.iterdir()):
            log.warning("Build %s: left over from a previous run of this executor; ending it",
                        work_dir.name)
            end_lost_build(self.executor.log_root, work_root, work_dir.name, "", ABORTED,
                           "the executor stopped while the build ran", None)

    async def stop(self) -> None:
        """Abort running builds (their requests go back to the schedulers as lost)."""
        self._stopping = True
        for uuid in list(self.running):
            await self.executor.abort(uuid)
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        if self.nodes is not None:
            await self.nodes.stop()
        if self.client is not None:
            component = getattr(self, "component", None)
            if component is not None:
                await asyncio.to_thread(component.unregister)
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        assert self.client is not None
        self.client.stop()
        self.client.close()

    def _on_children(self, _children: list[str]) -> bool | None:
        if self._stopping or self._loop is None:
            return False
        self._loop.call_soon_threadsafe(self._wake.set)
        return None

    async def run(self) -> None:
        """Take requests whenever they appear (and every second), forever."""
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), SWEEP_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            if len(self.running) >= self.max_concurrent:
                continue
            try:
                await asyncio.to_thread(self._take_requests)
            except KazooException as exc:
                log.warning("Cannot read build requests: %s", type(exc).__name__)

    # Taking requests ----------------------------------------------------------------------

    def _take_requests(self) -> None:
        assert self.client is not None and self._loop is not None
        children = sorted(self.client.get_children(REQUESTS))
        for uuid in children:
            if len(self.running) >= self.max_concurrent or self._stopping:
                return
            if uuid in self.running:
                continue
            record = self._read(uuid)
            if record is None or record.state != BuildState.REQUESTED.value:
                continue
            lock = Lock(self.client, lock_path(uuid), identifier=self.name)
            if not lock.acquire(blocking=False):
                continue
            record = self._read(uuid)
            if record is None or record.state != BuildState.REQUESTED.value:
                lock.release()
                continue
            record.state = BuildState.RUNNING.value
            record.worker = self.name
            try:
                self._write(record)
            except (BadVersionError, NoNodeError):
                lock.release()
                continue
            self._locks[uuid] = lock
            log.info("Build %s: taken (job %s)", uuid, record.params.get("job"))
            future = asyncio.run_coroutine_threadsafe(self._start_build(record), self._loop)
            future.result(10)

    async def _start_build(self, record: BuildRequestRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._build(record))
        self.running[record.uuid] = task
        task.add_done_callback(lambda _t: self.running.pop(record.uuid, None))

    def _read(self, uuid: str) -> BuildRequestRecord | None:
        assert self.client is not None
        try:
            data, stat = self.client.get(request_path(uuid))
        except NoNodeError:
            return None
        return BuildRequestRecord.from_json(data, stat.version)

    def _write(self, record: BuildRequestRecord) -> None:
        assert self.client is not None
        stat = self.client.set(request_path(record.uuid), record.to_json(), record.version)
        record.version = stat.version

    async def _update(self, record: BuildRequestRecord, **changes: Any) -> None:
        """Change fields of our (locked) request; we are its only writer now."""
        for key, value in changes.items():
            setattr(record, key, value)

        def write() -> None:
            assert self.client is not None
            try:
                self._write(record)
            except BadVersionError:
                current = self._read(record.uuid)
                if current is None:
                    return
                record.version = current.version
                self._write(record)
            except NoNodeError:
                pass
        try:
            await asyncio.to_thread(failover_retry(), write)
        except KazooException as exc:
            log.warning("Build %s: could not update its request: %s", record.uuid, exc)

    # Running one build ---------------------------------------------------------------------

    def _watch_cancel(self, uuid: str) -> None:
        assert self.client is not None and self._loop is not None
        loop = self._loop

        def on_exists(stat: Any) -> bool | None:
            if stat is not None:
                asyncio.run_coroutine_threadsafe(self._cancel(uuid), loop)
                return False
            return None if uuid in self.running else False
        self.client.DataWatch(cancel_path(uuid), lambda _d, stat, _e=None: on_exists(stat))

    async def _cancel(self, uuid: str) -> None:
        log.info("Build %s: canceled by the scheduler", uuid)
        task = self.running.get(uuid)
        if not await self.executor.abort(uuid) and task is not None:
            task.cancel()

    async def _build(self, record: BuildRequestRecord) -> None:
        params = record.params
        result: dict[str, Any] = {"result": None, "error": None, "start_time": None,
                                  "end_time": None, "held": None}
        nodeset = None
        await asyncio.to_thread(self._watch_cancel, record.uuid)
        try:
            if params.get("nodeset"):
                await self._update(record, waiting="node request for "
                                   + ", ".join(params["nodeset"]))
                nodeset = await self.nodes.request(
                    params["nodeset"], record.uuid, priority=params.get("priority", 200),
                    relative_priority=params.get("relative_priority", 0),
                    tenant_name=(params.get("zuul_vars") or {}).get("tenant"))
            now = time.time()
            result["start_time"] = now
            await self._update(record, waiting=None, start_time=now)
            if params.get("playbook") is None:
                result["result"] = SUCCESS
            else:
                request = BuildRequest(
                    uuid=record.uuid, job=params["job"], playbook=Path(params["playbook"]),
                    nodes=node_dicts(nodeset) if nodeset is not None else [dict(LOCAL_NODE)],
                    zuul_vars=params.get("zuul_vars") or {}, timeout=params["timeout"],
                    project_git_url=params.get("project_git_url"), ref=params.get("ref"),
                    merge=params.get("merge"),
                    variables=params.get("variables") or {})
                outcome = await self.executor.run(request)
                result.update(result=outcome.result, error=outcome.error,
                              start_time=outcome.start_time)
        except asyncio.CancelledError:
            result.update(result=CANCELED, error="canceled while waiting for nodes")
        except Exception as exc:  # noqa: BLE001 - NodeRequestFailed and anything else
            failed = type(exc).__name__ == "NodeRequestFailed"
            result.update(result=NODE_FAILURE if failed else "ERROR",
                          error=str(exc) or type(exc).__name__)
            if not failed:
                log.exception("Build %s failed", record.uuid)
        finally:
            result["end_time"] = time.time()
            result["start_time"] = result["start_time"] or result["end_time"]
            if nodeset is not None:
                hold = params.get("autohold") if result["result"] not in (
                    SUCCESS, CANCELED, ABORTED) else None
                if hold is not None:
                    result["held"] = hold.get("id")
                await self._release(nodeset, hold)
        if self._stopping and result["result"] == ABORTED:
            # Leaving: the schedulers see the lock go and run the build elsewhere.
            log.info("Build %s: aborted by the executor stopping", record.uuid)
        else:
            await self._update(record, state=BuildState.COMPLETED.value, result=result,
                               waiting=None)
            log.info("Build %s: %s", record.uuid, result["result"])
        lock = self._locks.pop(record.uuid, None)
        if lock is not None:
            await asyncio.to_thread(_release_lock, lock)

    async def _release(self, nodeset: Any, hold: dict[str, Any] | None) -> None:
        try:
            await self.nodes.release(nodeset, hold=hold)
        except Exception:  # noqa: BLE001 - a node left locked is Nodepool's to clean up
            log.exception("Could not release nodeset %s", getattr(nodeset, "request_id", "?"))

    async def ready(self) -> tuple[bool, str]:
        if self.client is None or not self.client.connected:
            return False, "ZooKeeper not connected"
        return True, ""

    # Web app -------------------------------------------------------------------------------

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        await self.start()
        task = asyncio.get_running_loop().create_task(self.run())
        try:
            yield
        finally:
            await self.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def handle_status(self, _request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "pid": os.getpid(),
                                  "running": sorted(self.running),
                                  "max_concurrent": self.max_concurrent})

    def make_app(self) -> web.Application:
        app = make_app()
        app.cleanup_ctx.append(self._lifecycle)
        app.router.add_get("/api/executor", self.handle_status)
        add_health_routes(app, self.ready)
        return app


def _release_lock(lock: Lock) -> None:
    try:
        lock.release()
    except KazooException as exc:
        log.warning("Could not release a build lock: %s", exc)


__all__ = ["ExecutorServer", "NodeExistsError"]
