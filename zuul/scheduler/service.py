"""The scheduler process: gearman, events, the scheduler core, builds and its aiohttp API."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gear
from aiohttp import web
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import KazooState

import zuul
from zuul.api.view import APIContext
from zuul.db.history import BuildHistory
from zuul.lib import gearman
from zuul.lib.auth import Authenticator
from zuul.lib.components import ComponentRegistration, list_components
from zuul.lib.web import (
    SnapshotCache,
    add_health_routes,
    json_response,
    make_app,
    public_base_url,
)
from zuul.scheduler import tenant_config
from zuul.scheduler.apiview import SchedulerAPIView
from zuul.scheduler.events import DeliveryStore, EventReceiver
from zuul.scheduler.gating import Gating
from zuul.scheduler.keys import KeyStore
from zuul.scheduler.launcher import BuildLauncher
from zuul.scheduler.remote import RemoteBuildLauncher
from zuul.scheduler.scheduler import Scheduler
from zuul.scheduler.shared_deliveries import SharedDeliveries
from zuul.scheduler.standby import ActiveLock, StateMirror, forward_writes
from zuul.scheduler.zkstate import PipelineStateStore

log = logging.getLogger(__name__)

STATE_CONNECT_TIMEOUT = 30.0
CAPABILITIES = {"job_history": True, "auth": {"read_protected": False}}


def _close_client(client: KazooClient) -> None:
    client.stop()
    client.close()


def _exit_on_failure(task: asyncio.Task[None]) -> None:
    """A scheduler that failed to become active stops (for its supervisor to restart it)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("Could not become the active scheduler", exc_info=task.exception())
        os.kill(os.getpid(), signal.SIGTERM)


