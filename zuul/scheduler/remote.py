"""Builds on ``zuul-executor`` processes: the scheduler's side of zuul.executor.api.

:class:`RemoteBuildLauncher` has :class:`zuul.scheduler.launcher.BuildLauncher`'s interface.
For each build it writes a request, follows it with a kazoo ``DataWatch`` (handed to asyncio
with ``call_soon_threadsafe``), and once it is ``completed`` takes the result and deletes it.
Nodes are the executor's business (it requests, locks and returns them).

- A scheduler that stops or dies leaves the request alone: the executor keeps running the
  build, and the next scheduler, restoring the item from ZooKeeper, follows the same request
  (:meth:`run` attaches to an existing request) and picks up its result.
- A request ``running`` whose lock has no holder lost its executor: that try is recorded as
  ABORTED with the reason and the job is requested again under a new build uuid, up to
  ``max_tries``; then the build ends ERROR with a message saying so.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.recipe.lock import Lock

from zuul.executor.api import (
    BuildRequestRecord,
    BuildState,
    cancel_path,
    failover_retry,
    lock_path,
    request_path,
)
from zuul.scheduler import speculative
from zuul.scheduler.launcher import PRECEDENCE, zuul_vars
from zuul.scheduler.model import ABORTED, CANCELED, ERROR, Build, QueueItem

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
WAITING_FOR_EXECUTOR = "an executor"

HoldLookup = Callable[[str, QueueItem, Build], dict[str, Any] | None]
RecordTry = Callable[[str, QueueItem, Build], Awaitable[None]]


class ExecutorLost(Exception):
    """The executor running a build is gone."""


class RemoteBuildLauncher:
    """Runs builds through build requests in ZooKeeper."""

    resumes_builds = True

    def __init__(self, client: KazooClient, find_hold: HoldLookup, count_hold: Any,
                 record_try: RecordTry, log_url: Callable[[str], str | None],
                 max_tries: int = 3) -> None:
        self.client = client
        self.find_hold = find_hold
        self.count_hold = count_hold
        self.record_try = record_try
        self.log_url = log_url
        self.max_tries = max_tries

    def _params(self, tenant: str, item: QueueItem, build: Build, git_url: str,
                precedence: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        job = build.job
        return {"job": job.name, "playbook": str(job.playbook) if job.playbook else None,
                "nodeset": list(job.nodeset), "zuul_vars": zuul_vars(tenant, item, build),
                "timeout": job.timeout, "project_git_url": git_url or None,
                "ref": item.change.ref, "priority": PRECEDENCE.get(precedence, 200),
                "relative_priority": build.relative_priority,
                "autohold": self.find_hold(tenant, item, build),
                "merge": speculative.build_params(item, job),
                # Job vars and decrypted secrets (ZooKeeper is TLS with ACLs).
                "variables": variables or {}}

    async def run(self, tenant: str, item: QueueItem, build: Build, git_url: str,
                  precedence: str = "normal",
                  variables: dict[str, Any] | None = None) -> None:
        """Run ``build`` on an executor to its end (attaching to its request if it exists)."""
        for attempt in range(1, self.max_tries + 1):
            params = self._params(tenant, item, build, git_url, precedence, variables)
            try:
                result = await self._follow(build, params)
            except ExecutorLost as exc:
                lost = dataclasses.replace(
                    build, result=ABORTED, end_time=time.time(), task=None,
                    error=f"{exc} (try {attempt} of {self.max_tries})")
                lost.start_time = lost.start_time or lost.end_time
                log.warning("Build %s of %s: %s", build.uuid, item.change.id, lost.error)
                await self.record_try(tenant, item, lost)
                await asyncio.to_thread(self._delete, build.uuid)
                if attempt == self.max_tries:
                    build.result = ERROR
                    build.error = f"{exc}; gave up after {self.max_tries} tries"
                    build.end_time = time.time()
                    build.start_time = build.start_time or build.end_time
                    return
                build.uuid = uuidlib.uuid4().hex
                build.log_url = self.log_url(build.uuid)
                build.start_time, build.retry = None, True
                continue
            build.result = CANCELED if build.canceled and result["result"] == ABORTED \
                else result["result"]
            build.error = result.get("error")
            build.start_time = result.get("start_time") or build.start_time
            build.end_time = result.get("end_time") or time.time()
            if result.get("held") is not None:
                build.held = True
                await asyncio.to_thread(self.count_hold, result["held"], build.uuid)
            await asyncio.to_thread(self._delete, build.uuid)
            return

    async def _follow(self, build: Build, params: dict[str, Any]) -> dict[str, Any]:
        """Create (or find) the request of ``build`` and wait for its result."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        latest: list[BuildRequestRecord | None] = [None]
        gone = [False]
        uuid = build.uuid

        def on_data(data: bytes | None, stat: Any, _event: Any = None) -> bool | None:
            def update() -> None:
                if data is None:
                    gone[0] = True
                else:
                    latest[0] = BuildRequestRecord.from_json(data, stat.version)
                changed.set()
            try:
                loop.call_soon_threadsafe(update)
            except RuntimeError:  # loop closed
                return False
            return False if data is None else None

        await asyncio.to_thread(failover_retry(), self._ensure_request, uuid, params)
        await asyncio.to_thread(failover_retry(), self.client.DataWatch, request_path(uuid),
                                on_data)
        while True:
            try:
                await asyncio.wait_for(changed.wait(), CHECK_SECONDS)
            except TimeoutError:
                pass
            changed.clear()
            try:
                result = await self._check(build, uuid, latest[0], gone[0])
            except KazooException as exc:  # ZooKeeper failing over: look again shortly
                log.info("Build %s: ZooKeeper %s; retrying", uuid, type(exc).__name__)
                continue
            if result is not None:
                return result

    async def _check(self, build: Build, uuid: str, record: BuildRequestRecord | None,
                     gone: bool) -> dict[str, Any] | None:
        """One look at the request: its result when it is done, else None."""
        if gone:
            raise ExecutorLost(f"build request {uuid} disappeared")
        if record is None:
            return None
        if record.state == BuildState.COMPLETED.value and record.result is not None:
            return record.result
        if record.state == BuildState.REQUESTED.value:
            build.waiting = WAITING_FOR_EXECUTOR
            if build.canceled and await asyncio.to_thread(self._withdraw, uuid):
                return {"result": CANCELED, "error": "canceled before it started"}
            return None
        build.waiting = record.waiting
        if record.start_time is not None:
            build.start_time = record.start_time
        if not await asyncio.to_thread(self._locked, uuid):
            # The lock goes after "completed" is written: read once more to be sure.
            current = await asyncio.to_thread(self._read, uuid)
            if current is not None and current.state == BuildState.COMPLETED.value \
                    and current.result is not None:
                return current.result
            raise ExecutorLost(f"executor {record.worker} running the build is gone")
        return None

    # ZooKeeper (blocking; called in threads) ------------------------------------------------

    def _ensure_request(self, uuid: str, params: dict[str, Any]) -> None:
        record = BuildRequestRecord(uuid=uuid, params=params, created=time.time())
        try:
            self.client.create(request_path(uuid), record.to_json(), makepath=True)
        except NodeExistsError:
            log.info("Build %s: following its existing request", uuid)

    def _read(self, uuid: str) -> BuildRequestRecord | None:
        try:
            data, stat = self.client.get(request_path(uuid))
        except NoNodeError:
            return None
        return BuildRequestRecord.from_json(data, stat.version)

    def _locked(self, uuid: str) -> bool:
        try:
            return bool(Lock(self.client, lock_path(uuid)).contenders())
        except NoNodeError:
            return False

    def _withdraw(self, uuid: str) -> bool:
        """Delete a request no executor took yet; False if one took it meanwhile."""
        lock = Lock(self.client, lock_path(uuid), identifier="scheduler")
        if not lock.acquire(blocking=False):
            return False
        try:
            record = self._read(uuid)
            if record is None or record.state != BuildState.REQUESTED.value:
                return False
            self.client.delete(request_path(uuid), recursive=True)
            return True
        finally:
            lock.release()
            self._delete_lock(uuid)

    def _delete(self, uuid: str) -> None:
        try:
            self.client.delete(request_path(uuid), recursive=True)
        except NoNodeError:
            pass
        except KazooException as exc:
            log.warning("Could not delete build request %s: %s", uuid, exc)
        self._delete_lock(uuid)

    def _delete_lock(self, uuid: str) -> None:
        try:
            if not self.client.get_children(lock_path(uuid)):
                self.client.delete(lock_path(uuid))
        except (NoNodeError, KazooException):
            pass

    async def cancel(self, build: Build) -> None:
        """Ask the executor to abort ``build`` (or withdraw it if none took it yet)."""
        build.canceled = True
        try:
            await asyncio.to_thread(self.client.create, cancel_path(build.uuid), b"")
        except (NodeExistsError, NoNodeError):
            pass
        except KazooException as exc:
            log.warning("Could not cancel build %s: %s", build.uuid, exc)

    async def kill_leftovers(self, builds: list[Build]) -> None:
        """Nothing to do here: an executor ends what it leaves behind."""
        del builds

    async def abandon(self, build: Build) -> None:
        """Nothing to do here: a remote build is followed, not abandoned."""
        del build
