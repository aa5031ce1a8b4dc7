"""The launcher process: its ZooKeeper session and its in-process aiohttp API."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from kazoo.client import KazooClient

import nodepool
from nodepool.api import add_api_routes
from nodepool.launcher.worker import LauncherWorker
from nodepool.zk import NodepoolStore
from zuul.lib.auth import Authenticator
from zuul.lib.components import ComponentRegistration
from zuul.lib.web import add_health_routes, json_response, make_app, public_base_url
from zuul.lib.zk import make_client

log = logging.getLogger(__name__)


class LauncherService:
    """Owns the launcher's ZooKeeper client and builds its web application."""

    def __init__(self, conf: dict[str, Any], source: str = "nodepool.yaml") -> None:
        self.conf = conf
        self.zk: KazooClient = make_client(conf["zookeeper"])
        self.name: str = conf.get("launcher-name") or f"{socket.gethostname()}-{os.getpid()}"
        self.worker = LauncherWorker(conf, self.zk, self.name)
        self.store = NodepoolStore(self.zk)
        self.auth = Authenticator(conf["auth"], source) if conf.get("auth") else None

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        self.zk.start_async()
        self.worker.start()
        # Appear in Zuul's component registry (GET /api/components) once connected.
        component = ComponentRegistration(self.zk, "launcher")
        register = asyncio.get_running_loop().create_task(
            asyncio.to_thread(component.register_when_connected))
        try:
            yield
        finally:
            register.cancel()
            await asyncio.gather(register, return_exceptions=True)
            await asyncio.to_thread(component.unregister)
            await asyncio.to_thread(self.worker.stop)
            self.zk.stop()
            self.zk.close()

    async def ready(self) -> tuple[bool, str]:
        """Ready while the ZooKeeper session is connected."""
        if self.zk.connected:
            return True, ""
        return False, f"ZooKeeper session not connected ({self.zk.state})"

    async def handle_info(self, request: web.Request) -> web.Response:
        """``GET /api/info``."""
        return json_response({"info": {
            "version": nodepool.__version__,
            "rest_api_url": public_base_url(request, self.conf["api"]["public_url"]),
            "launcher": self.name,
            "zookeeper": {"hosts": self.conf["zookeeper"]["hosts"],
                          "connected": self.zk.connected},
            "auth": self.auth.info() if self.auth else None,
        }})

    def make_app(self) -> web.Application:
        """The aiohttp application serving the launcher's API."""
        app = make_app()
        app.cleanup_ctx.append(self._lifecycle)
        app.router.add_get("/api/info", self.handle_info)
        add_api_routes(app, self.store, self.auth, self.name)
        add_health_routes(app, self.ready)
        return app
