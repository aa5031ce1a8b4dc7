"""``GET /api/openapi.yaml``: the OpenAPI 3 document of this API (``zuul/openapi.yaml``)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


def add_routes(app: web.Application) -> None:
    """Register the route serving the OpenAPI document."""

    async def openapi(_request: web.Request) -> web.Response:
        return web.Response(body=SPEC.read_bytes(), content_type="application/yaml")

    app.router.add_get("/api/openapi.yaml", openapi)
