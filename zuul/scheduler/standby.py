"""Active and standby schedulers: one kazoo ``Lock`` decides which one processes pipelines.

Every scheduler with ZooKeeper contends for ``/zuul/scheduler/active`` with its own API URL
as the lock identifier. The holder is *active*: it restores the pipeline state, processes
pipelines and takes trigger events from gearman. The others are *standby*:

- :class:`StateMirror` re-reads the pipeline state from ZooKeeper every ``interval`` seconds
  into their (otherwise idle) managers, so their read API (status, ...) is the active one's;
- :func:`forward_writes` sends every other API request that changes something (POST, PUT,
  DELETE: admin actions) to the active scheduler's URL, read from the lock's contenders, and
  answers 503 with a JSON error while there is none.

When the active scheduler dies its ZooKeeper session expires and its lock znode goes; the
first standby in line takes the lock and becomes active (restoring from ZooKeeper, so what
it mirrored is what it processes). An active scheduler that only lost its session (a
ZooKeeper outage longer than the session timeout) suspends, and on a new session takes the
lock again if it is free (``ActiveLock.try_acquire``) and carries on; if a standby took
over meanwhile, it stops.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.recipe.lock import Lock

from zuul.lib.web import json_response
from zuul.scheduler import zkstate

if TYPE_CHECKING:
    from zuul.scheduler.scheduler import Scheduler

log = logging.getLogger(__name__)

LOCK_PATH = "/zuul/scheduler/active"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "content-length",
               "te", "upgrade", "proxy-authorization", "proxy-connection",
               "content-encoding"}
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ActiveLock:
    """The scheduler lock: acquired in a thread, holder's URL readable by anyone."""

    def __init__(self, client: KazooClient, identifier: str) -> None:
        self.identifier = identifier
        self.lock = Lock(client, LOCK_PATH, identifier=identifier)
        self.held = False

    async def acquire(self) -> None:
        """Wait (without blocking the loop) until this scheduler holds the lock."""
        await asyncio.to_thread(self.lock.acquire)
        self.held = True

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it (nor waits ahead of us); False otherwise."""
        if await asyncio.to_thread(self.lock.acquire, False):
            self.held = True
        return self.held

    async def holder(self) -> str | None:
        """The API URL of the active scheduler, if any."""
        try:
            contenders = await asyncio.to_thread(self.lock.contenders)
        except KazooException:
            return None
        return contenders[0] if contenders else None

    async def release(self) -> None:
        if self.held:
            self.held = False
            try:
                await asyncio.to_thread(self.lock.release)
            except KazooException:
                pass
        else:
            await asyncio.to_thread(self.lock.cancel)


class StateMirror:
    """Keeps a standby scheduler's managers equal to the pipeline state in ZooKeeper."""

    def __init__(self, client: KazooClient, scheduler: Scheduler,
                 interval: float = 0.5) -> None:
        self.store = zkstate.PipelineStateStore(client)
        self.scheduler = scheduler
        self.interval = interval

    def refresh(self, stored: dict[tuple[str, str], zkstate.RestoredPipeline]) -> None:
        scheduler = self.scheduler
        for (tenant, pipeline), restored in stored.items():
            manager = scheduler.managers.get(tenant, {}).get(pipeline)
            if manager is not None:
                zkstate.restore_queues(manager, restored, scheduler.tenants[tenant].jobs)
        for tenant, pipelines in scheduler.managers.items():
            for name, manager in pipelines.items():
                if (tenant, name) not in stored:
                    manager.queues = []
        scheduler.state_version += 1

    async def run(self) -> None:
        """Refresh forever (until canceled)."""
        while True:
            try:
                self.refresh(await asyncio.to_thread(self.store.load))
            except Exception as exc:  # noqa: BLE001 - keep serving the last view
                log.warning("Standby: cannot read the pipeline state: %s", exc)
            await asyncio.sleep(self.interval)


def forward_writes(is_active: Callable[[], bool],
                   active_url: Callable[[], Awaitable[str | None]]) -> Middleware:
    """Middleware of a standby: changing API requests go to the active scheduler."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in READ_METHODS or is_active() \
                or not request.path.startswith("/api/"):
            return await handler(request)
        target = await active_url()
        if target is None:
            return json_response({"error": "no active scheduler; try again shortly"},
                                 status=503, headers={"Retry-After": "2"})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Forwarded-By"] = "zuul-scheduler-standby"
        body = await request.read()
        try:
            async with aiohttp.ClientSession(timeout=FORWARD_TIMEOUT) as session, \
                    session.request(request.method, target + request.path_qs, data=body,
                                    headers=headers, allow_redirects=False) as response:
                payload = await response.read()
                return web.Response(status=response.status, body=payload, headers={
                    k: v for k, v in response.headers.items()
                    if k.lower() not in HOP_HEADERS})
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Standby: forwarding %s %s to %s failed: %s", request.method,
                        request.path, target, exc)
            return json_response({"error": "the active scheduler did not answer"},
                                 status=503, headers={"Retry-After": "2"})

    return middleware
