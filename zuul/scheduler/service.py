"""The scheduler process: gearman, events, the scheduler core, builds and its aiohttp API."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gear
from aiohttp import web
from kazoo.client import KazooClient

import zuul
from zuul.db.history import BuildHistory
from zuul.lib import gearman
from zuul.lib.auth import Authenticator
from zuul.lib.web import SnapshotCache, add_health_routes, json_response, make_app, public_base_url
from zuul.scheduler import tenant_config
from zuul.scheduler.events import DeliveryStore, EventReceiver
from zuul.scheduler.launcher import BuildLauncher
from zuul.scheduler.remote import RemoteBuildLauncher
from zuul.scheduler.scheduler import Scheduler
from zuul.scheduler.zkstate import PipelineStateStore

log = logging.getLogger(__name__)

STATE_CONNECT_TIMEOUT = 30.0
CAPABILITIES = {"job_history": True, "auth": {"read_protected": False}}


def _close_client(client: KazooClient) -> None:
    client.stop()
    client.close()


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
        Path(conf["state_dir"]).mkdir(parents=True, exist_ok=True)
        self.history = BuildHistory(conf["database"]["url"])
        self.scheduler = Scheduler(conf.get("tenant_config"), conf["connections"],
                                   self.history, log_url=self._log_url)
        # Validate the tenant config before serving: a bad one exits 2 with one line.
        tenant_config.load(conf.get("tenant_config"), list(conf["connections"]))

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

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        from zuul.executor import Executor

        server_conf = self.conf.get("gearman_server")
        if server_conf and server_conf["start"]:
            self.gear_server = gearman.start_server(server_conf["listen"], server_conf["port"])
        servers = self.conf["gearman"]["servers"]
        self.gear_client = gearman.make_client(servers, "zuul-scheduler")
        await self._start_nodes()
        executor_conf = self.conf["executor"]
        executor = Executor(Path(executor_conf["log_root"]), Path(executor_conf["work_root"]),
                            executor_conf["max_concurrent"])
        self.scheduler.launcher = BuildLauncher(executor, self.nodes, self.scheduler.hold_for)
        self.scheduler.load_layout()
        await self._connect_state()
        if executor_conf["external"]:
            assert self.state_client is not None  # config.load requires zookeeper
            self.scheduler.launcher = RemoteBuildLauncher(
                self.state_client, self.scheduler.find_hold, self.history.count_hold,
                self.scheduler.record_build, self._log_url, executor_conf["max_tries"])
        await self._restore_state()
        await self.scheduler.refresh_estimates()
        loop_task = asyncio.get_running_loop().create_task(self.scheduler.run())
        store = DeliveryStore(Path(self.conf["state_dir"]) / "deliveries.db")
        receiver = EventReceiver(servers, list(self.conf["connections"]), store,
                                 self.scheduler.handle_event, asyncio.get_running_loop())
        receiver.start()
        try:
            yield
        finally:
            await asyncio.to_thread(receiver.stop)
            store.close()
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)
            await self.scheduler.stop()
            if self.nodes is not None:
                await self.nodes.stop()
            if self.state_client is not None:
                await asyncio.to_thread(_close_client, self.state_client)
            self.history.close()
            self.gear_client.shutdown()
            if self.gear_server is not None:
                self.gear_server.shutdown()

    async def _connect_state(self) -> None:
        if not self.conf.get("zookeeper"):
            return
        from nodepool.launcher.zk import make_client

        self.state_client = make_client(self.conf["zookeeper"])
        await asyncio.to_thread(self.state_client.start, STATE_CONNECT_TIMEOUT)

    async def _restore_state(self) -> None:
        """With ZooKeeper configured, pipeline state lives there: load it, keep writing it."""
        if self.state_client is None:
            return
        store = PipelineStateStore(self.state_client)
        count = await self.scheduler.restore_state(store)
        log.info("Pipeline state: %d item(s) restored from ZooKeeper", count)

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

    async def handle_info(self, request: web.Request) -> web.Response:
        """``GET /api/info``."""
        return json_response(self.info(self.base_url(request)))

    def make_app(self) -> web.Application:
        """The aiohttp application serving the scheduler's API."""
        from zuul.api import add_routes

        app = make_app()
        app.cleanup_ctx.append(self._lifecycle)
        app.router.add_get("/api/info", self.handle_info)
        add_routes(app, self)
        add_health_routes(app, self.ready)
        return app
