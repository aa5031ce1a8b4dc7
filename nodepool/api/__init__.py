"""The launcher's in-process aiohttp API: read views, admin actions and the OpenAPI document."""
from __future__ import annotations

from importlib import resources

from aiohttp import web

from nodepool.api.admin import AdminViews
from nodepool.api.views import ReadViews
from nodepool.zk import NodepoolStore
from zuul.lib.auth import Authenticator


def openapi_text() -> str:
    """The OpenAPI 3 document describing this API (``nodepool/openapi.yaml``)."""
    return resources.files("nodepool").joinpath("openapi.yaml").read_text(encoding="utf-8")


async def _openapi(_request: web.Request) -> web.Response:
    return web.Response(text=openapi_text(), content_type="application/yaml",
                        headers={"Cache-Control": "public, max-age=60"})


def add_api_routes(app: web.Application, store: NodepoolStore, auth: Authenticator | None,
                   owner: str) -> ReadViews:
    """Register the read and admin routes and ``/api/openapi.yaml`` on ``app``."""
    reads = ReadViews(store)
    reads.add_routes(app)
    AdminViews(store, auth, owner, reads.cache).add_routes(app)
    app.router.add_get("/api/openapi.yaml", _openapi)
    return reads
