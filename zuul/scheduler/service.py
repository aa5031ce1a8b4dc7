"""The scheduler process: its gearman connection and its in-process aiohttp API."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import gear
from aiohttp import web

import zuul
from zuul.lib import gearman
from zuul.lib.web import add_health_routes, json_response, make_app, public_base_url

log = logging.getLogger(__name__)

CAPABILITIES = {"job_history": True, "auth": {"read_protected": False}}


class SchedulerService:
    """Owns the scheduler's long-lived connections and builds its web application."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.gear_server: gear.Server | None = None
        self.gear_client: gear.Client | None = None

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        server_conf = self.conf.get("gearman_server")
        if server_conf and server_conf["start"]:
            self.gear_server = gearman.start_server(server_conf["listen"], server_conf["port"])
        self.gear_client = gearman.make_client(self.conf["gearman"]["servers"],
                                               "zuul-scheduler")
        try:
            yield
        finally:
            self.gear_client.shutdown()
            if self.gear_server is not None:
                self.gear_server.shutdown()

    async def ready(self) -> tuple[bool, str]:
        """Ready when a gearman server answers."""
        if self.gear_client is not None and await gearman.reachable(self.gear_client):
            return True, ""
        servers = ", ".join(self.conf["gearman"]["servers"])
        return False, f"gearman server not reachable ({servers})"

    def info(self, base_url: str) -> dict[str, Any]:
        """The body of ``GET /api/info``, shaped like Zuul's."""
        return {
            "info": {
                "version": zuul.__version__,
                "rest_api_url": base_url,
                "capabilities": CAPABILITIES,
                "stats": {"url": None, "prefix": None, "type": "prometheus"},
                "websocket_url": None,
                "nodepool_url": self.conf["api"]["nodepool_url"],
                "tenant": None,
            }
        }

    async def handle_info(self, request: web.Request) -> web.Response:
        """``GET /api/info``."""
        return json_response(self.info(public_base_url(request, self.conf["api"]["public_url"])))

    def make_app(self) -> web.Application:
        """The aiohttp application serving the scheduler's API."""
        app = make_app()
        app.cleanup_ctx.append(self._lifecycle)
        app.router.add_get("/api/info", self.handle_info)
        add_health_routes(app, self.ready)
        return app