class SchedulerService:
    """Owns the scheduler's long-lived connections and builds its web application."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.gear_server: gear.Server | None = None
        self.gear_client: gear.Client | None = None
        self.auth = Authenticator(conf["auth"]) if conf.get("auth") else None
        self.snapshots = SnapshotCache(max_age=1.0)
        self.nodes: Any = None
        self.state_client: KazooClient | None = None
        self.active_lock: ActiveLock | None = None
        self.receiver: EventReceiver | None = None
        self.store: DeliveryStore | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._mirror_task: asyncio.Task[None] | None = None
        self._activation: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._suspended = False  # active, but the session (and the lock) was lost
        self._resuming: asyncio.Task[None] | None = None
        self._background_tasks: set[asyncio.Task[Any]] = set()
        Path(conf["state_dir"]).mkdir(parents=True, exist_ok=True)
        self.history = BuildHistory(conf["database"]["url"])
        self.keys = KeyStore(Path(conf["state_dir"]) / "keys", self._keystore_password())
        self.scheduler = Scheduler(conf.get("tenant_config"), conf["connections"],
                                   self.history, log_url=self._log_url, keys=self.keys,
                                   gating=Gating(Path(conf["state_dir"])))
        self.components: list[ComponentRegistration] = []
        # Validate the tenant config before serving: a structural error exits 2 with one
        # line; a bad job or project stanza becomes a config error (config-errors route).
        tenant_config.load(conf.get("tenant_config"), list(conf["connections"]),
                           strict=False)

    def _keystore_password(self) -> str:
        configured = self.conf.get("keystore", {}).get("password")
        if configured:
            return str(configured)
        path = Path(self.conf["state_dir"]) / "keystore-password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def _log_url(self, uuid: str) -> str:
        template = self.conf["executor"]["log_url"]
        if template:
            return template.format(uuid=uuid)
        public = self.conf["api"]["public_url"]
        base = public if not public or public.endswith("/") else public + "/"
        return f"{base}logs/{uuid}/"

    async def _start_nodes(self) -> None:
        if not self.conf.get("zookeeper"):
            return
        from zuul.nodes import NodeRequester

        self.nodes = NodeRequester(self.conf["zookeeper"], "zuul-scheduler")
        await self.nodes.start()
        # The scheduler (and its in-process executor) appear in /api/components.
        kinds = ["scheduler"] if self.conf["executor"].get("external") else \
            ["scheduler", "executor"]
        self.components = [ComponentRegistration(self.nodes.client, kind) for kind in kinds]
        asyncio.get_running_loop().create_task(self._register_components())

    async def _register_components(self) -> None:
        """Register once ZooKeeper answers (the API serves meanwhile)."""
        try:
            for component in self.components:
                await asyncio.to_thread(component.register_when_connected)
        except Exception as exc:  # noqa: BLE001 - the service runs without registration
            log.warning("Could not register components: %s", exc)

    async def list_components(self) -> dict[str, list[dict[str, Any]]]:
        """``/api/components``: every registered service (from ZooKeeper)."""
        if self.nodes is None:
            return {}
        return await asyncio.to_thread(list_components, self.nodes.client)

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        from zuul.executor import Executor
        from zuul.executor.sandbox import JobSandbox

        self._loop = asyncio.get_running_loop()
        server_conf = self.conf.get("gearman_server")
        if server_conf and server_conf["start"]:
            self.gear_server = gearman.start_server(server_conf["listen"], server_conf["port"],
                                                    server_conf)
        self.gear_client = gearman.make_client(self.conf["gearman"], "zuul-scheduler")
        await self._start_nodes()
        executor_conf = self.conf["executor"]
        executor = Executor(Path(executor_conf["log_root"]), Path(executor_conf["work_root"]),
                            executor_conf["max_concurrent"],
                            sandbox=JobSandbox.from_conf(executor_conf.get("sandbox")))
        self.scheduler.launcher = BuildLauncher(executor, self.nodes, self.scheduler.hold_for)
        self.scheduler.load_layout()
        await self._connect_state()
        if executor_conf["external"]:
            assert self.state_client is not None  # config.load requires zookeeper
            self.scheduler.launcher = RemoteBuildLauncher(
                self.state_client, self.scheduler.find_hold, self.history.count_hold,
                self.scheduler.record_build, self._log_url, executor_conf["max_tries"])
        self.store = DeliveryStore(
            Path(self.conf["state_dir"]) / "deliveries.db",
            shared=SharedDeliveries(self.state_client) if self.state_client else None)
        if self.state_client is None:
            await self._activate()
        else:
            # Serve reads at once (mirrored from ZooKeeper) while waiting for the lock.
            self.active_lock = ActiveLock(self.state_client, self._internal_url())
            mirror = StateMirror(self.state_client, self.scheduler)
            self._mirror_task = asyncio.get_running_loop().create_task(mirror.run())
            self._activation = asyncio.get_running_loop().create_task(self._wait_for_lock())
            self._activation.add_done_callback(_exit_on_failure)
        try:
            yield
        finally:
            await self._deactivate()
            await self.scheduler.stop()
            for component in self.components:
                await asyncio.to_thread(component.unregister)
            if self.nodes is not None:
                await self.nodes.stop()
            if self.active_lock is not None:
                await self.active_lock.release()
            if self.state_client is not None:
                await asyncio.to_thread(_close_client, self.state_client)
            if self.store is not None:
                self.store.close()
            self.history.close()
            self.gear_client.shutdown()
            if self.gear_server is not None:
                self.gear_server.shutdown()

    def _internal_url(self) -> str:
        """Where the other schedulers reach this one's API (the lock identifier)."""
        api = self.conf["api"]
        host = api["listen"] if api["listen"] not in ("0.0.0.0", "::") \
            else socket.getfqdn()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{api['port']}"

    async def _wait_for_lock(self) -> None:
        assert self.active_lock is not None
        log.info("Standby: serving reads; waiting for the scheduler lock")
        await self.active_lock.acquire()
        log.info("Took the scheduler lock: this scheduler is active")
        if self._mirror_task is not None:
            self._mirror_task.cancel()
            await asyncio.gather(self._mirror_task, return_exceptions=True)
        await self._activate()

    @property
    def active(self) -> bool:
        """True when this scheduler processes the pipelines (holds the lock)."""
        return self._loop_task is not None

    async def _activate(self) -> None:
        """Become the scheduler that processes pipelines and takes events."""
        assert self.store is not None
        await self._restore_state()
        await self.scheduler.refresh_estimates()
        self._loop_task = asyncio.get_running_loop().create_task(self.scheduler.run())
        await self._take_events()

    async def _deactivate(self) -> None:
        for task in (self._activation, self._mirror_task, self._resuming):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.receiver is not None:
            await asyncio.to_thread(self.receiver.stop)
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None

    async def _connect_state(self) -> None:
        if not self.conf.get("zookeeper"):
            return
        from zuul.lib.zk import make_client

        self.state_client = make_client(self.conf["zookeeper"])
        await asyncio.to_thread(self.state_client.start, STATE_CONNECT_TIMEOUT)
        self.state_client.add_listener(self._on_session_state)

    def _on_session_state(self, state: str) -> None:
        """kazoo's session listener (its thread): an active scheduler whose session expired
        no longer holds the lock. It suspends at once, and when a new session is connected
        it takes the lock again and carries on (see :meth:`_session_back`)."""
        loop = self._loop
        if loop is None:
            return
        try:
            if state == KazooState.LOST and self.active and not self._suspended:
                self._suspended = True
                loop.call_soon_threadsafe(self._session_lost)
            elif state == KazooState.CONNECTED and self._suspended:
                loop.call_soon_threadsafe(self._spawn_session_back)
        except RuntimeError:  # the loop closed: stopping
            pass

    def _session_lost(self) -> None:
        """Stop processing and taking events: another scheduler may take the lock now."""
        log.error("ZooKeeper session lost while active: suspended (no pipeline processing, "
                  "no events) until a new session is connected")
        self.scheduler.suspend()
        if self.active_lock is not None:
            self.active_lock.held = False  # its znode went with the session
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            # Unanswered jobs fail at geard; the webhook workers submit them again.
            self._background(asyncio.to_thread(receiver.stop))

    def _spawn_session_back(self) -> None:
        if self._resuming is None or self._resuming.done():
            self._resuming = asyncio.get_running_loop().create_task(self._session_back())
            self._resuming.add_done_callback(_exit_on_failure)

    async def _session_back(self) -> None:
        """A new session: take the lock again (or, if another scheduler holds it, stop, for
        the supervisor to start this one as a standby), re-read the stored state, resume."""
        assert self.state_client is not None and self.store is not None
        lock = ActiveLock(self.state_client, self._internal_url())
        if not await lock.try_acquire():
            log.error("ZooKeeper session back, but another scheduler is active now: stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.active_lock = lock
        await self.scheduler.resume()
        self._suspended = False
        await self._take_events()
        log.info("ZooKeeper session back: holding the scheduler lock again; resumed")

    async def _take_events(self) -> None:
        """Start taking trigger events from gearman (the active scheduler only), once the
        delivery ids the schedulers published in ZooKeeper are in this one's window."""
        assert self.store is not None
        if self.store.shared is not None:
            try:
                published = await asyncio.to_thread(self.store.shared.load)
                added = await asyncio.to_thread(self.store.merge, published)
                log.info("Dedup window: %d delivery id(s) published in ZooKeeper, %d of them "
                         "new to this scheduler", len(published), added)
            except KazooException as exc:
                log.warning("Could not read the published delivery ids (%s); a redelivery "
                            "of an event another scheduler processed may be taken as new",
                            exc)
        self.receiver = EventReceiver(self.conf["gearman"], list(self.conf["connections"]),
                                      self.store, self.scheduler.match_event,
                                      asyncio.get_running_loop(),
                                      settle=self.scheduler.wait_persisted)
        self.receiver.start()

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    async def _restore_state(self) -> None:
        """With ZooKeeper configured, pipeline state lives there: load it, keep writing it."""
        if self.state_client is None:
            return
        store = PipelineStateStore(self.state_client)
        count = await self.scheduler.restore_state(store)
        log.info("Pipeline state: %d item(s) restored from ZooKeeper", count)

    async def handle_scheduler(self, _request: web.Request) -> web.Response:
        """``GET /api/scheduler``: whether this scheduler is active, and which one is."""
        return json_response({"url": self._internal_url(), "active": self.active,
                              "active_url": await self._active_url()})

    async def _active_url(self) -> str | None:
        return await self.active_lock.holder() if self.active_lock is not None else None

    async def reload(self) -> None:
        """Reload the tenant config (SIGHUP); queued items stay."""
        await self.scheduler.reconfigure()
        self.snapshots.invalidate()

    async def ready(self) -> tuple[bool, str]:
        """Ready when a gearman server answers and, if configured, ZooKeeper is connected."""
        zk = self.conf.get("zookeeper")
        if zk and (self.state_client is None or not self.state_client.connected):
            return False, f"ZooKeeper not connected ({', '.join(zk['hosts'])})"
        if self.gear_client is not None and await gearman.reachable(self.gear_client):
            return True, ""
        servers = ", ".join(self.conf["gearman"]["servers"])
        return False, f"gearman server not reachable ({servers})"

    def info(self, base_url: str, tenant: str | None = None) -> dict[str, Any]:
        """The body of ``GET /api/info``, shaped like Zuul's."""
        capabilities: dict[str, Any] = dict(CAPABILITIES)
        if self.auth is not None:
            capabilities = {**capabilities, "auth": {**capabilities["auth"],
                                                     **self.auth.info()}}
        return {
            "info": {
                "version": zuul.__version__,
                "rest_api_url": base_url,
                "capabilities": capabilities,
                "stats": {"url": None, "prefix": None, "type": "prometheus"},
                "websocket_url": None,
                "nodepool_url": self.conf["api"]["nodepool_url"],
                "tenant": tenant,
            }
        }

    def base_url(self, request: web.Request) -> str:
        """The public URL of this API for ``request``."""
        return public_base_url(request, self.conf["api"]["public_url"])

    def api_context(self) -> APIContext:
        """What the API routes may use of this service."""
        view = SchedulerAPIView(self.scheduler)
        connections = [{"name": name, "driver": "github",
                        "baseurl": conf.get("api_url"), "canonical_hostname": "github.com",
                        "server": "github.com"}
                       for name, conf in self.conf["connections"].items()]
        return APIContext(
            view=view, control=view, history=self.history, snapshots=self.snapshots,
            auth=lambda: self.auth, info=self.info, base_url=self.base_url,
            nodes=lambda: self.nodes, extra={"keys": self.keys, "connections": connections},
            components=self.list_components)

    def make_app(self) -> web.Application:
        """The aiohttp application serving the scheduler's API."""
        from zuul.api import add_routes

        app = make_app(middlewares=[forward_writes(lambda: self.active or
                                                   self.active_lock is None,
                                                   self._active_url)])
        app.cleanup_ctx.append(self._lifecycle)
        # Which scheduler is active (standby schedulers): not part of Zuul's API.
        app.router.add_get("/api/scheduler", self.handle_scheduler)
        add_routes(app, self.api_context())
        add_health_routes(app, self.ready)
        return app
